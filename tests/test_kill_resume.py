"""Kill and resume: the runner killed with SIGKILL mid-extraction and mid-training, then re-run,
ends with the same artifacts as an uninterrupted run.

The kill takes the whole process tree at once (runner, papermill's kernel, the extraction
workers), as a power cut, the OOM killer or a batch scheduler's time limit would: nothing gets
to clean up. The re-run is the same command. What makes it safe is in the helpers: every
artifact is written to a temporary name and renamed, extraction caches each case under a key of
its image, mask and settings, training saves a resume checkpoint after each epoch, and the
runner re-runs a notebook that never finished.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import psutil
import pytest
from builders import ROOT, cohort_without_run_folder, recorded_outputs

pytestmark = pytest.mark.slow

EXTRACTION_CACHE = Path("cache") / "radiomics"
RESUME_CHECKPOINT = "densenet.last.pt"
TIMEOUT_S = 900


def start_runner(run_dir: Path, log: Path) -> subprocess.Popen:
    """``python -m helpers.run params/smoke.yaml --no-book`` into ``run_dir``, as a user would start it."""
    with open(log, "ab") as handle:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helpers.run",
                str(ROOT / "params" / "smoke.yaml"),
                "--no-book",
                "--run-dir",
                str(run_dir),
            ],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def kill_tree_when(runner: subprocess.Popen, condition: Callable[[], bool], log: Path) -> None:
    """Poll ``condition`` every 20 ms; when it holds, SIGKILL the runner and every process below it."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert runner.poll() is None, (
            f"the runner ended (status {runner.returncode}) before the kill point:\n"
            f"{log.read_text(errors='replace')[-3000:]}"
        )
        assert time.monotonic() < deadline, "the kill point was not reached in time"
        time.sleep(0.02)
    processes = [psutil.Process(runner.pid), *psutil.Process(runner.pid).children(recursive=True)]
    for process in processes:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    runner.wait()
    psutil.wait_procs(processes, timeout=30)


def stage_done(run_dir: Path, stage: str) -> bool:
    """Whether the stage wrote its manifest (the last thing a notebook does)."""
    return (run_dir / "manifests" / f"{stage}.json").exists()


def cached_cases(run_dir: Path) -> dict[str, int]:
    """The study cohort's per-case extraction cache files (not notebook 10's external cohort) and their mtimes (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in (run_dir / EXTRACTION_CACHE).glob("SYN-*.json")}


def executed_output(run_dir: Path, notebook: str) -> str:
    """All stream output of an executed notebook, as one string."""
    cells = nbformat.read(run_dir / "notebooks" / notebook, as_version=4).cells
    return "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> dict:
    """The smoke run killed during 03's extraction, re-started, killed during 06's training, re-run to the end."""
    run_dir = tmp_path_factory.mktemp("killed")
    log = run_dir.parent / "killed_runner.log"
    first_wave = 40  # cases in the cache when the first kill comes: notebook 02 caches 24, notebook 03 92 in all

    runner = start_runner(run_dir, log)
    kill_tree_when(
        runner, lambda: len(cached_cases(run_dir)) >= first_wave and not stage_done(run_dir, "03_extraction"), log
    )
    before_first_rerun = cached_cases(run_dir)

    runner = start_runner(run_dir, log)
    checkpoint = run_dir / RESUME_CHECKPOINT
    kill_tree_when(runner, lambda: checkpoint.exists() and not stage_done(run_dir, "06_densenet"), log)
    killed_in_training = not stage_done(run_dir, "06_densenet")

    runner = start_runner(run_dir, log)
    assert runner.wait(timeout=TIMEOUT_S) == 0, log.read_text(errors="replace")[-3000:]
    return {"run_dir": run_dir, "cache_at_kill": before_first_rerun, "killed_in_training": killed_in_training}


def test_extraction_resumes_from_its_per_case_cache(interrupted):
    run_dir, at_kill = interrupted["run_dir"], interrupted["cache_at_kill"]
    assert 40 <= len(at_kill) < 92
    after = cached_cases(run_dir)
    assert len(after) == 92
    assert {name: after[name] for name in at_kill} == at_kill, "a case cached before the kill was extracted again"
    reused = re.search(r"\((\d+) from the cache\)", executed_output(run_dir, "03_extraction.ipynb"))
    assert reused and int(reused.group(1)) >= len(at_kill)


def test_training_resumes_from_its_last_epoch_checkpoint(interrupted):
    assert interrupted["killed_in_training"]
    assert "resumed after epoch" in executed_output(interrupted["run_dir"], "06_densenet.ipynb")


def test_final_artifacts_equal_an_uninterrupted_run(interrupted, smoke_run):
    resumed, reference = recorded_outputs(interrupted["run_dir"]), recorded_outputs(smoke_run)
    assert resumed.keys() == reference.keys()
    assert sorted(rel for rel in resumed if resumed[rel] != reference[rel]) == ["cohort.parquet"]
    assert cohort_without_run_folder(interrupted["run_dir"]).equals(cohort_without_run_folder(smoke_run))
