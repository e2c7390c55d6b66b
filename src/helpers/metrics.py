"""Discrimination metrics used across notebooks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from helpers.outcomes import HORIZONS_MONTHS, LabelPolicy, horizon_labels

_TIE_TOL = 1e-12  # Youden indices this close are equal (tpr - fpr are ratios of counts)


def auc_known(labels: pd.Series, score: pd.Series) -> float:
    """ROC AUC over patients with a known label; NaN when one class is absent."""
    mask = labels.notna().to_numpy()
    y = labels.to_numpy()[mask]
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(score)[mask]))


def auc_by_horizon(time: pd.Series, event: pd.Series, score: pd.Series, policy: LabelPolicy,
                   horizons: tuple[int, ...] = HORIZONS_MONTHS) -> dict[int, float]:
    """AUC of a risk score for death by each horizon (higher score = higher risk)."""
    return {h: auc_known(horizon_labels(time, event, h, policy), score) for h in horizons}


def _known(probability: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(probability, 0/1 label) of the patients with a known label; Series must share one index."""
    both_series = isinstance(probability, pd.Series) and isinstance(labels, pd.Series)
    if both_series and not probability.index.equals(labels.index):
        raise ValueError("probability and labels are Series with different indexes; align them first")
    p, y = np.asarray(probability, dtype=float), np.asarray(labels, dtype=float)
    if p.shape != y.shape:
        raise ValueError(f"probability and labels differ in length: {p.shape} vs {y.shape}")
    known = ~np.isnan(y)
    return p[known], y[known].astype(int)


def youden_threshold(probability: ArrayLike, labels: ArrayLike) -> float:
    """Observed probability maximising sensitivity + specificity - 1 (positive = probability >= it; ties -> highest).

    Learn it on the training split and apply it unchanged to the test split.
    """
    p, y = _known(probability, labels)
    if len(np.unique(y)) < 2:
        raise ValueError("youden_threshold needs both outcomes among the known labels")
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=False)
    youden = (tpr - fpr)[1:]  # thresholds[0] = inf (nobody positive) is no usable cut-off
    # Ties up to rounding (2/3 - 0 vs 1 - 1/3): the first of them in roc_curve's descending order.
    best = np.flatnonzero(youden >= youden.max() - _TIE_TOL)[0]
    return float(thresholds[1:][best])


def binary_metrics(probability: ArrayLike, labels: ArrayLike, threshold: float) -> dict[str, float]:
    """ROC AUC, accuracy at ``threshold`` (positive = probability >= it) and n over the known (non-NaN) labels."""
    p, y = _known(probability, labels)
    return {"auc": auc_known(pd.Series(y), pd.Series(p)),
            "accuracy": float(np.mean((p >= threshold) == y)) if len(y) else float("nan"),
            "n": len(y)}


