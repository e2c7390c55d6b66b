"""Calibration and clinical usefulness of horizon probabilities: calibration curves, CITL, slope, decision curves.

AUC says whether a model ranks patients; it does not say whether "60% risk of death by 2
years" means 60%. Per horizon, on the patients with a known status (as in Table 2), weighted by their
IPCW weights under ``label_policy: ipcw`` (the rigorous arm):

* **calibration-in-the-large (CITL)**: intercept ``a`` of logit P(death) = a + logit(p) (the
  logit as an offset): 0 when predictions are right on average, > 0 when they under-predict;
* **calibration slope**: ``b`` of logit P(death) = a + b logit(p), fitted by scikit-learn's
  unpenalised ``LogisticRegression`` (``C=np.inf``): 1 when ideal, < 1 when predictions are
  too extreme (overfitting), > 1 when too modest (Van Calster et al. 2016; Steyerberg 2019);
Calibration curves and decision curves keep the censored patients instead
(``helpers.evaluation.censored``: Kaplan-Meier observed risk).

Probabilities of exactly 0 or 1 (a fully grown decision tree gives nothing else) are clipped to
[1e-6, 1 - 1e-6] before the logit, so such models get a finite, small slope.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from helpers.evaluation.uncertainty import known_rows
from helpers.vocabulary import MODEL_LABELS, LabelPolicy

CLIP = 1e-6
TREAT_ALL, TREAT_NONE = "treat_all", "treat_none"
STRATEGY_LABELS = {**MODEL_LABELS, TREAT_ALL: "Treat all", TREAT_NONE: "Treat none"}


def _linear_predictor(probability: ArrayLike) -> np.ndarray:
    """logit(p) with p clipped away from 0 and 1."""
    return logit(np.clip(np.asarray(probability, dtype=float), CLIP, 1 - CLIP))


def calibration_in_the_large(probability: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Intercept a of logit P(y = 1) = a + logit(p), weighted by ``weights`` if given; NaN unless both outcomes occur.

    Solved as the root of the logistic score equation sum(w (y - expit(a + logit p))) = 0 (brentq):
    scikit-learn's LogisticRegression has no offset term, and statsmodels is not a dependency.
    """
    offset, y = _linear_predictor(probability), np.asarray(labels, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    if y.min() == y.max():
        return float("nan")
    bound = 2 * np.abs(offset).max() + 50  # expit(-bound + offset) ~ 0 and expit(bound + offset) ~ 1 for every patient
    return float(brentq(lambda a: np.sum(w * (y - expit(a + offset))), -bound, bound, xtol=1e-10))


def calibration_slope(probability: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Slope b of logit P(y = 1) = a + b logit(p) by unpenalised logistic regression (weighted by ``weights`` if
    given); NaN unless both outcomes occur."""
    predictor, y = _linear_predictor(probability).reshape(-1, 1), np.asarray(labels).astype(int)
    if y.min() == y.max():
        return float("nan")
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    return float(model.fit(predictor, y, sample_weight=weights).coef_[0, 0])


def threshold_grid(step: float = 0.01) -> np.ndarray:
    """Thresholds step, 2 step, ... below 1 (rounded, so that 0.5 is exactly 0.5)."""
    return np.round(np.arange(step, 1 - step / 2, step), 10)


def calibration_table(
    predictions: Mapping[str, pd.DataFrame], cohort: pd.DataFrame, policy: LabelPolicy, split: str = "test"
) -> pd.DataFrame:
    """Per model and horizon on ``split``: n, events, observed and mean predicted death rate, CITL, slope, each
    weighted as ``policy`` says (IPCW under "ipcw", else every known patient once).

    Columns: model, horizon_months, n, events, observed, expected, citl, slope.
    """
    rows = []
    for name, frame in predictions.items():
        for horizon, part in known_rows(frame, cohort, policy, split).groupby("horizon_months"):
            p, y, w = part["probability"].to_numpy(), part["label"].to_numpy(), part["weight"].to_numpy()
            rows.append(
                {
                    "model": name,
                    "horizon_months": horizon,
                    "n": len(y),
                    "events": int(y.sum()),
                    "observed": float(np.average(y, weights=w)),
                    "expected": float(np.average(p, weights=w)),
                    "citl": calibration_in_the_large(p, y, w),
                    "slope": calibration_slope(p, y, w),
                }
            )
    return pd.DataFrame(rows)


def net_benefit_at(curves: pd.DataFrame, thresholds: tuple[float, ...] = (0.25, 0.5, 0.75)) -> pd.DataFrame:
    """``decision_curves`` read at a few thresholds: index strategy label, columns (horizon, threshold).

    Index ``strategy`` (STRATEGY_LABELS' labels, in ``curves``' order); column levels horizon_months and
    threshold; values net benefit.
    """
    picked = curves[np.isclose(curves["threshold"].to_numpy()[:, None], thresholds).any(axis=1)]
    table = picked.pivot_table(index="strategy", columns=["horizon_months", "threshold"], values="net_benefit")
    return table.reindex(picked["strategy"].unique()).rename(index=STRATEGY_LABELS).rename_axis("strategy")
