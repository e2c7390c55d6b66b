"""Threshold and accuracy metrics on hand-built examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation.binary import binary_metrics, youden_threshold


def test_youden_threshold_by_hand() -> None:
    """J per observed threshold: 0.6 -> 1/3, 0.5 -> 0, 0.4 -> 1/3, 0.3 -> 2/3 (max), 0.2 -> 1/3, 0.1 -> 0."""
    probability = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.95])
    labels = pd.Series([0, 0, 1, 1, 0, 1, np.nan])  # the unknown label is ignored
    assert youden_threshold(probability, labels) == pytest.approx(0.3)


def test_youden_ties_go_to_the_highest_threshold() -> None:
    """J = 2/3 at both 0.8 and 0.35: the higher cut-off (fewer positives) wins."""
    probability = [0.1, 0.3, 0.35, 0.6, 0.8, 0.9]
    labels = [0, 0, 1, 0, 1, 1]
    assert youden_threshold(probability, labels) == pytest.approx(0.8)


def test_binary_metrics_over_known_labels_with_a_given_threshold() -> None:
    """Positive = probability >= threshold; NaN labels excluded from AUC, accuracy and n."""
    probability = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.95])
    labels = pd.Series([0, 0, 1, 1, 0, 1, np.nan])
    metrics = binary_metrics(probability, labels, threshold=0.3)
    assert metrics["n"] == 6
    assert metrics["accuracy"] == pytest.approx(5 / 6)  # only 0.5 (label 0) is misclassified
    assert metrics["auc"] == pytest.approx(7 / 9)
    with pytest.raises(ValueError, match="different indexes"):
        binary_metrics(probability, labels.set_axis(range(1, 8)), 0.5)


def test_horizon_metrics_apply_the_training_threshold_to_the_test_split() -> None:
    """Train a-c, test d-f; probabilities fall patient by patient, so the 12-month train cut-off is a's 0.9."""
    from helpers.evaluation.binary import horizon_metrics

    cohort = pd.DataFrame(
        {
            "patient_id": list("abcdef"),
            "split": ["train"] * 3 + ["test"] * 3,
            "time_months": [6, 30, 40, 5, 20, 50],
            "event": [1, 0, 1, 1, 1, 0],
        }
    )
    predictions = pd.DataFrame(
        {
            "patient_id": np.repeat(list("abcdef"), 2),
            "horizon_months": [12, 24] * 6,
            "probability": np.linspace(0.9, 0.1, 12),
        }
    )
    table = horizon_metrics(predictions, cohort, "known_status")
    assert table[["split", "horizon_months"]].values.tolist() == [
        ["train", 12],
        ["train", 24],
        ["test", 12],
        ["test", 24],
    ]
    test_12 = table.iloc[2]
    assert test_12["threshold"] == pytest.approx(0.9)
    # Test probabilities at 12 months (0.46, 0.32, 0.17) are all below 0.9: d (died at 5) is missed, e and f are right.
    assert test_12["accuracy"] == pytest.approx(2 / 3) and test_12["n"] == 3
