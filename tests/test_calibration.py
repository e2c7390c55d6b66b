"""Calibration-in-the-large, calibration slope, calibration curves and decision curves against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from helpers.evaluation.calibration import (
    STRATEGY_LABELS,
    TREAT_ALL,
    TREAT_NONE,
    calibration_in_the_large,
    calibration_slope,
    calibration_table,
    net_benefit_at,
    threshold_grid,
)
from helpers.evaluation.censored import km_calibration_curves, km_decision_curves, km_net_benefit


@pytest.fixture(scope="module")
def true_model() -> tuple[np.ndarray, np.ndarray]:
    """20,000 outcomes drawn from a known logistic model, with its true probabilities."""
    rng = np.random.default_rng(0)
    probability = expit(-0.3 + 1.2 * rng.normal(size=20_000))
    return probability, (rng.uniform(size=probability.size) < probability).astype(int)


def test_true_probabilities_are_calibrated(true_model) -> None:
    probability, labels = true_model
    assert calibration_in_the_large(probability, labels) == pytest.approx(0.0, abs=0.05)
    assert calibration_slope(probability, labels) == pytest.approx(1.0, abs=0.05)


def test_overconfident_predictions_have_a_slope_below_one(true_model) -> None:
    """Doubling every logit makes predictions too extreme: the slope that undoes it is 1/2; halving gives 2."""
    probability, labels = true_model
    assert calibration_slope(expit(2 * logit(probability)), labels) == pytest.approx(0.5, abs=0.03)
    assert calibration_slope(expit(0.5 * logit(probability)), labels) == pytest.approx(2.0, abs=0.1)


def test_shifted_predictions_have_the_shift_as_calibration_in_the_large(true_model) -> None:
    """Predicting logit(p) - 0.5 under-predicts: the intercept that restores it is +0.5."""
    probability, labels = true_model
    assert calibration_in_the_large(expit(logit(probability) - 0.5), labels) == pytest.approx(0.5, abs=0.05)
    assert calibration_slope(expit(logit(probability) - 0.5), labels) == pytest.approx(1.0, abs=0.05)


def test_intercept_and_slope_match_statsmodels() -> None:
    """The same logistic recalibration fitted by statsmodels' GLM (offset for CITL, Logit for the slope)."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(1)
    probability = rng.uniform(0.05, 0.95, 300)
    labels = (rng.uniform(size=300) < probability**1.5).astype(int)
    offset = logit(probability)
    citl = sm.GLM(labels, np.ones((300, 1)), family=sm.families.Binomial(), offset=offset).fit().params[0]
    slope = sm.Logit(labels, sm.add_constant(offset)).fit(disp=0).params[1]
    assert calibration_in_the_large(probability, labels) == pytest.approx(citl, abs=1e-6)
    assert calibration_slope(probability, labels) == pytest.approx(slope, abs=1e-6)


def test_hard_zero_one_predictions_get_finite_small_slopes_and_single_class_gives_nan() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    hard = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])  # a fully grown tree: 6 of 8 right
    slope = calibration_slope(hard, labels)
    assert np.isfinite(slope) and 0 < slope < 0.2
    assert np.isnan(calibration_slope([0.2, 0.4], [1, 1])) and np.isnan(calibration_in_the_large([0.2, 0.4], [0, 0]))


def test_net_benefit_by_hand() -> None:
    """6 patients followed past the horizon, 3 deaths. t = 0.5: treat the top 3 (2 deaths, 1 survivor): 2/6 - 1/6 x 1
    = 1/6. t = 0.25: treat 5 (3 deaths, 2 survivors): 3/6 - 2/6 x 1/3 = 7/18. Treat all at 0.25: 3/6 - 3/6 x 1/3 = 1/3
    (without censoring the survival net benefit is Vickers & Elkin's)."""
    probability = np.array([0.9, 0.8, 0.6, 0.4, 0.3, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0])
    time = np.where(labels == 1, 5.0, 100.0)
    np.testing.assert_allclose(km_net_benefit(probability, time, labels, 12.0, [0.5, 0.25]), [1 / 6, 7 / 18])
    np.testing.assert_allclose(km_net_benefit(np.ones(6), time, labels, 12.0, [0.25]), [1 / 3])


