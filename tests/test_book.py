"""End to end: every notebook on the smoke profile, a real clinical-only cohort, and the
strict book build."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import papermill
import pytest

from helpers.data.tcga import tcga_paad_manifest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_smoke_run_executes_every_notebook(smoke_run):
    manifest = json.loads((smoke_run / "run_manifest.json").read_text(encoding="utf-8"))
    executed = [r["notebook"] for r in manifest["notebooks"]]
    assert executed == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert all((smoke_run / "notebooks" / name).exists() for name in executed)  # never into the working tree
    assert all(r["status"] == "ok" and r["peak_memory_mb"] > 0 for r in manifest["notebooks"])


def test_smoke_cohort_artifacts(smoke_run):
    cohort = pd.read_parquet(smoke_run / "cohort.parquet")
    assert len(cohort) == 80 and cohort["patient_id"].is_unique
    assert (cohort["split"] == "test").sum() == 24
    ceilings = pd.read_parquet(smoke_run / "ceilings.parquet")
    assert set(ceilings["information_set"]) == {"clinical", "roi", "image", "clinical_roi", "everything"}
    assert set(ceilings["split"]) == {"train", "test"} and ceilings["auc"].between(0, 1).all()
    metrics = json.loads((smoke_run / "metrics" / "01_cohort.json").read_text(encoding="utf-8"))
    assert metrics["patients"] == 80
    stage = json.loads((smoke_run / "manifests" / "01_cohort.json").read_text(encoding="utf-8"))
    assert stage["params"]["seed"] == 7 and "cohort.parquet" in stage["outputs"]


def test_book_builds_in_strict_mode(smoke_book):
    html = smoke_book
    assert (html / "book" / "notebooks" / "01_cohort.html").exists()
    page = (html / "book" / "notebooks" / "01_cohort.html").read_text(encoding="utf-8")
    assert "Table 1" in page and "Training set" in page and "<img" in page


def test_notebook_01_on_the_real_tcga_paad_table(shared_data, tmp_path):
    manifest = tcga_paad_manifest(shared_data / "tcga_paad" / "tcga_paad_patients.csv", tmp_path / "manifest.csv")
    run_dir = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "01_cohort.ipynb"),
        str(tmp_path / "01_cohort.ipynb"),
        parameters={
            "run_dir": str(run_dir),
            "cohort_source": "manifest",
            "manifest": str(manifest),
            "check_images": False,
            "allow_missing_clinical": ["T", "N", "M"],
            "seed": 3,
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    cohort = pd.read_parquet(run_dir / "cohort.parquet")
    assert len(cohort) == 185 and cohort["event"].sum() == 100
    assert not cohort["patient_id"].str.startswith("TCGA").any()
    table = pd.read_parquet(run_dir / "table1.parquet")
    t_missing = table[(table["variable"] == "T stage") & (table["level"] == "missing")].iloc[0]
    assert t_missing["n_train"] + t_missing["n_test"] == cohort["T"].isna().sum() > 0
    executed = (tmp_path / "01_cohort.ipynb").read_text(encoding="utf-8")
    assert "TCGA-" not in executed
    assert "ceiling_auc_test" not in json.loads((run_dir / "metrics" / "01_cohort.json").read_text(encoding="utf-8"))
