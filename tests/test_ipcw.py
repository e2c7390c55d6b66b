"""IPCW labels: the censoring Kaplan–Meier estimate, the weights and the weighted metrics, against lifelines and
scikit-survival on the real TCGA-PAAD follow-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from sksurv.metrics import cumulative_dynamic_auc
from sksurv.util import Surv

from helpers.data.manifest import DAYS_PER_MONTH
from helpers.data.outcomes import (
    arm_label_policy,
    censoring_survival_before,
    horizon_labels,
    horizon_weight_frame,
    horizon_weights,
)
from helpers.evaluation.binary import auc_by_horizon, binary_metrics, horizon_metrics, youden_threshold


@pytest.fixture(scope="module")
def tcga(shared_data) -> pd.DataFrame:
    """Overall survival of the TCGA-PAAD patients (months, event) and a risk score built from age and stage.

    Follow-up is in whole days, and eleven patients share a day with another; estimators differ in how they order
    a death and a censoring on the same day (a 1e-4 difference in AUC), so tied times are separated by less than
    1e-6 months (under 3 seconds), which fixes one order and changes nothing else.
    """
    table = pd.read_csv(shared_data / "tcga_paad" / "tcga_paad_patients.csv")
    table = table[pd.to_numeric(table["os_days"], errors="coerce") > 0].reset_index(drop=True)
    stage = table["ajcc_stage_group"].map({"I": 1, "II": 2, "III": 3, "IV": 4}).fillna(2)
    untied = np.random.default_rng(0).uniform(0, 1e-6, len(table))
    return pd.DataFrame(
        {
            "time": table["os_days"].astype(float) / DAYS_PER_MONTH + untied,
            "event": table["os_event"].astype(int),
            "score": table["age_years"].astype(float) / 10 + stage,
        }
    )


def test_censoring_survival_matches_lifelines_just_before_each_time(tcga):
    reference = KaplanMeierFitter().fit(tcga["time"], 1 - tcga["event"])
    at = np.unique(tcga["time"])
    ours = censoring_survival_before(tcga["time"], tcga["event"], at)
    expected = reference.survival_function_at_times(at - 1e-9).to_numpy()
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert ours[0] == 1.0 and ours[-1] < 0.5  # most TCGA-PAAD survivors are censored before 6 years


@pytest.mark.parametrize("horizon", [12, 24, 36])
def test_weighted_auc_is_unos_cumulative_dynamic_auc(tcga, horizon):
    y = Surv.from_arrays(tcga["event"].astype(bool), tcga["time"])
    expected, _ = cumulative_dynamic_auc(y, y, tcga["score"].to_numpy(), [horizon])
    ours = auc_by_horizon(tcga["time"], tcga["event"], tcga["score"], "ipcw", (horizon,))[horizon]
    assert ours == pytest.approx(float(expected[0]), abs=1e-10)
    unweighted = auc_by_horizon(tcga["time"], tcga["event"], tcga["score"], "known_status", (horizon,))[horizon]
    assert ours != pytest.approx(unweighted, abs=1e-6)  # the weights matter on this follow-up


def test_weights_stand_for_the_whole_split(tcga):
    """Under IPCW the known patients' weights sum to about the split's size at every horizon, and the weighted
    death share equals the Kaplan-Meier death probability by the horizon (the two estimators coincide)."""
    weights = horizon_weight_frame(tcga["time"], tcga["event"], "ipcw", (12, 24, 36))
    km = KaplanMeierFitter().fit(tcga["time"], tcga["event"])
    for horizon in (12, 24, 36):
        labels = horizon_labels(tcga["time"], tcga["event"], horizon, "ipcw")
        known = labels.notna()
        assert (weights.loc[~known, horizon] == 0).all() and (weights.loc[known, horizon] >= 1).all()
        share = np.average(labels[known], weights=weights.loc[known, horizon])
        assert share == pytest.approx(1 - float(km.survival_function_at_times(horizon).iloc[0]), abs=1e-10)
        assert weights[horizon].sum() == pytest.approx(len(tcga), rel=0.05)


def test_other_policies_weigh_every_known_patient_one():
    time, event = pd.Series([6.0, 12.0, 6.0, 40.0]), pd.Series([1, 1, 0, 0])
    assert horizon_weights(time, event, 12, "paper").tolist() == [1, 1, 1, 1]
    assert horizon_weights(time, event, 12, "known_status").tolist() == [1, 1, 0, 1]
    # censored at 6 of 4 at risk: the later patients stand for 4/3 of themselves
    assert horizon_weights(time, event, 12, "ipcw").tolist() == pytest.approx([1, 4 / 3, 0, 4 / 3])


def test_weighted_accuracy_and_threshold_by_hand():
    p, y, w = np.array([0.9, 0.6, 0.4, 0.1]), np.array([1.0, 0.0, 1.0, 0.0]), np.array([3.0, 1.0, 1.0, 1.0])
    values = binary_metrics(p, y, 0.5, w)
    assert values["accuracy"] == pytest.approx(4 / 6) and values["n"] == 4
    assert values["auc"] == pytest.approx((3 * 2 + 1 * 1) / (4 * 2))  # weighted concordant case-control pairs
    # unweighted, 0.6 and 0.4 tie on Youden (1/2 - 0 vs 1 - 1/2): the higher cut-off wins
    assert youden_threshold(p, y) == 0.9
    # weighted, the heavy case makes 0.9 the clear choice (tpr 3/4 at fpr 0 against 1 at fpr 1/2)
    assert youden_threshold(p, y, w) == 0.9
    assert youden_threshold(p, y, np.array([1.0, 1.0, 3.0, 1.0])) == 0.4


def test_horizon_metrics_estimate_the_censoring_within_each_split():
    cohort = pd.DataFrame(
        {
            "patient_id": list("abcdefgh"),
            "split": ["train"] * 4 + ["test"] * 4,
            "time_months": [6.0, 12.0, 6.0, 40.0, 3.0, 30.0, 20.0, 50.0],
            "event": [1, 1, 0, 0, 0, 0, 1, 0],
        }
    )
    predictions = pd.DataFrame(
        {"patient_id": list("abcdefgh"), "horizon_months": 12, "probability": [0.9, 0.7, 0.5, 0.6, 0.6, 0.4, 0.8, 0.1]}
    )
    table = horizon_metrics(predictions, cohort, "ipcw", {12: 0.5}).set_index("split")
    assert table.loc["train", "n"] == 3 and table.loc["test", "n"] == 3
    # test: e censored at 3 of 4 -> the other three weigh 4/3 each; g (alive at 12, 0.8) is the one error
    assert table.loc["test", "accuracy"] == pytest.approx(2 / 3)
    # train: a (case, weight 1: died before c's censoring at 6 counts as before it), b (case, 4/3) right;
    # d (control, 4/3) wrong at 0.6: 7/3 of 11/3, not the unweighted 2 of 3
    assert table.loc["train", "accuracy"] == pytest.approx(7 / 11)


def test_the_rigorous_arm_always_uses_ipcw():
    assert arm_label_policy("rigorous", "paper") == "ipcw"
    assert arm_label_policy("paper", "paper") == "paper"
    assert arm_label_policy("paper", "known_status") == "known_status"
    with pytest.raises(ValueError, match="arm"):
        arm_label_policy("leaky", "paper")
