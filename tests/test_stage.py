"""Stage manifests: atomic artifacts, recorded hashes, stale inputs caught."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers.pipeline.files import atomic_path, repo_root, resolve_path
from helpers.pipeline.stage import Stage, StaleInputError


def make_stage(tmp_path, name="01_cohort"):
    return Stage(run_dir=tmp_path, name=name, params={"seed": 1})


def test_outputs_are_hashed_in_the_manifest_and_checked_downstream(tmp_path):
    first = make_stage(tmp_path)
    first.write_parquet(pd.DataFrame({"a": [1, 2]}), "cohort.parquet")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    first.save_figure(fig, "fig_test")
    manifest = json.loads(first.finish().read_text(encoding="utf-8"))
    assert set(manifest["outputs"]) == {"cohort.parquet", "figures/fig_test.png", "figures/fig_test.svg"}
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


def test_metrics_are_merged_per_stage(tmp_path):
    make_stage(tmp_path, "01_cohort").add_metrics({"patients": 10})
    make_stage(tmp_path, "02_next").add_metrics({"icc": 0.8})
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8")) == {"01_cohort": {"patients": 10}, "02_next": {"icc": 0.8}}


def test_relative_paths_resolve_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_path("runs/x") == repo_root() / "runs" / "x"
    assert resolve_path(tmp_path) == tmp_path
