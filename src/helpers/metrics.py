"""Discrimination metrics used across notebooks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from helpers.outcomes import HORIZONS_MONTHS, LabelPolicy, horizon_labels


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
