"""Binary labels at a horizon under both censoring policies, on a hand-built example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.data.outcomes import ambiguity_table, horizon_labels
from helpers.evaluation.binary import auc_by_horizon

# died at 6; died at 12 (on the horizon); censored at 6; censored at 12; alive past; died at 30
TIME = pd.Series([6.0, 12.0, 6.0, 12.0, 40.0, 30.0])
EVENT = pd.Series([1, 1, 0, 0, 0, 1])


def test_paper_policy_counts_early_censoring_as_survival():
    assert horizon_labels(TIME, EVENT, 12, "paper").tolist() == [1, 1, 0, 0, 0, 0]


def test_known_status_excludes_patients_censored_before_the_horizon():
    labels = horizon_labels(TIME, EVENT, 12, "known_status")
    assert labels.isna().tolist() == [False, False, True, False, False, False]
    assert labels.dropna().tolist() == [1, 1, 0, 0, 0]


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="label_policy"):
        horizon_labels(TIME, EVENT, 12, "drop")


def test_ambiguity_table():
    table = ambiguity_table(TIME, EVENT, horizons=(12, 36)).set_index("horizon_months")
    assert table.loc[12].tolist() == [2, 3, 1]
    assert table.loc[36].tolist() == [3, 1, 2]


def test_auc_by_horizon_uses_known_labels_only():
    score = pd.Series([0.9, 0.8, 0.95, 0.1, 0.2, 0.5])
    aucs = auc_by_horizon(TIME, EVENT, score, "known_status", horizons=(12,))
    assert aucs[12] == 1.0  # the censored patient with the top score is left out
    assert auc_by_horizon(TIME, EVENT, score, "paper", horizons=(12,))[12] == pytest.approx(
        0.75
    )  # 6 of 8 pairs ordered
    assert np.isnan(auc_by_horizon(TIME, EVENT, score, "known_status", horizons=(1,))[1])