def _cohort_and_predictions() -> tuple[pd.DataFrame, pd.DataFrame]:
    """8 test and 2 training patients, one horizon; p08 is censored before it (unknown status)."""
    cohort = pd.DataFrame(
        {
            "patient_id": [f"p{i:02d}" for i in range(10)],
            "split": ["test"] * 8 + ["train"] * 2,
            "time_months": [3, 5, 8, 30, 40, 50, 60, 6, 4, 50],
            "event": [1, 1, 1, 0, 1, 0, 0, 0, 1, 0],
        }
    )
    probability = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.7, 0.9, 0.1]
    predictions = pd.DataFrame({"patient_id": cohort["patient_id"], "horizon_months": 12, "probability": probability})
    return cohort, predictions


def test_decision_curves_hold_the_model_and_both_defaults() -> None:
    cohort, predictions = _cohort_and_predictions()
    thresholds = threshold_grid(0.25)
    np.testing.assert_allclose(thresholds, [0.25, 0.5, 0.75])
    curves = km_decision_curves({"svm": predictions}, cohort, thresholds)
    by = curves.set_index(["strategy", "threshold"])["net_benefit"]
    # Test patients p00-p07: deaths at 3, 5 and 8 months, p07 censored at 6: Kaplan-Meier S(12) = 7/8 x 6/7 x 4/5.
    risk = 1 - 7 / 8 * 6 / 7 * 4 / 5
    np.testing.assert_allclose(by.loc[TREAT_ALL], risk - (1 - risk) * thresholds / (1 - thresholds))
    assert (by.loc[TREAT_NONE] == 0).all()
    # t = 0.5 treats p00, p01 (deaths at 3, 5), p03 (alive at 30) and p07 (censored at 6): S(12) = 3/4 x 2/3 = 1/2,
    # so 4/8 x (1/2 - 1/2 x 1) = 0; t = 0.25 adds p02 (death at 8) and p06: S(12) = 5/6 x 4/5 x 2/3 = 4/9.
    assert by.loc[("svm", 0.5)] == pytest.approx(0.0)
    assert by.loc[("svm", 0.25)] == pytest.approx(6 / 8 * ((1 - 4 / 9) - 4 / 9 * 1 / 3))
    table = net_benefit_at(curves, (0.25,))
    assert list(table.index) == [STRATEGY_LABELS["svm"], "Treat all", "Treat none"]
    assert table.loc["Fusion SVM", (12, 0.25)] == pytest.approx(6 / 8 * ((1 - 4 / 9) - 4 / 9 * 1 / 3))


def test_calibration_table_and_curves_use_known_test_labels(true_model) -> None:
    cohort, predictions = _cohort_and_predictions()
    table = calibration_table({"radiomics": predictions}, cohort, "known_status").iloc[0]
    assert (table["n"], table["events"]) == (7, 3)
    assert table["observed"] == pytest.approx(3 / 7)
    assert table["expected"] == pytest.approx(np.mean([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4]))
    probability, labels = true_model
    n = len(labels)
    big_cohort = pd.DataFrame(
        {"patient_id": np.arange(n), "split": "test", "time_months": np.where(labels, 6.0, 20.0), "event": labels}
    )
    big = pd.DataFrame({"patient_id": np.arange(n), "horizon_months": 12, "probability": probability})
    curve = km_calibration_curves({"lr": big}, big_cohort, n_bins=10)
    assert len(curve) == 10
    np.testing.assert_allclose(
        curve["observed"], curve["predicted"], atol=0.04
    )  # true probabilities lie on the diagonal
