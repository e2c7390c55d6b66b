"""DeLong's test for two correlated ROC AUCs on the same patients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata

from helpers.evaluation.binary import with_labels
from helpers.vocabulary import LabelPolicy


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
    return DeLong(
        auc_a=float(auc[0]),
        auc_b=float(auc[1]),
        z=float(z),
        p_value=float(2 * norm.sf(abs(z))),
        ci95=(difference - half_width, difference + half_width),
    )


def delong_table(
    predictions: dict[str, pd.DataFrame], reference: str, cohort: pd.DataFrame, policy: LabelPolicy, split: str = "test"
) -> pd.DataFrame:
    """DeLong tests of the ``reference`` model against every other model, per horizon, on one split.

    DeLong's variance is that of unweighted AUCs: under ``ipcw`` labels it compares the curves on the patients
    with a known status, unweighted, so its AUCs differ slightly from the IPCW-weighted ones of Table 2.
    Columns: horizon_months, reference, compared_with, auc_reference, auc_other, z, p_value.
    """
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
            rows.append(
                {
                    "horizon_months": horizon,
                    "reference": reference,
                    "compared_with": name,
                    "auc_reference": test.auc_a,
                    "auc_other": test.auc_b,
                    "z": test.z,
                    "p_value": test.p_value,
                }
            )
    return pd.DataFrame(rows)
