"""Stratified bootstrap CIs of Table 2: resampling, vectorised AUC, coverage, fixed threshold, layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from helpers.evaluation.binary import horizon_metrics
from helpers.evaluation.uncertainty import (
    bootstrap_binary_metrics,
    bootstrap_horizon_metrics,
    bootstrap_table2,
    known_rows,
    percentile_interval,
    resampled_accuracy,
    resampled_auc,
    stratified_resamples,
    table2_with_ci,
)


def _cohort_and_predictions(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exponential deaths (hazard exp(x) / 20 a month), censoring uniform on 6-72 months, true probabilities, 2:1 split."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    rate = np.exp(x) / 20
    death, censor = rng.exponential(1 / rate), rng.uniform(6, 72, n)
    ids = [f"p{i:03d}" for i in range(n)]
    cohort = pd.DataFrame(
        {
            "patient_id": ids,
            "split": np.where(np.arange(n) % 3 == 0, "test", "train"),
            "time_months": np.minimum(death, censor),
            "event": (death <= censor).astype(int),
        }
    )
    predictions = pd.DataFrame(
        [
            {"patient_id": pid, "horizon_months": h, "probability": 1 - np.exp(-r * h)}
            for pid, r in zip(ids, rate)
            for h in (12, 24, 36)
        ]
    )
    return cohort, predictions


def test_stratified_resamples_keep_each_class_count_and_are_seeded() -> None:
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    indices = stratified_resamples(labels, 500, seed=3)
    assert indices.shape == (500, 10)
    assert (labels[indices].sum(axis=1) == 3).all()  # 3 events in every resample
    assert set(np.unique(indices[:, :7])) <= set(np.flatnonzero(labels == 0))  # non-events drawn among non-events
    assert len(np.unique(indices)) == 10  # with replacement, every patient appears somewhere
    np.testing.assert_array_equal(indices, stratified_resamples(labels, 500, seed=3))
    assert not np.array_equal(indices, stratified_resamples(labels, 500, seed=4))


def test_resampled_auc_matches_scikit_learn_row_by_row_with_ties() -> None:
    rng = np.random.default_rng(1)
    probability = np.round(rng.uniform(size=40), 1)  # many ties
    labels = (rng.uniform(size=40) < probability).astype(int)
    indices = rng.integers(0, 40, size=(25, 40))  # plain, unstratified resamples
    expected = [roc_auc_score(labels[row], probability[row]) for row in indices]
    np.testing.assert_allclose(resampled_auc(probability, labels, indices), expected, rtol=1e-12)
    assert np.isnan(resampled_auc(probability, labels, np.zeros((1, 40), dtype=int)))[0]  # one patient: one class


def test_resampled_accuracy_by_hand() -> None:
    probability, labels = np.array([0.2, 0.6, 0.7, 0.4]), np.array([0, 1, 0, 1])
    indices = np.array([[0, 1, 2, 3], [0, 0, 1, 1], [2, 2, 3, 3]])
    # At 0.5: correct = [yes, yes, no, no].
    np.testing.assert_allclose(resampled_accuracy(probability, labels, 0.5, indices), [0.5, 1.0, 0.0])


def test_percentile_interval_is_the_quantiles() -> None:
    assert percentile_interval(np.arange(1001.0), 0.95) == pytest.approx((25.0, 975.0))
    assert np.isnan(percentile_interval(np.full(5, np.nan))).all()


def test_bootstrap_ci_covers_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 120)
    probability = np.clip(0.5 + 0.2 * (labels - 0.5) + rng.normal(0, 0.2, 120), 0, 1)
    result = bootstrap_binary_metrics(probability, labels, threshold=0.5, n_resamples=1000, seed=11)
    assert result["auc"] == pytest.approx(roc_auc_score(labels, probability))
    assert result["accuracy"] == pytest.approx(np.mean((probability >= 0.5) == labels))
    assert result["auc_low"] < result["auc"] < result["auc_high"]
    assert result["accuracy_low"] < result["accuracy"] < result["accuracy_high"]
    assert result["n"] == 120 and result["events"] == labels.sum()
    assert result == bootstrap_binary_metrics(probability, labels, 0.5, n_resamples=1000, seed=11)


def test_perfect_separation_gives_a_degenerate_auc_interval() -> None:
    result = bootstrap_binary_metrics([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0, 0, 0, 1, 1, 1], 0.5, n_resamples=200, seed=0)
    assert (result["auc_low"], result["auc"], result["auc_high"]) == (1.0, 1.0, 1.0)


def test_interval_covers_the_true_binormal_auc_about_95_percent_of_the_time() -> None:
    """Scores N(0, 1) for non-events and N(1, 1) for events: true AUC = Phi(1 / sqrt 2) = 0.760."""
    true_auc = norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(5)
    covered = []
    for trial in range(60):
        labels = np.repeat([0, 1], 80)
        scores = rng.normal(labels.astype(float), 1.0)
        result = bootstrap_binary_metrics(scores, labels, 0.5, n_resamples=1000, seed=trial)
        covered.append(result["auc_low"] <= true_auc <= result["auc_high"])
    assert 0.85 <= np.mean(covered) <= 1.0


def test_horizon_ci_uses_the_training_threshold_and_only_known_labels() -> None:
    cohort, predictions = _cohort_and_predictions()
    point = horizon_metrics(predictions, cohort, "known_status")
    point = point[point["split"] == "test"].set_index("horizon_months")
    table = bootstrap_horizon_metrics(predictions, cohort, "known_status", n_resamples=300, seed=0)
    table = table.set_index("horizon_months")
    for column in ("threshold", "auc", "accuracy", "n"):
        np.testing.assert_allclose(table[column], point[column])
    known = known_rows(predictions, cohort, "known_status", "test")
    assert known["label"].notna().all()
    assert (table["n"] < (cohort["split"] == "test").sum()).all()  # censored-early patients are left out
    assert (table["events"] == known.groupby("horizon_months")["label"].sum()).all()


def test_table2_resamples_are_paired_and_laid_out_like_table2() -> None:
    cohort, predictions = _cohort_and_predictions()
    noisy = predictions.assign(
        probability=np.clip(
            predictions["probability"] + np.random.default_rng(0).normal(0, 0.2, len(predictions)), 0, 1
        )
    )
    long = bootstrap_table2(
        {"radiomics": predictions, "densenet": predictions, "svm": noisy},
        cohort,
        "known_status",
        n_resamples=200,
        seed=1,
    )
    by_model = long.set_index(["model", "horizon_months"])
    pd.testing.assert_frame_equal(by_model.loc["radiomics"], by_model.loc["densenet"])  # same patients, same draws
    assert (by_model.loc["svm", "auc"] < by_model.loc["radiomics", "auc"]).all()
    wide = table2_with_ci(long)
    assert list(wide.index) == ["Radiomics", "3D-DenseNet", "Fusion SVM"]
    assert list(wide.columns) == [(f"{y}-year", m) for y in (1, 2, 3) for m in ("AUC", "Accuracy")]
    row = by_model.loc[("radiomics", 12)]
    assert wide.loc["Radiomics", ("1-year", "AUC")] == f"{row.auc:.3f} ({row.auc_low:.3f}-{row.auc_high:.3f})"
    with pytest.raises(ValueError, match="unknown model"):
        bootstrap_table2({"cox": predictions}, cohort, "known_status", n_resamples=10)
