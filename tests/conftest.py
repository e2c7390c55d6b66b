"""Shared fixtures: the read-only real test data beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` (CI and sessions lay it beside the clone); SHARED_DATA overrides."""
    return Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public test data; tests that need it fail loudly if it is absent."""
    folder = shared_data_dir()
    assert folder.is_dir(), f"real test data not found at {folder} (set SHARED_DATA)"
    return folder