def with_labels(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Long predictions (patient_id, horizon_months, probability) joined to split and horizon label."""
    merged = predictions.drop(columns=["split"], errors="ignore").merge(
        cohort[["patient_id", "split", "time_months", "event"]], on="patient_id", how="left",
        validate="many_to_one")
    labels = [horizon_labels(part["time_months"], part["event"], horizon, policy)
              for horizon, part in merged.groupby("horizon_months")]
    return merged.assign(label=pd.concat(labels).rename("label"))


def horizon_metrics(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """AUC and accuracy per split and horizon; the accuracy threshold is the training split's Youden cut-off."""
    labelled = with_labels(predictions, cohort, policy)
    by_horizon = dict(tuple(labelled.groupby("horizon_months")))
    thresholds = {h: youden_threshold(part.loc[part["split"] == "train", "probability"].to_numpy(),
                                      part.loc[part["split"] == "train", "label"].to_numpy())
                  for h, part in by_horizon.items()}
    rows = []
    for split in ("train", "test"):
        for horizon, part in by_horizon.items():
            subset = part[part["split"] == split]
            if len(subset):
                values = binary_metrics(subset["probability"].to_numpy(), subset["label"].to_numpy(), thresholds[horizon])
                rows.append({"split": split, "horizon_months": horizon, "threshold": thresholds[horizon], **values})
    return pd.DataFrame(rows)


def roc_curves(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """ROC curve points (fpr, tpr) with the AUC per split and horizon, for plotting."""
    labelled = with_labels(predictions, cohort, policy).dropna(subset=["label"])
    parts = []
    for (split, horizon), part in labelled.groupby(["split", "horizon_months"]):
        fpr, tpr, _ = roc_curve(part["label"], part["probability"])
        auc = float(roc_auc_score(part["label"], part["probability"]))
        parts.append(pd.DataFrame({"split": split, "horizon_months": horizon, "fpr": fpr, "tpr": tpr, "auc": auc}))
    return pd.concat(parts, ignore_index=True)


def against_oracle(table: pd.DataFrame, oracle: pd.DataFrame, scores: tuple[str, ...]) -> pd.DataFrame:
    """A model's test AUC per horizon beside the oracle AUCs of the named true scores."""
    model = table[table["split"] == "test"].set_index("horizon_months")["auc"].rename("model")
    ceilings = (oracle[(oracle["split"] == "test") & oracle["score"].isin(scores)]
                .pivot(index="horizon_months", columns="score", values="auc")[list(scores)]
                .add_prefix("oracle_"))
    return pd.concat([model, ceilings], axis=1).reset_index()


@dataclass(frozen=True)
class DeLong:
    """DeLong test of equal AUC for two scores on the same patients; ``ci95`` bounds auc_a - auc_b."""

    auc_a: float
    auc_b: float
    z: float
    p_value: float
    ci95: tuple[float, float]


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their mean rank, along the last axis."""
    return np.apply_along_axis(rankdata, -1, x)


def delong_test(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> DeLong:
    """Paired test of AUC_a = AUC_b (DeLong, DeLong & Clarke-Pearson 1988), as pROC's roc.test, by Sun & Xu's algorithm.

    Higher score = positive (label 1) for both scores; NaN labels are left out. The z statistic
    is (AUC_a - AUC_b) / SE with the DeLong covariance of the two AUCs; two curves with
    identical placements (zero variance and no difference) give z = 0 and p = 1, as in pROC;
    a difference with zero variance (e.g. AUCs 1 and 0) gives an infinite z and p = 0.
    """
    y = np.asarray(y_true, dtype=float)
    scores = np.vstack([np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)])
    if scores.shape[1] != len(y):
        raise ValueError(f"y_true and the scores differ in length: {len(y)} vs {scores.shape[1]}")
    known = ~np.isnan(y)
    y, scores = y[known], scores[:, known]
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 0/1 (or NaN for unknown)")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN for patients with a known label")
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"delong_test needs at least 2 positives and 2 negatives; got {m} and {n}")
    combined = _midranks(np.hstack([positives, negatives]))
    # Placements (structural components): share of negatives below each positive, and of
    # positives above each negative, ties counting one half (Sun & Xu 2014, eqs. 7-8).
    v_pos = (combined[:, :m] - _midranks(positives)) / n
    v_neg = 1.0 - (combined[:, m:] - _midranks(negatives)) / m
    auc = v_pos.mean(axis=1)
    covariance = np.cov(v_pos) / m + np.cov(v_neg) / n
    difference = float(auc[0] - auc[1])
    se = float(np.sqrt(max(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1], 0.0)))
    z = 0.0 if difference == 0 else difference / se if se > 0 else float(np.copysign(np.inf, difference))
    half_width = float(norm.ppf(0.975)) * se
    return DeLong(auc_a=float(auc[0]), auc_b=float(auc[1]), z=float(z), p_value=float(2 * norm.sf(abs(z))),
                  ci95=(difference - half_width, difference + half_width))


def delong_table(predictions: dict[str, pd.DataFrame], reference: str, cohort: pd.DataFrame,
                 policy: LabelPolicy, split: str = "test") -> pd.DataFrame:
    """DeLong tests of the ``reference`` model against every other model, per horizon, on one split."""
    labelled = {}
    for name, frame in predictions.items():
        rows = with_labels(frame, cohort, policy)
        labelled[name] = rows[rows["split"] == split].set_index(["patient_id", "horizon_months"])
    base = labelled[reference]
    rows = []
    for name, frame in labelled.items():
        if name == reference:
            continue
        joined = base[["label", "probability"]].join(frame["probability"].rename("other"), how="inner")
        for horizon, part in joined.groupby(level="horizon_months"):
            test = delong_test(part["label"].to_numpy(), part["probability"].to_numpy(), part["other"].to_numpy())
            rows.append({"horizon_months": horizon, "reference": reference, "compared_with": name,
                         "auc_reference": test.auc_a, "auc_other": test.auc_b, "z": test.z, "p_value": test.p_value})
    return pd.DataFrame(rows)
