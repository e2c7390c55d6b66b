"""Shared fixtures: the read-only real test data beside the project, one smoke run and its book.

Shared builders and helpers (synthetic CT, manifests, run comparisons) live in ``builders.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import ROOT, shared_data_dir

from helpers.pipeline.book import build_book
from helpers.pipeline.runner import main as run_main
from helpers.pipeline.shared_cache import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def shared_cache_of_the_session(tmp_path_factory) -> Path:
    """The shared cache (the external in-silico cohort) in a folder of this test session, not the project's
    ``.cache/``: a test never reuses what a user's book or an earlier session left there. Notebooks executed by
    the tests inherit it through the environment."""
    folder = tmp_path_factory.mktemp("shared_cache")
    os.environ[CACHE_ENV] = str(folder)
    return folder


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
