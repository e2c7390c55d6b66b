"""End to end: every notebook on the smoke profile, a real clinical-only cohort, and the
strict book build."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import papermill
import pytest

from helpers.data.tcga import tcga_paad_manifest
from helpers.pipeline.book import publish_notebooks

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


def _captions(page: str) -> list[str]:
    """The text of every figure caption of a built page, tags removed."""
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)]


def test_figures_are_numbered_and_their_captions_quote_this_runs_numbers(smoke_run, smoke_book):
    metrics = {
        name: json.loads((smoke_run / "metrics" / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("05_rsf", "07_fusion")
    }
    pages = {p.stem: p.read_text(encoding="utf-8") for p in (smoke_book / "book" / "notebooks").glob("*.html")}
    captions = {name: _captions(page) for name, page in pages.items()}
    assert sum(map(len, captions.values())) >= 20
    for name, texts in captions.items():
        assert all(re.match(r"Figure \d+\. ", text) for text in texts), (
            name,
            texts,
        )  # numbered, as Sphinx numbers them
        assert not any("glue" in text or "{" in text for text in texts), (name, texts)  # every glue role resolved
    rsf = next(text for text in captions["05_rsf"] if "Paper Fig. 4" in text)
    auc = metrics["05_rsf"]["auc"]
    assert f"test AUC {auc['test_12']:.3f}, {auc['test_24']:.3f} and {auc['test_36']:.3f}" in rsf
    fusion = next(text for text in captions["07_fusion"] if "Paper Fig. 7" in text)
    shown = metrics["07_fusion"]["shown"]
    assert f"3-year AUC {shown['reported_36']:.3f} against {shown['radiomics_36']:.3f}" in fusion
    assert shown["best"] in fusion and f"{shown['arm']} arm" in fusion


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


def project_book_sources(root: Path) -> Path:
    """The project's book as a fresh clone has it: configuration and pages, no run chapters."""
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("notebooks", ".ipynb_checkpoints"))
    return root


def jupyter_book_build(source: Path, *options: str) -> subprocess.CompletedProcess:
    """``jupyter-book build .`` in ``source``, as a user types it."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", ".", *options]
    return subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=900)


def test_jupyter_book_build_without_a_run_stops_with_one_line_saying_to_run_make_book(tmp_path):
    built = jupyter_book_build(project_book_sources(tmp_path / "clone"))
    assert built.returncode == 1
    assert built.stderr.strip().count("\n") == 0 and "Traceback" not in built.stderr + built.stdout
    assert built.stderr.startswith("[book] the analysis chapters come from a run, and book/notebooks/ lacks 12 of")
    assert "run `make book`" in built.stderr


@pytest.mark.slow
def test_jupyter_book_build_after_a_run_builds_every_chapter_of_it(smoke_run, tmp_path):
    source = project_book_sources(tmp_path / "clone")
    published = publish_notebooks(smoke_run, source / "book" / "notebooks")
    assert [p.stem for p in published] == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    built = jupyter_book_build(source, "-W", "-n", "--keep-going")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "nonexisting document" not in built.stdout + built.stderr
    html = source / "_build" / "html" / "book" / "notebooks"
    assert sorted(p.stem for p in html.glob("*.html")) == [p.stem for p in published]
    assert not any(str(smoke_run) in p.read_text(encoding="utf-8") for p in published)  # scrubbed of local paths
