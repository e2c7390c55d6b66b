"""Censoring-aware calibration and decision curves: Kaplan-Meier observed risk against references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from helpers.evaluation import censored
from helpers.evaluation.calibration import TREAT_ALL, threshold_grid


def _cohort(n: int = 400, censor: bool = True, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.05, 0.95, n)
    death = rng.exponential(24 / -np.log(1 - risk))  # P(death by 24 months) = risk
    follow = rng.uniform(6, 60, n) if censor else np.full(n, 1e3)
    cohort = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "split": "test",
            "time_months": np.minimum(death, follow),
            "event": (death <= follow).astype(int),
        }
    )
    predictions = pd.DataFrame({"patient_id": cohort["patient_id"], "horizon_months": 24, "probability": risk})
    return cohort, predictions


def test_km_risk_matches_lifelines():
    cohort, _ = _cohort()
    fitted = KaplanMeierFitter().fit(cohort["time_months"], cohort["event"])
    for horizon in (12.0, 24.0, 36.0):
        expected = 1 - float(fitted.survival_function_at_times(horizon).iloc[0])
        assert censored.km_risk(cohort["time_months"], cohort["event"], horizon) == pytest.approx(expected)
    assert censored.km_risk([5.0, 6.0], [1, 0], 1.0) == 0.0


def _binary_net_benefit(probability: np.ndarray, died: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Vickers & Elkin's eq. 1, TP/n - FP/n x t / (1 - t), the reference for uncensored outcomes."""
    treated = probability[None, :] >= thresholds[:, None]
    n = len(died)
    return (treated & died).sum(axis=1) / n - (treated & ~died).sum(axis=1) / n * thresholds / (1 - thresholds)


def test_without_censoring_the_curves_are_the_binary_ones():
    cohort, predictions = _cohort(censor=False)
    died = (cohort["event"] == 1) & (cohort["time_months"] <= 24)
    curves = censored.km_calibration_curves({"m": predictions}, cohort, n_bins=4)
    assert curves["n"].sum() == len(cohort) and len(curves) == 4
    order = predictions["probability"].rank(method="first")
    bins = pd.qcut(order, 4, labels=False)
    assert np.allclose(curves["observed"], died.groupby(bins).mean())
    t = threshold_grid(0.05)
    km = censored.km_decision_curves({"m": predictions}, cohort, t)
    model = km[km["strategy"] == "m"]["net_benefit"].to_numpy()
    assert np.allclose(model, _binary_net_benefit(predictions["probability"].to_numpy(), died.to_numpy(), t))
    everyone = km[km["strategy"] == TREAT_ALL]["net_benefit"].to_numpy()
    assert np.allclose(everyone, _binary_net_benefit(np.ones(len(cohort)), died.to_numpy(), t))


def test_with_censoring_a_calibrated_model_stays_calibrated_and_dropping_the_censored_would_not():
    cohort, predictions = _cohort(n=4000, seed=1)
    ratio = censored.observed_to_expected({"m": predictions}, cohort)["observed_to_expected"].item()
    assert ratio == pytest.approx(1.0, abs=0.05)
    known = (cohort["time_months"] > 24) | (cohort["event"] == 1)
    died = (cohort["event"] == 1) & (cohort["time_months"] <= 24)
    naive = died[known].mean() / predictions["probability"][known].mean()
    assert naive > ratio + 0.05  # leaving out the censored over-states the deaths
