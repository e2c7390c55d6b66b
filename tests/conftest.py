"""Shared fixtures: the read-only real test data beside the project, one smoke run and its book."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from helpers.pipeline.book import build_book
from helpers.pipeline.runner import main as run_main

ROOT = Path(__file__).resolve().parents[1]
PATH_COLUMNS = ["image", "mask", "mask_reader2"]  # cohort.parquet columns that hold absolute paths


def shared_data_dir() -> Path:
    """``../shared/data`` (CI and sessions lay it beside the clone); SHARED_DATA overrides."""
    return Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))


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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public test data; tests that need it fail loudly if it is absent."""
    folder = shared_data_dir()
    assert folder.is_dir(), f"real test data not found at {folder} (set SHARED_DATA)"
    return folder


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """Every notebook executed on params/smoke.yaml into a fresh run directory (once per session)."""
    run_dir = tmp_path_factory.mktemp("smoke")
    assert run_main([str(ROOT / "params" / "smoke.yaml"), "--no-book", "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="session")
def smoke_book(smoke_run, tmp_path_factory) -> Path:
    """The HTML folder of the book built in strict mode (-W -n) from the smoke run."""
    return build_book(ROOT, smoke_run, tmp_path_factory.mktemp("book"))
