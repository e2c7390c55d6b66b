"""The smallest cohort each notebook runs on: the counts, the messages, and the Running page's table."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from helpers.study.minimum_cohort import REQUIREMENTS, cohort_counts, minimum_cohort_table, unmet

ROOT = Path(__file__).resolve().parents[1]


def cohort(times: list[float], events: list[int], splits: list[str]) -> pd.DataFrame:
    """A cohort.parquet-like table."""
    return pd.DataFrame({"time_months": times, "event": events, "split": splits})


def test_counts_are_known_deaths_by_and_follow_up_past_each_horizon():
    table = cohort([6, 12, 30, 40, 50, 20], [1, 1, 0, 1, 0, 1], ["train"] * 5 + ["test"])
    counts = cohort_counts(table)
    assert counts["training patients"] == 5 and counts["training deaths"] == 3
    assert counts["training deaths by 12 months"] == 2  # a death at 12 months is a death by 12 months
    assert counts["training deaths by 36 months"] == 2  # the censoring at 30 months is not a death
    assert counts["training patients followed past 12 months"] == 3
    assert counts["training patients followed past 36 months"] == 2
    assert counts["test patients"] == 1 and counts["test deaths by 24 months"] == 1


def test_the_lasso_needs_as_many_training_patients_and_deaths_as_folds():
    table = cohort([6, 12, 30, 40, 50, 20], [1, 1, 0, 1, 0, 1], ["train"] * 5 + ["test"])
    assert unmet("04_pca_lasso", table, {"lasso_folds": 3}) == []
    assert unmet("04_pca_lasso", table, {"lasso_folds": 5}) == [
        "Cox-LASSO with cross-validated lambda needs at least 5 training deaths (it has 3)"
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
    table = pd.read_parquet(smoke_run / "cohort.parquet")
    params = {"lasso_folds": 5, "oof_folds": 5, "max_prop": 0.9}
    assert {notebook: unmet(notebook, table, params) for notebook in REQUIREMENTS} == {n: [] for n in REQUIREMENTS}
