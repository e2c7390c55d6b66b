"""Determinism: the smoke profile run twice on the CPU writes byte-identical artifacts.

Compared: every artifact that a stage manifest records (all parquet tables, table2.csv, the
JSON results, the figures, the fitted models), by the SHA-256 its manifest gives it, plus
metrics.json. Legitimately different, and compared without the differing part:

* ``cohort.parquet``: its image and mask paths are absolute and point into each run's own
  in-silico cohort (``<run_dir>/insilico``); compared with the run folder taken out.
* ``history.csv`` and ``metrics.json``: the DenseNet's training wall time and throughput;
  compared without those columns / that key.

Not compared: the stage manifests and run_manifest.json (start times, wall times, peak memory,
the run folder), the executed notebooks (papermill's timings), and caches.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from helpers.run import main as run_main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

PATH_COLUMNS = ["image", "mask", "mask_reader2"]
TIMING_COLUMNS = ["train_seconds", "train_samples_per_s"]
TIMING_METRIC = ("06_densenet", "samples_per_s")
NAMED = {"features.parquet", "table2.csv", "predictions_radiomics.parquet", "predictions_radiomics_oof.parquet",
         "predictions_densenet.parquet", "predictions_densenet_oof.parquet", "predictions_fusion.parquet"}


def recorded_outputs(run_dir: Path) -> dict[str, str]:
    """Every artifact the stages recorded, with the hash their manifests give it."""
    outputs: dict[str, str] = {}
    for manifest in sorted((run_dir / "manifests").glob("*.json")):
        outputs |= json.loads(manifest.read_text(encoding="utf-8"))["outputs"]
    return outputs


def cohort_without_run_folder(run_dir: Path) -> pd.DataFrame:
    """cohort.parquet with the run folder replaced in its image and mask paths."""
    cohort = pd.read_parquet(run_dir / "cohort.parquet")
    for column in PATH_COLUMNS:
        cohort[column] = cohort[column].str.replace(str(run_dir), "<run_dir>", regex=False)
    return cohort


def metrics_without_timing(run_dir: Path) -> dict:
    """metrics.json without the DenseNet's training throughput."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    stage, key = TIMING_METRIC
    assert metrics[stage].pop(key) > 0
    return metrics


@pytest.fixture(scope="module")
def second_smoke_run(smoke_run, tmp_path_factory) -> Path:
    """The smoke profile again, into a fresh folder (nothing to skip there)."""
    run_dir = tmp_path_factory.mktemp("smoke_again")
    assert run_main([str(ROOT / "params" / "smoke.yaml"), "--no-book", "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_every_recorded_artifact_is_byte_identical_but_two(smoke_run, second_smoke_run):
    first, second = recorded_outputs(smoke_run), recorded_outputs(second_smoke_run)
    assert first.keys() == second.keys() and NAMED <= first.keys()
    assert sorted(rel for rel in first if first[rel] != second[rel]) == ["cohort.parquet", "history.csv"]


def test_the_two_legitimate_differences_are_only_paths_and_timings(smoke_run, second_smoke_run):
    pd.testing.assert_frame_equal(cohort_without_run_folder(smoke_run), cohort_without_run_folder(second_smoke_run))
    first, second = (pd.read_csv(run / "history.csv") for run in (smoke_run, second_smoke_run))
    pd.testing.assert_frame_equal(first.drop(columns=TIMING_COLUMNS), second.drop(columns=TIMING_COLUMNS),
                                  check_exact=True)
    assert metrics_without_timing(smoke_run) == metrics_without_timing(second_smoke_run)
