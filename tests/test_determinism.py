"""Determinism: the smoke profile run twice on the CPU writes byte-identical artifacts.

The second run is the example CI workflow's (``.github/workflows/book.yml``): papermill's command line, one
notebook at a time, with the whole profile as its parameter file. So the test also shows that route works for
every notebook in order and gives the runner's artifacts.

Compared: every artifact that a stage manifest records (all parquet tables, table2.csv, the
JSON results and each stage's ``metrics/<stage>.json``, the figures, the fitted models and
both DenseNet checkpoints), by the SHA-256 its manifest gives it. Legitimately different,
and compared without the differing part: ``cohort.parquet``, whose image and mask paths are
absolute and point into each run's own in-silico cohort (``<run_dir>/insilico``); compared
with the run folder taken out.

Not compared: the stage manifests and run_manifest.json (start times, wall times, the
DenseNet's throughput, peak memory, the run folder), the executed notebooks (papermill's
timings, cases reused from a cache), and caches. Such run notes live only there, so that a re-run with the same result leaves
the notebooks that read it skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from builders import cohort_without_run_folder, recorded_outputs

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

NAMED = {
    "features.parquet",
    "table2.csv",
    "predictions_radiomics.parquet",
    "predictions_radiomics_oof.parquet",
    "predictions_densenet.parquet",
    "predictions_densenet_crossfit.parquet",
    "densenet_folds.pt",
    "predictions_fusion.parquet",
    "predictions_fusion_oof.parquet",
    "ceilings.parquet",
    "densenet.pt",
    "densenet.last.pt",
    "history.csv",
    "metrics/06_densenet.json",
}


WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def workflow_step(step_id: str) -> str:
    """The shell script of one step of the example CI workflow, as written there."""
    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["smoke"]["steps"]
    return next(step["run"] for step in steps if step.get("id") == step_id)


def run_workflow_step(step_id: str, run_dir: Path) -> None:
    """Run a workflow step from the project root with its PROFILE and RUN_DIR, the environment's tools first on PATH."""
    env = {
        **os.environ,
        "PROFILE": "params/smoke.yaml",
        "RUN_DIR": str(run_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(["bash", "-c", workflow_step(step_id)], cwd=ROOT, env=env, check=True)


@pytest.fixture(scope="module")
def second_smoke_run(smoke_run, tmp_path_factory) -> Path:
    """The smoke profile again, into a fresh folder, executed as the example CI workflow executes it: papermill's
    command line one notebook at a time (its `notebooks` step), not the runner."""
    run_dir = tmp_path_factory.mktemp("smoke_again")
    run_workflow_step("notebooks", run_dir)
    return run_dir


def test_every_recorded_artifact_is_byte_identical_but_the_cohort_table(smoke_run, second_smoke_run):
    first, second = recorded_outputs(smoke_run), recorded_outputs(second_smoke_run)
    assert first.keys() == second.keys() and NAMED <= first.keys()
    assert sorted(rel for rel in first if first[rel] != second[rel]) == ["cohort.parquet"]


def test_the_legitimate_differences_are_only_paths(smoke_run, second_smoke_run):
    pd.testing.assert_frame_equal(cohort_without_run_folder(smoke_run), cohort_without_run_folder(second_smoke_run))


def test_the_throughput_is_kept_in_the_manifest_only(smoke_run):
    manifest = json.loads((smoke_run / "manifests" / "06_densenet.json").read_text(encoding="utf-8"))
    assert manifest["run_notes"]["samples_per_s"] > 0
    assert "samples_per_s" not in json.loads((smoke_run / "metrics" / "06_densenet.json").read_text(encoding="utf-8"))


def test_the_workflow_builds_the_book_of_its_run(second_smoke_run):
    run_workflow_step("book", second_smoke_run)
    chapters = sorted(p.name for p in (second_smoke_run / "_build" / "html" / "book" / "notebooks").glob("*.html"))
    assert chapters == sorted(p.with_suffix(".html").name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
