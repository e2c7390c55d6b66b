"""A small manifest cohort as a research group first tries the book with: a dozen patients, a centre holding
a single censored patient, no second reader. Notebooks 01-03 run and say what they could not do; notebook 04
stops with the project's own message (issue 16's faults found on a 12-patient real CT cohort)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.pipeline.runner import main as run_main
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort

ROOT = Path(__file__).resolve().parents[1]
IN_SILICO_KEYS = ("name", "cohort_source", "n_patients", "image_matrix", "image_slices", "n_reader2")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """Notebooks 01-04 run on the small cohort (04 fails); the run directory."""
    base = tmp_path_factory.mktemp("small")
    source = generate_cohort(
        base / "insilico",
        CohortSpec(n_patients=12, matrix=48, n_slices=8, n_reader2=0, seed=5),
        n_jobs=2,
        progress=False,
    )
    manifest = pd.read_csv(source, dtype=str, keep_default_na=False).drop(columns=["mask_reader2"])
    manifest["image"] = [str(source.parent / p) for p in manifest["image"]]
    manifest["mask"] = [str(source.parent / p) for p in manifest["mask"]]
    manifest["centre"] = "C1"
    manifest.loc[manifest.index[manifest["event"] == "0"][0], "centre"] = "C2"  # a single censored patient
    manifest.to_csv(base / "manifest.csv", index=False)
    smoke = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text(encoding="utf-8"))
    profile = {key: value for key, value in smoke.items() if key not in IN_SILICO_KEYS}
    profile.update(name="small", cohort_source="manifest", manifest=str(base / "manifest.csv"), lasso_folds=10)
    (base / "small.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    run_dir = base / "run"
    status = run_main(
        [str(base / "small.yaml"), "--no-book", "--run-dir", str(run_dir), "--only", "01", "02", "03", "04"]
    )
    assert status == 1  # notebook 04 cannot fit its 10-fold LASSO on 8 training patients
    return run_dir


def executed(run_dir: Path, notebook: str) -> str:
    """The text of a notebook's executed copy (outputs included)."""
    return (run_dir / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_split_falls_back_to_event_only_and_says_why(small_run):
    cohort = pd.read_parquet(small_run / "cohort.parquet")
    assert (cohort["split"] == "test").sum() == 4 and set(cohort["centre"]) == {"C1", "C2"}
    assert "[split] stratified by event instead" in executed(small_run, "01_cohort")


@pytest.mark.slow
def test_without_a_second_reader_agreement_is_not_assessable_and_every_feature_goes_on(small_run):
    assert "Inter-reader agreement is not assessable: 0 patient(s)" in executed(small_run, "02_icc")
    stable = json.loads((small_run / "stable_features.json").read_text(encoding="utf-8"))
    assert stable["features"] is None and stable["assessable"] is False and stable["patients"] == 0
    assert (small_run / "features.parquet").exists()  # notebook 03 extracted every patient


@pytest.mark.slow
def test_a_training_split_too_small_for_the_lasso_stops_notebook_04_with_the_projects_message(small_run):
    record = {
        r["notebook"]: r for r in json.loads((small_run / "run_manifest.json").read_text(encoding="utf-8"))["notebooks"]
    }
    assert record["04_pca_lasso.ipynb"]["status"] == "failed"
    error = record["04_pca_lasso.ipynb"]["error"]
    assert error.startswith("CohortTooSmallError: notebook 04_pca_lasso cannot run on this cohort of 12 patients")
    assert "Cox-LASSO with cross-validated lambda needs at least 10 training patients (the cohort has 8)" in error
