"""The paper's protocol end to end: the smoke profile under ``protocol: paper`` (the default book's protocol).

The other notebook tests run the smoke profile, which is ``rigorous``; this one checks that every
notebook also runs as published and that each leak the paper makes is the one this run made.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from builders import ROOT, recorded_outputs

from helpers.pipeline.runner import main as run_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("paper")
    profile = {**yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text(encoding="utf-8")), "protocol": "paper"}
    del profile["label_policy"]  # protocol: paper brings the paper's labelling
    (folder / "paper.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    assert run_main([str(folder / "paper.yaml"), "--no-book", "--run-dir", str(folder / "run")]) == 0
    return folder / "run"


def test_every_notebook_runs_under_the_papers_protocol(paper_run):
    records = json.loads((paper_run / "run_manifest.json").read_text(encoding="utf-8"))["notebooks"]
    assert [r["status"] for r in records] == ["ok"] * 12


def test_the_paper_arm_stacks_in_sample_selects_on_test_and_searches_the_cut_off_on_everyone(paper_run):
    outputs = recorded_outputs(paper_run)
    assert "predictions_densenet_crossfit.parquet" in outputs  # the rigorous comparison arm is fitted too
    params = json.loads((paper_run / "manifests" / "07_fusion.json").read_text(encoding="utf-8"))["params"]
    assert params["label_policy"] == "paper"  # implied by protocol: paper
    fusion = json.loads((paper_run / "fusion.json").read_text(encoding="utf-8"))
    assert fusion["arms"]["paper"]["reason"].startswith("highest mean test AUC")
    assert "cross-validated" in fusion["arms"]["rigorous"]["reason"]
    metrics = json.loads((paper_run / "metrics" / "06_densenet.json").read_text(encoding="utf-8"))
    assert metrics["protocol"] == "paper" and metrics["selected_on"].startswith("best test accuracy")
    assert json.loads((paper_run / "fusion.json").read_text(encoding="utf-8"))["protocol"] == "paper"
    cutpoint = json.loads((paper_run / "cutpoint.json").read_text(encoding="utf-8"))
    assert cutpoint["searched_on"] == "all patients"
    assert cutpoint["arms"]["rigorous"]["searched_on"].startswith("training split (out-of-fold")
