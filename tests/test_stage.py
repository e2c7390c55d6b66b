"""Stage manifests: atomic artifacts, recorded hashes, stale inputs caught."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers.errors import StaleInputError, UndeclaredArtifactError
from helpers.pipeline.files import atomic_path, changed_sources, file_sha256, repo_root, resolve_path, source_hashes
from helpers.pipeline.stage import Stage, figure_label, figure_name


def make_stage(tmp_path, name="01_cohort"):
    return Stage(run_dir=tmp_path, name=name, params={"seed": 1})


def test_outputs_are_hashed_in_the_manifest_and_checked_downstream(tmp_path):
    first = make_stage(tmp_path)
    first.write_parquet(pd.DataFrame({"a": [1, 2]}), "cohort.parquet")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    first.save_figure(fig, "test", paper="S1")
    manifest = json.loads(first.finish().read_text(encoding="utf-8"))
    assert set(manifest["outputs"]) == {"cohort.parquet", "figures/01_figS1_test.png", "figures/01_figS1_test.svg"}
    assert manifest["params"] == {"seed": 1} and "pandas" in manifest["versions"]

    second = make_stage(tmp_path, "02_next")
    assert second.require("01_cohort")["stage"] == "01_cohort"
    pd.DataFrame({"a": [1, 3]}).to_parquet(tmp_path / "cohort.parquet")
    with pytest.raises(StaleInputError, match="cohort.parquet changed after 01_cohort"):
        make_stage(tmp_path, "02_next").require("01_cohort")


def test_missing_stage_names_the_notebook_to_run(tmp_path):
    with pytest.raises(StaleInputError, match="run notebook 01_cohort first"):
        make_stage(tmp_path, "02_next").require("01_cohort")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "table.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_metrics_are_a_recorded_artifact_of_their_stage_and_run_notes_stay_in_the_manifest(tmp_path):
    first = make_stage(tmp_path, "01_cohort")
    first.add_metrics({"patients": 10})
    first.add_metrics({"events": 7})
    first.add_run_notes({"samples_per_s": 27.5})
    manifest = json.loads(first.finish().read_text(encoding="utf-8"))
    assert "metrics/01_cohort.json" in manifest["outputs"] and manifest["run_notes"] == {"samples_per_s": 27.5}
    reader = make_stage(tmp_path, "09_reproduction")
    assert reader.metrics("01_cohort") == {"patients": 10, "events": 7}
    assert json.loads(reader.finish().read_text(encoding="utf-8"))["read"] == ["metrics/01_cohort.json"]


def test_a_declared_artifact_is_read_through_its_producer(tmp_path):
    first = make_stage(tmp_path, "01_cohort")
    first.write_parquet(pd.DataFrame({"patient_id": ["a"]}), "cohort.parquet")
    first.finish()
    reader = make_stage(tmp_path, "05_rsf")
    assert reader.read_parquet("cohort.parquet")["patient_id"].tolist() == ["a"]
    assert not reader.has("ceilings.parquet")  # optional: 01 did not record it (a real cohort)
    with pytest.raises(
        StaleInputError, match="needs ceilings.parquet, an output of 01_cohort, but 01_cohort did not record it"
    ):
        reader.input("ceilings.parquet")
    with pytest.raises(
        StaleInputError,
        match=r"needs features.parquet \(an output of 03_extraction\), but "
        "03_extraction has not run",
    ):
        reader.read_parquet("features.parquet")


def test_an_undeclared_artifact_cannot_be_read_and_a_declared_one_has_one_producer(tmp_path):
    with pytest.raises(UndeclaredArtifactError, match="split_summary.parquet is not a declared artifact"):
        make_stage(tmp_path, "09_reproduction").read_parquet("split_summary.parquet")
    with pytest.raises(
        UndeclaredArtifactError,
        match="05_rsf wrote cohort.parquet, which the artifact contract declares as an output of 01_cohort",
    ):
        make_stage(tmp_path, "05_rsf").write_parquet(pd.DataFrame({"a": [1]}), "cohort.parquet")


def test_relative_paths_resolve_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_path("runs/x") == repo_root() / "runs" / "x"
    assert resolve_path(tmp_path) == tmp_path


def test_input_file_hashes_are_cached_by_size_and_mtime_and_changes_are_found(tmp_path, monkeypatch):
    image, series = tmp_path / "ct.nii.gz", tmp_path / "dicom"
    image.write_bytes(b"voxels")
    series.mkdir()
    (series / "1.dcm").write_bytes(b"slice one")
    recorded = source_hashes([str(image), str(series)], tmp_path / "run")
    assert recorded[str(image)] == file_sha256(image) and len(recorded[str(series)]) == 64
    calls = []
    monkeypatch.setattr("helpers.pipeline.files.content_sha256", lambda path: calls.append(path) or "rehashed")
    assert changed_sources(recorded, tmp_path / "run") == [] and calls == []  # a re-check reads no file
    (series / "2.dcm").write_bytes(b"slice two")  # a slice added to the series
    image.write_bytes(b"other voxels")
    assert changed_sources(recorded, tmp_path / "run") == sorted([str(image), str(series)])
    image.unlink()
    assert source_hashes([str(image)], tmp_path / "run") == {str(image): ""}


def test_a_stage_records_the_hashes_of_the_files_it_tracks(tmp_path):
    mask = tmp_path / "mask.nrrd"
    mask.write_bytes(b"labels")
    stage = make_stage(tmp_path / "run")
    stage.track_files([str(mask), str(mask)])
    assert json.loads(stage.finish().read_text(encoding="utf-8"))["files"] == {str(mask): file_sha256(mask)}


def test_figure_names_follow_one_scheme():
    assert figure_name("05_rsf", "rsf_roc", "4") == "05_fig4_rsf_roc"
    assert figure_name("11_uncertainty", "calibration") == "11_calibration"
    assert figure_label("05_fig4_rsf_roc") == "fig-05-fig4-rsf-roc"
    for subject, paper in (("ROC", None), ("roc", "Fig4"), ("roc curve", None)):
        with pytest.raises(ValueError, match="naming scheme"):
            figure_name("05_rsf", subject, paper)
