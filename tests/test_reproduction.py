"""The reproduction page's tables: paper vs run vs oracle, with "not on file" where the paper's value is unknown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.study import reproduction

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def reported() -> dict:
    return reproduction.load_reported(ROOT / "book" / "paper_reported.yaml")


def test_the_reported_file_holds_the_papers_protocol_numbers(reported):
    assert reported["cohort"] == {"patients": 880, "train": 616, "test": 264, "centres": [520, 360]}
    assert reported["pipeline"]["pca_components"] == 21 and reported["pipeline"]["lasso_components"] == 9
    assert reported["pipeline"]["mean_icc"] == 0.81 and reported["pipeline"]["cutpoint"] == 0.8


def test_table1_comparison_differences(reported):
    marginals = {key: 50.0 for key in reproduction.TABLE1_LABELS}
    table = reproduction.table1_comparison(reported, marginals, 880).set_index("quantity")
    assert table.loc["male, %", "difference"] == pytest.approx(50 - 57)
    assert table.loc["M1, %", "difference"] == pytest.approx(50 - 25)
    assert table["why"].str.contains("880 patients").all()


def test_table2_marks_unknown_paper_values_and_adds_the_oracle(reported):
    run = pd.DataFrame(
        {
            "model": ["random_forest", "radiomics"],
            "split": "test",
            "horizon_months": [36, 36],
            "auc": [0.8, 0.7],
            "accuracy": [0.75, 0.65],
        }
    )
    oracle = pd.DataFrame({"split": ["test", "train"], "score": "full", "horizon_months": 36, "auc": [0.88, 0.9]})
    table = reproduction.table2_comparison(reported, run, oracle)
    assert (table["paper_auc"] == reproduction.NOT_ON_FILE).all()
    assert (table["oracle_auc"] == 0.88).all()
    wide = reproduction.wide_table2(table, "test")
    assert list(wide.index) == ["Radiomics", "Fusion RF", "Oracle (true risk)"]
    assert wide.loc["Oracle (true risk)", ("3-year AUC", "this run")] == 0.88


def test_paper_values_fill_the_paper_columns(reported):
    filled = {**reported, "table2": {"Fusion RF": {"test": {36: {"auc": 0.9, "accuracy": 0.8}}}}}
    run = pd.DataFrame(
        {"model": ["random_forest"], "split": "test", "horizon_months": [36], "auc": [0.8], "accuracy": [0.7]}
    )
    table = reproduction.table2_comparison(filled, run, None)
    assert table.loc[0, "paper_auc"] == 0.9 and table.loc[0, "paper_accuracy"] == 0.8


def test_a_reported_file_without_a_section_is_refused(tmp_path):
    path = tmp_path / "reported.yaml"
    path.write_text(yaml.safe_dump({"cohort": {}, "table1": {}}))
    with pytest.raises(ValueError, match="missing section"):
        reproduction.load_reported(path)
