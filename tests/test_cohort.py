"""Table 1, the split and follow-up, checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.data.baseline import compare_continuous, format_table1, marginals, median_follow_up, split_summary, table1
from helpers.data.split import assign_split, stratification


def toy_cohort() -> pd.DataFrame:
    """Three training and four test patients with every value chosen by hand."""
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(7)],
            "split": ["train"] * 3 + ["test"] * 4,
            "age": [50.0, 60.0, 70.0, 55.0, 65.0, 75.0, 85.0],
            "gender": ["male", "male", "female", "male", "female", "female", "female"],
            "T": ["T1", "T2", None, "T2", "T2", "T3", "T4"],
            "N": ["N0", "N1", "N0", "N2", "N0", "N1", "N0"],
            "M": ["M0", "M0", "M1", "M0", "M0", "M0", "M1"],
            "time_months": [10.0, 20.0, 30.0, 5.0, 15.0, 25.0, 35.0],
            "event": [1, 0, 1, 1, 1, 0, 0],
            "centre": ["C1"] * 7,
        }
    )


def cell(table: pd.DataFrame, variable: str, level: str) -> pd.Series:
    return table[(table["variable"] == variable) & (table["level"] == level)].iloc[0]


def test_table1_continuous_matches_hand_values():
    table = table1(toy_cohort())
    age = cell(table, "Age (years)", "mean (median)")
    assert age["mean_train"] == 60.0 and age["median_train"] == 60.0
    assert age["mean_test"] == 70.0 and age["median_test"] == 70.0
    assert age["train"] == "60.0 (60.0)" and age["test"] == "70.0 (70.0)"
    # Both groups are evenly spaced, so Shapiro-Wilk accepts normality: Student's t-test.
    pooled = ((2 * 100.0) + (3 * 166.6666666666667)) / 5  # sample variances 100 and 166.67
    t = (60.0 - 70.0) / math.sqrt(pooled * (1 / 3 + 1 / 4))
    assert age["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df=5), rel=1e-9)
    assert age["stat_test"] == "t-test"


def test_table1_categories_and_chi_square_by_hand():
    table = table1(toy_cohort())
    male = cell(table, "Gender", "male")
    assert (male["n_train"], male["n_test"]) == (2, 1)
    assert male["pct_train"] == pytest.approx(200 / 3) and male["pct_test"] == pytest.approx(25.0)
    assert male["train"] == "2 (66.7%)"
    # Pearson chi-square on [[2, 1], [1, 3]] without continuity correction, df = 1.
    observed = np.array([[2, 1], [1, 3]])
    expected = observed.sum(1, keepdims=True) * observed.sum(0, keepdims=True) / observed.sum()
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert male["p_value"] == pytest.approx(math.erfc(math.sqrt(chi2 / 2)), rel=1e-9)
    assert male["stat_test"] == "chi-square"


def test_table1_shows_missing_and_leaves_it_out_of_the_test():
    table = table1(toy_cohort())
    t_rows = table[table["variable"] == "T stage"]
    assert t_rows["level"].tolist() == ["T1", "T2", "T3", "T4", "missing"]
    missing = cell(table, "T stage", "missing")
    assert (missing["n_train"], missing["n_test"]) == (1, 0)
    frame = toy_cohort()
    observed = pd.crosstab(frame["T"], frame["split"])  # drops the missing value
    expected_p = stats.chi2_contingency(observed.to_numpy(), correction=False).pvalue
    assert t_rows.iloc[0]["p_value"] == pytest.approx(expected_p)
    assert t_rows["p_value"].iloc[1:].isna().all()


def test_mann_whitney_chosen_when_a_group_is_not_normal():
    a = pd.Series([1.0, 1.1, 1.2, 1.0, 1.1, 50.0, 1.05, 1.15])
    b = pd.Series([2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5])
    comparison = compare_continuous(a, b)
    assert comparison.test == "Mann-Whitney U"
    assert comparison.p_value == pytest.approx(stats.mannwhitneyu(a, b).pvalue)


def test_format_table1_layout():
    frame = toy_cohort()
    shown = format_table1(table1(frame), sizes={"train": 3, "test": 4})
    assert list(shown.columns) == ["Characteristic", "", "Training set (n=3)", "Test set (n=4)", "p", "test"]
    assert shown["Characteristic"].tolist().count("Gender") == 1


def test_split_is_seeded_stratified_and_seventy_thirty():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"event": rng.integers(0, 2, 880), "centre": np.repeat(["C1", "C2"], [520, 360])})
    split = assign_split(frame, 0.3, seed=3)
    assert (split == "test").sum() == 264 and (split == "train").sum() == 616
    for _, part in frame.groupby(["event", "centre"]):
        share = (split[part.index] == "test").mean()
        assert share == pytest.approx(0.3, abs=0.01)
    assert split.equals(assign_split(frame, 0.3, seed=3))
    assert not split.equals(assign_split(frame, 0.3, seed=4))


def test_manifest_split_is_kept_and_checked():
    frame = toy_cohort()
    assert assign_split(frame, 0.3, seed=1).tolist() == frame["split"].tolist()
    frame.loc[0, "split"] = "validation"
    with pytest.raises(ValueError, match="validation"):
        assign_split(frame, 0.3, seed=1)


def test_median_follow_up_reverse_kaplan_meier_by_hand():
    # Censorings at 3, 4, 5 are the "events" of the reverse KM; deaths at 1, 2 censor it.
    # S(3) = 2/3, S(4) = 1/3 -> median 4.
    time = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    event = pd.Series([1, 1, 0, 0, 0])
    assert median_follow_up(time, event) == 4.0


def test_split_summary_counts():
    summary = split_summary(toy_cohort()).set_index("split")
    assert summary.loc["train", "patients"] == 3 and summary.loc["train", "deaths"] == 2
    assert summary.loc["test", "deaths"] == 2 and summary.loc["all", "patients"] == 7
    assert summary.loc["all", "deaths_pct"] == pytest.approx(400 / 7)


def test_marginals_in_percent():
    values = marginals(toy_cohort())
    assert values["male_pct"] == pytest.approx(300 / 7)
    assert values["T2_pct"] == pytest.approx(300 / 7)
    assert values["M1_pct"] == pytest.approx(200 / 7)
    assert values["age_mean"] == pytest.approx(460 / 7)


def test_a_centre_too_small_to_stratify_falls_back_to_event_then_none_with_a_note(capsys):
    # 12 patients, two centres; centre B holds one censored patient (the real-CT fault of issue 16)
    frame = pd.DataFrame({"event": [1, 0] * 5 + [1, 0], "centre": ["A"] * 11 + ["B"]})
    split = assign_split(frame, 0.3, seed=1)
    note = capsys.readouterr().out
    assert "stratified by event instead" in note and "'event=0, centre=B' (1)" in note and "split column" in note
    assert (split == "test").sum() == 4 and split[frame["event"] == 1].eq("test").sum() == 2  # still by event
    one_death = frame.assign(event=[1] + [0] * 11)
    assert assign_split(one_death, 0.3, seed=1).eq("test").sum() == 4
    note = capsys.readouterr().out
    assert "stratified by none instead" in note and "event: stratum '1' (1)" in note


def test_the_finest_feasible_stratification_is_kept_silently(capsys):
    frame = pd.DataFrame({"event": [1, 0] * 10, "centre": ["A", "A", "B", "B"] * 5})
    assert stratification(frame, 0.3)[0] == "event x centre"
    assign_split(frame, 0.3, seed=1)
    assert capsys.readouterr().out == ""
