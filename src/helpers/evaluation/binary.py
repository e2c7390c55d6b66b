"""Discrimination metrics used across notebooks.

Every metric takes optional per-patient weights: those of ``helpers.data.outcomes.horizon_weights``, 1 for
a known label under ``paper`` and ``known_status`` and the inverse probability of censoring under ``ipcw``,
where a weighted AUC is Uno's cumulative/dynamic AUC and a weighted accuracy estimates the accuracy on
every patient of the split, not only on those followed long enough.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score, roc_curve

from helpers.data.outcomes import horizon_labels, horizon_weights
from helpers.vocabulary import HORIZONS_MONTHS, LabelPolicy

_TIE_TOL = 1e-12  # Youden indices this close are equal (tpr - fpr are ratios of counts)


def auc_known(labels: pd.Series, score: pd.Series, weights: ArrayLike | None = None) -> float:
    """ROC AUC over patients with a known label (weighted by ``weights`` if given); NaN when one class is absent."""
    mask = labels.notna().to_numpy()
    y = labels.to_numpy()[mask]
    if len(np.unique(y)) < 2:
        return float("nan")
    w = None if weights is None else np.asarray(weights, dtype=float)[mask]
    return float(roc_auc_score(y, np.asarray(score)[mask], sample_weight=w))


def auc_by_horizon(
    time: pd.Series,
    event: pd.Series,
    score: pd.Series,
    policy: LabelPolicy,
    horizons: tuple[int, ...] = HORIZONS_MONTHS,
) -> dict[int, float]:
    """AUC of a risk score for death by each horizon (higher score = higher risk), weighted as ``policy`` says
    (the censoring distribution estimated on these patients)."""
    return {
        h: auc_known(horizon_labels(time, event, h, policy), score, horizon_weights(time, event, h, policy))
        for h in horizons
    }


def _known(
    probability: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, 0/1 label, weight) of the patients with a known label (weight 1 when ``weights`` is None);
    Series must share one index."""
    if (
        isinstance(probability, pd.Series)
        and isinstance(labels, pd.Series)
        and not probability.index.equals(labels.index)
    ):
        raise ValueError("probability and labels are Series with different indexes; align them first")
    p, y = np.asarray(probability, dtype=float), np.asarray(labels, dtype=float)
    if p.shape != y.shape:
        raise ValueError(f"probability and labels differ in length: {p.shape} vs {y.shape}")
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != y.shape:
        raise ValueError(f"weights and labels differ in length: {w.shape} vs {y.shape}")
    known = ~np.isnan(y)
    return p[known], y[known].astype(int), w[known]


