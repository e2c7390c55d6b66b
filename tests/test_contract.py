"""The artifact contract: notebooks read one another's files only through the stage, which checks producer and hash.

Static checks on the committed notebooks, then, on the smoke run, every declared artifact
deleted or corrupted in turn: the stage that reads it stops with a message naming the
artifact and its producer, and one notebook executed by papermill shows the same message.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from builders import recorded_outputs

from helpers.errors import StaleInputError
from helpers.pipeline.artifacts import PRODUCERS, metrics_file, producer_of
from helpers.pipeline.notebooks import discover_notebooks, parameters_for
from helpers.pipeline.runner import execute
from helpers.pipeline.stage import Stage

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
READ_CALL = re.compile(r"stage\.(?:input|read_parquet|read_json|has)\(f?\"([^\"]+)\"\)")
PATH_CALL = re.compile(r"stage\.path\(f?\"([^\"]+)\"\)")
WORK_FOLDERS = ("cache/", "external")  # a notebook's own caches and work folders, not hand-offs


def code_of(notebook: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")


def expand(name: str) -> list[str]:
    """A read's file name, with the ``{name}`` of the two base models' f-strings filled in."""
    return [name.replace("{name}", model) for model in ("radiomics", "densenet")] if "{name}" in name else [name]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_reads_only_declared_artifacts_of_earlier_stages(notebook):
    names = [n for raw in READ_CALL.findall(code_of(notebook)) for n in expand(raw)]
    later = [n for n in names if producer_of(n) >= notebook.stem]
    assert later == [], f"{notebook.stem} reads artifacts of itself or of later stages"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_opens_run_files_only_through_the_contract(notebook):
    code = code_of(notebook)
    assert [p for p in PATH_CALL.findall(code) if not p.startswith(WORK_FOLDERS)] == []
    assert "stage.require(" not in code, "reading an artifact requires its producer; no stage is required by hand"


def test_metrics_files_are_produced_by_the_stage_of_their_name():
    assert producer_of(metrics_file("05_rsf")) == "05_rsf"


@pytest.fixture(scope="module")
def smoke_reads(smoke_run) -> list[tuple[str, str]]:
    """(reading stage, artifact) for every contract read of the smoke run, from the stage manifests."""
    return sorted(
        (path.stem, name)
        for path in (smoke_run / "manifests").glob("*.json")
        for name in json.loads(path.read_text(encoding="utf-8"))["read"]
    )


def skeleton(smoke_run: Path, folder: Path) -> Path:
    """The smoke run's manifests and recorded artifacts only (no images, no caches), copied into ``folder``."""
    shutil.copytree(smoke_run / "manifests", folder / "manifests")
    for relative in recorded_outputs(smoke_run):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(smoke_run / relative, folder / relative)
    return folder


@pytest.mark.slow
def test_every_declared_artifact_is_read_in_the_smoke_run(smoke_reads):
    declared = set(PRODUCERS) | {
        metrics_file(s)
        for s in ("01_cohort", "02_icc", "03_extraction", "04_pca_lasso", "06_densenet", "08_stratification")
    }
    assert {name for _, name in smoke_reads} == declared


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_damaged_artifact_stops_its_reader_naming_it_and_its_producer(smoke_run, smoke_reads, damage, tmp_path):
    failures = []
    for index, (reader, artifact) in enumerate(smoke_reads):
        run_dir = skeleton(smoke_run, tmp_path / str(index))
        target = run_dir / artifact
        if damage == "deleted":
            target.unlink()
        else:
            target.write_bytes(target.read_bytes() + b"\0")
        producer = producer_of(artifact)
        with pytest.raises(StaleInputError) as caught:
            Stage(run_dir=run_dir, name=reader).input(artifact)
        message = str(caught.value)
        if not all(part in message for part in (reader, artifact, producer, f"re-run {producer}")):
            failures.append(message)
        shutil.rmtree(run_dir)
    assert failures == []


@pytest.mark.slow
def test_a_notebook_stops_with_the_contract_message(smoke_run, tmp_path):
    run_dir = skeleton(smoke_run, tmp_path / "run")
    target = run_dir / "predictions_fusion.parquet"
    target.write_bytes(target.read_bytes()[:-10])
    notebook = next(nb for nb in discover_notebooks(ROOT / "notebooks") if nb.stem == "08_stratification")
    params = parameters_for(notebook, {"seed": 7, "protocol": "rigorous"}, run_dir)
    record = execute(notebook, params, run_dir / "notebooks" / notebook.path.name, run_dir)
    assert record["status"] == "failed"
    # its first read from 07 (fusion.json) checks every output 07 recorded, so the damaged file is caught there
    assert record["error"].startswith(
        "StaleInputError: 08_stratification needs fusion.json (an output of "
        "07_fusion): predictions_fusion.parquet changed after 07_fusion wrote it"
    )
    assert record["error"].endswith("re-run 07_fusion so that its manifest and artifacts agree.")
