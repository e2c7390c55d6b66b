"""The reproduction page's tables: the paper's Table 1 and Table 2 (read from its transcription) beside this
run's and the ceilings, with notes built from the numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import ROOT, shared_data_dir

from helpers.data.baseline import table1
from helpers.study import reproduction
from helpers.vocabulary import HORIZONS_MONTHS, MODEL_LABELS

REPORTED = ROOT / "book" / "dou2025_reported.yaml"


@pytest.fixture()
def reported() -> dict:
    return reproduction.load_reported(REPORTED)


def test_the_projects_copy_is_the_shared_transcription_verbatim():
    shared = shared_data_dir().parent / "paper" / "dou2025_reported.yaml"
    if not shared.exists():
        pytest.skip(f"{shared} is not on this machine")
    assert REPORTED.read_bytes() == shared.read_bytes()


def test_the_reported_file_holds_table2_for_both_splits_and_every_model(reported):
    for split in ("train", "test"):
        for label in MODEL_LABELS.values():
            assert set(reported["table2"][split][label]) == set(HORIZONS_MONTHS), (split, label)
    assert reported["table2"]["test"]["Fusion LR"][36] == {"auc": 0.944, "accuracy": 0.886}
    assert reported["cohort"]["split"]["train"] == 616 and reported["pipeline"]["pca_components"] == 21


def _cohort(n_train: int = 616, n_test: int = 264, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    return pd.DataFrame(
        {
            "split": ["train"] * n_train + ["test"] * n_test,
            "age": rng.normal(68, 9, n).round(),
            "gender": rng.choice(["male", "female"], n, p=[0.57, 0.43]),
            "T": rng.choice(["T1", "T2", "T3", "T4"], n, p=[0.09, 0.47, 0.23, 0.21]),
            "N": rng.choice(["N0", "N1", "N2"], n, p=[0.43, 0.39, 0.18]),
            "M": rng.choice(["M0", "M1"], n, p=[0.73, 0.27]),
            "time_months": rng.exponential(45, n),
            "event": rng.binomial(1, 0.75, n),
        }
    )


def test_table1_comparison_sets_each_cell_beside_the_papers(reported):
    cohort = _cohort()
    table = reproduction.table1_comparison(reported, table1(cohort)).set_index(["characteristic", "level"])
    t4 = table.loc[("T stage", "T4")]
    assert t4["paper_test"] == pytest.approx(100 * 67 / 264)
    assert t4["run_test"] == pytest.approx(100 * (cohort.query("split == 'test'")["T"] == "T4").mean())
    assert t4["paper_test_cell"] == "67 (25.4%)"
    # the paper's M row sums to 607: its percentages are on that sum, as the paper prints them (75.5 / 24.5)
    assert table.loc[("M stage", "M0"), "paper_train"] == pytest.approx(100 * 456 / 607)
    age = table.loc[("Age (years)", "mean (median)")]
    assert age["paper_train_cell"] == "68.7 (68)" and age["paper_p"] == 0.42
    dead = table.loc[("Outcome", "dead")]
    assert dead["paper_train"] == 72.7 and dead["paper_test_cell"] == "203 (76.9%)"
    assert table["z_train"].abs().max() < 4  # a sample of the same population stays within sampling noise


def test_a_cell_beyond_sampling_noise_gets_a_sentence_and_the_papers_own_note_is_quoted(reported):
    cohort = _cohort()
    cohort.loc[cohort["split"] == "test", "T"] = "T2"  # no T1, T3 or T4 in the test set
    table = reproduction.table1_comparison(reported, table1(cohort))
    notes = reproduction.table1_notes(table, reported)
    beyond = [note for note in notes if note.startswith("More than 2 standard errors")]
    assert len(beyond) == 1 and "T stage T4, test set: paper 25.4%, this run 0.0%" in beyond[0]  # said once
    assert any("sum to 607" in note for note in notes)
    shown = reproduction.format_table1_comparison(table, reported, {"train": 616, "test": 264})
    assert "test set: paper (n=264)" in shown.columns and shown["Characteristic"].tolist().count("T stage") == 1


def _run_metrics(auc: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": m, "split": s, "horizon_months": h, "auc": auc, "accuracy": 0.7}
            for m in MODEL_LABELS
            for s in ("train", "test")
            for h in HORIZONS_MONTHS
        ]
    )


def _ceilings(value: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"information_set": i, "split": s, "horizon_months": h, "auc": value}
            for i in ("roi", "image", "everything")
            for s in ("train", "test")
            for h in HORIZONS_MONTHS
        ]
    )


def test_table2_sets_every_cell_beside_the_paper_and_the_models_own_ceiling(reported):
    table = reproduction.table2_comparison(reported, _run_metrics(0.75), _ceilings(0.88))
    assert len(table) == 6 * 2 * 3 and table["paper_auc"].notna().all()
    row = table.query("model == 'Fusion RF' and split == 'train' and horizon_months == 36").iloc[0]
    assert row["paper_auc"] == 0.979 and row["paper_accuracy"] == 0.932 and row["ceiling"] == 0.88
    assert table.loc[table["model"] == "Radiomics", "information_set"].eq("roi").all()
    wide = reproduction.wide_table2(table, "test")
    assert list(wide.index) == list(MODEL_LABELS.values())
    assert wide.loc["3D-DenseNet", ("1-year", "AUC paper")] == 0.808
    assert wide.loc["3D-DenseNet", ("1-year", "ceiling")] == 0.88
    assert list(wide.columns[:5]) == [
        ("1-year", q) for q in ("AUC paper", "AUC this run", "ceiling", "accuracy paper", "accuracy this run")
    ]


def test_table2_notes_flag_paper_values_above_the_ceiling_once_per_model_and_split(reported):
    table = reproduction.table2_comparison(reported, _run_metrics(0.75), _ceilings(0.88))
    notes = reproduction.table2_notes(table)
    above = [n for n in notes if n.startswith("The paper's AUC exceeds this cohort's ceiling")]
    assert len(above) == 1 and above[0].count("Fusion RF, training set (paper 0.965–0.979") == 1  # said once
    assert "Radiomics, training set" not in above[0]  # 0.831-0.862 < 0.91
    gaps = next(n for n in notes if n.startswith("Training minus test AUC"))
    assert "Fusion RF paper +0.070, this run +0.000" in gaps


def test_a_reported_file_without_a_section_is_refused(tmp_path):
    path = tmp_path / "reported.yaml"
    path.write_text(yaml.safe_dump({"cohort": {}, "table1": {}}))
    with pytest.raises(ValueError, match="missing section"):
        reproduction.load_reported(path)


def test_a_run_above_its_own_ceiling_is_called_in_sample(reported):
    table = reproduction.table2_comparison(reported, _run_metrics(0.99), _ceilings(0.88))
    notes = [n for n in reproduction.table2_notes(table) if "This run's AUC exceeds the ceiling" in n]
    assert len(notes) == 1 and "patients it was fitted on" in notes[0] and notes[0].count("; ceiling of") == 12


def test_the_pipeline_table_quotes_the_paper_and_shows_an_unassessable_icc_as_such(reported):
    run = {"patients": 12, "mean_icc": None, "cutpoint": 0.123456, "pca_components": 3}
    table = reproduction.pipeline_comparison(reported, run).set_index("quantity")
    assert table.loc["mean icc", "this run"] == "not assessable" and table.loc["mean icc", "paper"] == "0.81"
    assert table.loc["cutpoint", "this run"] == "0.123" and table.loc["pca components", "this run"] == "3"
    assert table.loc["pca components", "paper"] == str(reported["pipeline"]["pca_components"]) == "21"
    assert table.loc["patients", "this run"] == "12"  # a count as an integer, never 12.0


def test_table2_notes_of_a_real_cohort_have_no_ceiling_to_compare_with(reported):
    table = reproduction.table2_comparison(reported, _run_metrics(0.6), None)
    notes = reproduction.table2_notes(table)
    assert notes[0].startswith("This run stays well below the paper: ") and "ceiling" not in notes[0]
    assert notes[0].count("; ") == 2 * len(MODEL_LABELS) - 1  # every model and split, in one sentence