def youden_threshold(probability: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Observed probability maximising sensitivity + specificity - 1 (positive = probability >= it; ties -> highest),
    both rates weighted by ``weights`` if given.

    Learn it on the training split and apply it unchanged to the test split.
    """
    p, y, w = _known(probability, labels, weights)
    if len(np.unique(y)) < 2:
        raise ValueError("youden_threshold needs both outcomes among the known labels")
    fpr, tpr, thresholds = roc_curve(y, p, sample_weight=w, drop_intermediate=False)
    youden = (tpr - fpr)[1:]  # thresholds[0] = inf (nobody positive) is no usable cut-off
    # Ties up to rounding (2/3 - 0 vs 1 - 1/3): the first of them in roc_curve's descending order.
    best = np.flatnonzero(youden >= youden.max() - _TIE_TOL)[0]
    return float(thresholds[1:][best])


def binary_metrics(
    probability: ArrayLike, labels: ArrayLike, threshold: float, weights: ArrayLike | None = None
) -> dict[str, float]:
    """ROC AUC, accuracy at ``threshold`` (positive = probability >= it), both weighted by ``weights`` if given,
    and n over the known (non-NaN) labels."""
    p, y, w = _known(probability, labels, weights)
    return {
        "auc": auc_known(pd.Series(y), pd.Series(p), w),
        "accuracy": float(np.average((p >= threshold) == y, weights=w)) if len(y) else float("nan"),
        "n": len(y),
    }


def with_labels(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Long predictions (patient_id, horizon_months, probability) joined to split, horizon label and weight.

    Columns: those of ``predictions`` (less its own split, if any), then split, time_months, event, label
    (1, 0 or NaN = unknown under ``policy``) and weight (``horizon_weights``, the censoring distribution
    estimated within each split on the patients predicted).
    """
    merged = predictions.drop(columns=["split"], errors="ignore").merge(
        cohort[["patient_id", "split", "time_months", "event"]], on="patient_id", how="left", validate="many_to_one"
    )
    parts = merged.groupby(["horizon_months", "split"], dropna=False)
    labels = [horizon_labels(part["time_months"], part["event"], horizon, policy) for (horizon, _), part in parts]
    weights = [horizon_weights(part["time_months"], part["event"], horizon, policy) for (horizon, _), part in parts]
    return merged.assign(label=pd.concat(labels).rename("label"), weight=pd.concat(weights).rename("weight"))


PAPER_THRESHOLD = 0.5  # the probability cut the paper most plausibly used for accuracy (it does not say)


def youden_thresholds(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy) -> dict[int, float]:
    """Per horizon, the Youden cut-off of the training-split rows of ``predictions`` (long format)."""
    labelled = with_labels(predictions, cohort, policy)
    train = labelled[labelled["split"] == "train"]
    return {
        int(h): youden_threshold(part["probability"].to_numpy(), part["label"].to_numpy(), part["weight"].to_numpy())
        for h, part in train.groupby("horizon_months")
    }


def arm_thresholds(
    arm: str, out_of_fold: pd.DataFrame | None, cohort: pd.DataFrame, policy: LabelPolicy
) -> dict[int, float] | None:
    """The accuracy cut-offs of an arm: 0.5 under "paper"; under "rigorous" the Youden cut-off of the
    out-of-fold training predictions (``out_of_fold``: patient_id, horizon_months, probability), never of the
    in-sample ones, which a model fits better than new patients."""
    if arm == "paper":
        return dict.fromkeys(HORIZONS_MONTHS, PAPER_THRESHOLD)
    if out_of_fold is None:
        raise ValueError("the rigorous arm learns its accuracy cut-off on out-of-fold training predictions: none given")
    rows = out_of_fold.drop(columns=["split"], errors="ignore").merge(cohort[["patient_id", "split"]], on="patient_id")
    return youden_thresholds(rows[rows["split"] == "train"], cohort, policy)


def horizon_metrics(
    predictions: pd.DataFrame,
    cohort: pd.DataFrame,
    policy: LabelPolicy,
    thresholds: Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """AUC and accuracy per split and horizon, accuracy at ``thresholds`` (per horizon; default: the Youden
    cut-off of the training rows of ``predictions``).

    Columns: split, horizon_months, threshold, auc, accuracy, n (patients with a known label).
    """
    labelled = with_labels(predictions, cohort, policy)
    by_horizon = dict(tuple(labelled.groupby("horizon_months")))
    cut = dict(thresholds) if thresholds is not None else youden_thresholds(predictions, cohort, policy)
    rows = []
    for split in ("train", "test"):
        for horizon, part in by_horizon.items():
            subset = part[part["split"] == split]
            if len(subset):
                values = binary_metrics(
                    subset["probability"].to_numpy(), subset["label"].to_numpy(), cut[horizon], subset["weight"]
                )
                rows.append({"split": split, "horizon_months": horizon, "threshold": cut[horizon], **values})
    return pd.DataFrame(rows)


def roc_curves(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """ROC curve points (fpr, tpr) with the AUC per split and horizon, weighted as ``policy`` says, for plotting.

    Columns: split, horizon_months, fpr, tpr, auc (repeated on every point of a curve).
    """
    labelled = with_labels(predictions, cohort, policy).dropna(subset=["label"])
    parts = []
    for (split, horizon), part in labelled.groupby(["split", "horizon_months"]):
        fpr, tpr, _ = roc_curve(part["label"], part["probability"], sample_weight=part["weight"])
        auc = float(roc_auc_score(part["label"], part["probability"], sample_weight=part["weight"]))
        parts.append(pd.DataFrame({"split": split, "horizon_months": horizon, "fpr": fpr, "tpr": tpr, "auc": auc}))
    return pd.concat(parts, ignore_index=True)
