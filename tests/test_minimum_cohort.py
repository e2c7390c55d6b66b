"""The smallest cohort each notebook runs on: the counts, the messages, and the Running page's table."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from helpers.evaluation.delong import delong_test
from helpers.models.fusion import fit_fusion, out_of_fold_fusion
from helpers.study.minimum_cohort import REQUIREMENTS, cohort_counts, minimum_cohort_table, nested_minimum, unmet
from helpers.vocabulary import FUSION_CV_FOLDS

ROOT = Path(__file__).resolve().parents[1]


def cohort(times: list[float], events: list[int], splits: list[str], centres: list[str] | None = None) -> pd.DataFrame:
    """A cohort.parquet-like table."""
    table = pd.DataFrame({"time_months": times, "event": events, "split": splits})
    return table if centres is None else table.assign(centre=centres)


def test_counts_are_known_deaths_by_and_known_survivors_at_each_horizon():
    table = cohort([6, 12, 30, 40, 50, 20, 36], [1, 1, 0, 1, 0, 1, 0], ["train"] * 5 + ["test"] * 2)
    counts = cohort_counts(table)
    assert counts["training patients"] == 5 and counts["training deaths"] == 3
    assert counts["training deaths by 12 months"] == 2  # a death at 12 months is a death by 12 months
    assert counts["training deaths by 36 months"] == 2  # the censoring at 30 months is not a death
    assert counts["training patients alive at 12 months"] == 3
    assert counts["training patients alive at 36 months"] == 2  # censored at 30 months: unknown at 36
    assert counts["test patients"] == 2 and counts["test deaths by 24 months"] == 1
    assert counts["test patients alive at 36 months"] == 1  # censored exactly at 36 months: alive at 36
    assert counts["centres"] == 0 and counts["training patients in the smallest centre"] == 5


def test_nested_minimum_is_the_smallest_class_every_outer_fold_holds_and_splits_into_inner_folds():
    for outer in range(2, 11):
        for inner in range(2, 11):
            valid = []
            for c in range(1, 40):
                labels = [1] * c + [0] * 40  # the other class never limits the split
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # scikit-learn warns below outer members; that is the point
                    folds = list(StratifiedKFold(outer).split(np.zeros((len(labels), 1)), labels))
                held_out = min(int((test < c).sum()) for _, test in folds)
                kept = min(int((train < c).sum()) for train, _ in folds)
                if held_out >= 1 and kept >= inner:
                    valid.append(c)
            assert nested_minimum(outer, inner) == min(valid)
            assert valid == list(range(min(valid), 40))  # and every larger class too


def test_fusion_at_its_minimum_runs_and_every_inner_fold_holds_both_outcomes():
    """Seven per outcome: the rigorous grid search and its out-of-fold refits run; five each already fail."""
    minimum = nested_minimum(FUSION_CV_FOLDS, FUSION_CV_FOLDS)
    rng = np.random.default_rng(0)
    for per_class, runs in ((minimum, True), (FUSION_CV_FOLDS, False)):
        ids = [f"p{i}" for i in range(2 * per_class)]
        X = pd.DataFrame(rng.normal(size=(len(ids), 2)), index=ids, columns=["radiomics", "densenet"])
        y = pd.Series([1, 0] * per_class, index=ids)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # at the minimum scikit-learn has nothing to warn about
            if runs:
                assert len(out_of_fold_fusion(fit_fusion(X, y, "rigorous", 0), X, y, 0)) == 4 * len(ids)
                continue
            with pytest.raises((ValueError, UserWarning)):
                fit_fusion(X, y, "rigorous", 0)


def test_delong_needs_the_two_of_each_outcome_its_requirement_states():
    first, second = np.array([0.9, 0.4, 0.5, 0.2, 0.1]), np.array([0.3, 0.8, 0.6, 0.2, 0.1])
    assert np.isfinite(delong_test([1, 1, 0, 0, 0], first, second).z)
    with pytest.raises(ValueError, match="at least 2 positives"):
        delong_test([1, 0, 0, 0, 0], first, second)
    assert "at least 2 test deaths by 12 months" in " ".join(
        unmet("07_fusion", cohort([6, 50, 50, 50], [1, 0, 0, 0], ["test"] * 4), {})
    )


def test_notebook_10_on_a_real_cohort_checks_only_its_centre_comparisons():
    table = cohort(
        [6, 50, 8, 9, 10, 30], [1, 0, 1, 1, 1, 1], ["train"] * 4 + ["test"] * 2, ["A", "A", "A", "B", "B", "B"]
    )
    real = unmet("10_protocols", table, {"oof_folds": 5, "lasso_folds": 3}, in_silico=False)
    assert real == [
        "centre-wise transfer of the radiomics chain needs at least 3 first-centre deaths (the cohort has 2), "
        "at least 1 second-centre patient alive at 36 months (the cohort has 0)",
        "ComBat harmonisation across centres needs at least 2 training patients in the smallest centre "
        "(the cohort has 1)",  # the random split's comparison with ComBat
    ]
    assert unmet("12_optimism_seeds", table, {"oof_folds": 5, "lasso_folds": 3}, in_silico=False) == []
    assert len(unmet("12_optimism_seeds", table, {"oof_folds": 5, "lasso_folds": 3})) == 3
    one_centre = unmet("10_protocols", table.assign(centre="A"), {"lasso_folds": 3}, in_silico=False)
    assert one_centre == []


def test_the_radiomics_chain_needs_a_death_per_lasso_fold_inside_every_out_of_fold_part():
    times, events = [10.0] * 7 + [50.0] * 8, [1] * 7 + [0] * 8
    table = cohort(times, events, ["train"] * 15)
    chain = [
        problem for problem in unmet("05_rsf", table, {"oof_folds": 5, "lasso_folds": 5}) if "out-of-fold" in problem
    ]
    assert chain == []
    table = cohort(times[1:], events[1:], ["train"] * 14)
    chain = [
        problem for problem in unmet("05_rsf", table, {"oof_folds": 5, "lasso_folds": 5}) if "out-of-fold" in problem
    ]
    assert chain == [
        "out-of-fold random survival forest predictions needs at least 7 training deaths (the cohort has 6)"
    ]
    without_reducer = [problem for problem in unmet("05_rsf", table, {"oof_folds": 5}) if "out-of-fold" in problem]
    assert without_reducer == []  # lasso_folds unknown before notebook 04: the notebook stops on its input


def test_the_lasso_needs_as_many_training_patients_and_deaths_as_folds():
    table = cohort([6, 12, 30, 40, 50, 20], [1, 1, 0, 1, 0, 1], ["train"] * 5 + ["test"])
    assert unmet("04_pca_lasso", table, {"lasso_folds": 3}) == []
    assert unmet("04_pca_lasso", table, {"lasso_folds": 5}) == [
        "Cox-LASSO with cross-validated lambda needs at least 5 training deaths (the cohort has 3)"
    ]


def test_a_notebook_without_methods_of_its_own_needs_nothing():
    assert REQUIREMENTS["09_reproduction"] == [] and unmet("09_reproduction", cohort([], [], []), {}) == []


def page_table() -> pd.DataFrame:
    """The table under 'The smallest cohort each notebook runs on' in book/running.md."""
    text = (ROOT / "book" / "running.md").read_text(encoding="utf-8")
    section = text.split("## The smallest cohort each notebook runs on", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d\d_", line)]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return pd.DataFrame(cells, columns=["notebook", "method", "needs"])


def test_the_running_page_states_every_notebooks_minimum_as_the_code_checks_it():
    pd.testing.assert_frame_equal(page_table(), minimum_cohort_table())


@pytest.mark.slow
def test_the_smoke_cohort_meets_every_notebooks_needs(smoke_run):
    """With each notebook's own parameters as the smoke run recorded them (``lasso_folds`` from notebook 04)."""
    table = pd.read_parquet(smoke_run / "cohort.parquet")
    recorded = {
        n: json.loads((smoke_run / "manifests" / f"{n}.json").read_text(encoding="utf-8"))["params"]
        for n in REQUIREMENTS
    }
    reducer = {key: recorded["04_pca_lasso"][key] for key in ("lasso_folds", "harmonise")}
    assert {n: unmet(n, table, recorded[n] | reducer) for n in REQUIREMENTS} == {n: [] for n in REQUIREMENTS}


def test_combat_needs_two_training_patients_in_every_centre_only_when_it_runs():
    table = cohort([6, 50, 8, 9, 10, 30], [1, 0, 1, 1, 1, 1], ["train"] * 5 + ["test"], ["A"] * 4 + ["B"] * 2)
    assert cohort_counts(table)["training patients in the smallest centre"] == 1
    combat = {"lasso_folds": 3, "harmonise": "combat"}
    assert "ComBat harmonisation across centres needs at least 2 training patients in the smallest centre " in (
        " ".join(unmet("04_pca_lasso", table, combat))
    )
    assert not any("ComBat" in problem for problem in unmet("04_pca_lasso", table, combat | {"harmonise": "none"}))
    absent = table.assign(split=["train"] * 4 + ["test"] * 2)  # centre B has no training patient at all
    assert cohort_counts(absent)["training patients in the smallest centre"] == 0
