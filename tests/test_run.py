"""The papermill runner: profiles, parameter routing, notebook selection, skipping unchanged notebooks,
and what the book publishes of an executed notebook."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import papermill
import pytest
import torch
import yaml

from helpers.errors import CudaUnavailableError, ProfileError
from helpers.pipeline.book import UNPUBLISHED, publishable, publishable_parameters
from helpers.pipeline.files import file_sha256
from helpers.pipeline.notebooks import Notebook, discover_notebooks, parameters_for
from helpers.pipeline.profile import check_types, check_unused_keys, fits, load_profile
from helpers.pipeline.runner import (
    execute,
    fingerprint,
    notebook_source_hash,
    reason_to_run,
    run_notebooks,
    select,
    time_left,
)
from helpers.pipeline.runner import main as run_main
from helpers.vocabulary import PARAMETER_CHOICES, choices

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


def fake(name: str, *params: str) -> Notebook:
    return Notebook(Path(f"/nb/{name}.ipynb"), {p: {} for p in params})


def test_profile_name_defaults_to_file_stem(tmp_path):
    assert load_profile(write(tmp_path, "seed: 1\nprotocol: paper\n"))["name"] == "profile"


@pytest.mark.parametrize(
    "text, message",
    [
        ("protocol: paper\n", "seed"),
        ("seed: 1\n", "protocol"),
        ("seed: 1\nprotocol: strict\n", "protocol must be one of paper, rigorous, not 'strict'"),
        ("seed: 1\nprotocol: paper\nhorizons: {a: 12}\n", "scalars or lists of scalars; nested: horizons"),
        (
            "seed: 1\nprotocol: paper\np_method: Lau93\nrsf_splitting: best\n",
            "rsf_splitting must be one of exhaustive, random, not 'best'; p_method must be one of Lau92, Lau94, not 'Lau93'",
        ),
        ("seed: 1\nprotocol: paper\nrun_dir: /data/x\n", "run_dir is not a profile key: the run folder is runs/<name>"),
    ],
)
def test_bad_profiles_are_refused(tmp_path, text, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(write(tmp_path, text))


def test_the_papers_protocol_brings_the_papers_labelling_unless_the_profile_says_otherwise(tmp_path):
    assert load_profile(write(tmp_path, "seed: 1\nprotocol: paper\n"))["label_policy"] == "paper"
    assert "label_policy" not in load_profile(write(tmp_path, "seed: 1\nprotocol: rigorous\n"))
    mixed = "seed: 1\nprotocol: paper\nlabel_policy: known_status\n"
    with pytest.raises(ProfileError, match="label_policy_differs_from_paper: true"):
        load_profile(write(tmp_path, mixed))
    explicit = load_profile(write(tmp_path, mixed + "label_policy_differs_from_paper: true\n"))
    assert explicit["label_policy"] == "known_status"
    notebooks = discover_notebooks(ROOT / "notebooks")
    assert "label_policy_differs_from_paper" not in parameters_for(notebooks[0], explicit, tmp_path / "run")
    with pytest.raises(ProfileError, match="true or false"):
        load_profile(write(tmp_path, "seed: 1\nprotocol: paper\nlabel_policy_differs_from_paper: yes please\n"))


def test_a_key_no_notebook_declares_is_an_error():
    notebooks = [fake("01_a", "run_dir", "seed", "protocol"), fake("02_b", "run_dir", "epochs")]
    check_unused_keys(notebooks, {"name": "x", "seed": 1, "protocol": "paper", "epochs": 3}, Path("p.yaml"))
    with pytest.raises(ProfileError, match="no notebook declares epoch "):
        check_unused_keys(notebooks, {"seed": 1, "protocol": "paper", "epoch ": 3}, Path("p.yaml"))


def test_each_notebook_gets_only_what_it_declares():
    notebook = fake("02_b", "run_dir", "epochs")
    params = parameters_for(notebook, {"name": "x", "seed": 1, "epochs": 3}, Path("/runs/x"))
    assert params == {"epochs": 3, "run_dir": "/runs/x"}
    inside = parameters_for(notebook, {}, ROOT / "runs" / "x")
    assert inside["run_dir"] == "runs/x"


def test_only_and_from_select_notebooks():
    notebooks = [fake("01_a"), fake("02_b"), fake("03_c")]
    assert [nb.stem for nb in select(notebooks, ["2"], None)] == ["02_b"]
    assert [nb.stem for nb in select(notebooks, ["03_c", "01"], None)] == ["01_a", "03_c"]
    assert [nb.stem for nb in select(notebooks, None, "02")] == ["02_b", "03_c"]
    with pytest.raises(ProfileError, match="--only 09"):
        select(notebooks, ["09"], None)


RUN_PROFILES = sorted(p for p in (ROOT / "params").glob("*.yaml") if not p.name.startswith("pyradiomics"))


@pytest.mark.parametrize("profile", RUN_PROFILES, ids=lambda p: p.name)
def test_committed_profiles_only_use_declared_parameters_of_the_declared_types(profile, monkeypatch):
    notebooks = discover_notebooks(ROOT / "notebooks")
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # the paper profile asks for a GPU
    values = load_profile(profile)
    declared = {nb.stem: nb for nb in notebooks}
    owners = {key: [nb for nb in declared.values() if key in nb.declared] for key in values}
    assert {k for k, nbs in owners.items() if not nbs} <= {"name", "cell_timeout_s"}
    assert {k: nb.stem for k, nbs in owners.items() for nb in nbs if not fits(values[k], nb.default(k))} == {}
    check_unused_keys(notebooks, values, profile)
    check_types(notebooks, values, profile)


def test_the_paper_profile_stops_before_any_notebook_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CudaUnavailableError, match="dl_device 'cuda'.*sees no CUDA GPU"):
        load_profile(ROOT / "params" / "paper.yaml")


def test_a_value_of_the_wrong_type_is_refused_naming_the_notebook_and_its_default():
    notebooks = discover_notebooks(ROOT / "notebooks")
    profile = {
        "seed": 7,
        "protocol": "paper",
        "dl_learning_rate": "1e-4",
        "dl_blocks": "2,2,2",
        "check_images": 1,
        "dl_field_of_view_mm": 80,
        "rsf_node_sizes": [3, 5],
        "cell_timeout_s": "1h",
    }
    with pytest.raises(ProfileError) as caught:
        check_types(notebooks, profile, Path("site.yaml"))
    assert str(caught.value) == (
        "site.yaml: check_images is an int (1) but 01_cohort declares a bool (True); "
        "dl_blocks is a str ('2,2,2') but 06_densenet declares a list ([6, 12, 24, 16]); "
        "dl_learning_rate is a str ('1e-4') but 06_densenet declares a float (0.0001); "
        "cell_timeout_s must be an int, not '1h'"
    )


def test_every_closed_choice_default_in_the_notebooks_is_one_of_its_choices():
    defaults = {
        (nb.stem, key): nb.default(key)
        for nb in discover_notebooks(ROOT / "notebooks")
        for key in nb.declared
        if key in PARAMETER_CHOICES
    }
    assert {key for _, key in defaults} == set(PARAMETER_CHOICES)
    assert {k: v for k, v in defaults.items() if v not in choices(k[1])} == {}


def test_a_typo_stops_the_command_before_any_notebook(tmp_path, capsys):
    profile = tmp_path / "typo.yaml"
    profile.write_text("seed: 1\nprotocol: paper\np_method: lau92\n")
    assert run_main([str(profile), "--run-dir", str(tmp_path / "run"), "--no-book"]) == 2
    assert capsys.readouterr().err == f"[run] {profile}: p_method must be one of Lau92, Lau94, not 'lau92'\n"
    assert not (tmp_path / "run").exists()


def test_a_hung_cell_stops_the_notebook_naming_the_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("seconds = 30")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import time\ntime.sleep(seconds)")]
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "01_slow.ipynb")
    notebook = discover_notebooks(tmp_path / "nb")[0]
    record = execute(notebook, {}, tmp_path / "run" / "01_slow.ipynb", tmp_path / "run", cell_timeout_s=2)
    assert record["status"] == "failed" and record["wall_seconds"] < 25
    assert record["error"] == (
        "cell timeout: 01_slow.ipynb, cell 1 of the executed copy, ran longer than cell_timeout_s = 2 s "
        "(raise it in the profile if the cell is slow rather than hung)"
    )


def test_a_failing_cell_is_reported_with_notebook_cell_and_traceback(tmp_path):
    import nbformat

    from helpers.pipeline.runner import execute

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("run_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('boom: bad input')"),
    ]
    source = tmp_path / "01_failing.ipynb"
    nbformat.write(nb, source)
    record = execute(
        Notebook(source, {"run_dir": {}}), {"run_dir": str(tmp_path)}, tmp_path / "out" / "01_failing.ipynb", tmp_path
    )
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: boom: bad input"
    assert "boom" in record["traceback"] and record["cell"] >= 2
    assert record["executed"] == "out/01_failing.ipynb" and (tmp_path / "out" / "01_failing.ipynb").exists()


# ---------------------------------------------------------------- skipping unchanged notebooks

NOTEBOOKS = {  # name -> (parameters cell, body)
    "01_a": ("seed = 0\nworkers = 1", 'stage = Stage(run_dir, "01_a")\nstage.write_json({"value": seed}, "a.json")'),
    "02_b": (
        "scale = 1",
        'stage = Stage(run_dir, "02_b")\nstage.require("01_a")\n'
        'a = json.loads(stage.path("a.json").read_text())["value"]\n'
        'stage.write_json({"value": a * scale}, "b.json")',
    ),
    "03_c": (
        "label = ''\nworkers = 1",
        'stage = Stage(run_dir, "03_c")\nstage.require("02_b")\n'
        'b = json.loads(stage.path("b.json").read_text())["value"]\n'
        'stage.write_json({"value": b, "label": label}, "c.json")',
    ),
}
PROFILE = {"seed": 3, "workers": 2, "scale": 5, "label": "c"}
PREAMBLE = (
    "import json\nfrom pathlib import Path\nfrom helpers.pipeline.stage import Stage\nrun_dir = Path.cwd().parent"
)


def write_notebook(folder: Path, name: str, parameters: str, body: str) -> Path:
    """A tiny stage notebook; it finds its run directory from papermill's cwd (run_dir/notebooks)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {name}"),
        cell,
        nbformat.v4.new_code_cell(PREAMBLE),
        nbformat.v4.new_code_cell(body + "\nstage.finish();"),
    ]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def run_project(project: Path, profile: dict | None = None, **kwargs) -> dict[str, str]:
    """Run the project's notebooks; the status of each notebook from run_manifest.json."""
    notebooks = discover_notebooks(project / "nb")
    run_notebooks(notebooks, {**PROFILE, **(profile or {})}, project / "run", **kwargs)
    manifest = json.loads((project / "run" / "run_manifest.json").read_text(encoding="utf-8"))
    return {r["notebook"][:2]: r["status"] for r in manifest["notebooks"]}


def value(project: Path, name: str) -> dict:
    return json.loads((project / "run" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def frozen_helpers():
    """A constant helpers source hash, so that edits to src/helpers during the tests do not re-run notebooks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("helpers.pipeline.runner.helpers_source_hashes", lambda notebook: {"helpers": "frozen"})
        yield


@pytest.fixture(scope="module")
def first_run(frozen_helpers, tmp_path_factory) -> Path:
    """Three chained notebooks (01 -> 02 -> 03) run once; tests work on copies."""
    project = tmp_path_factory.mktemp("project")
    (project / "nb").mkdir()
    for name, (parameters, body) in NOTEBOOKS.items():
        write_notebook(project / "nb", name, parameters, body)
    assert run_project(project) == {"01": "ok", "02": "ok", "03": "ok"}
    return project


@pytest.fixture
def project(first_run, tmp_path) -> Path:
    return Path(shutil.copytree(first_run, tmp_path / "project"))


@pytest.mark.slow
def test_a_second_run_skips_every_notebook_and_keeps_its_record(project, capsys):
    before = json.loads((project / "run" / "run_manifest.json").read_text(encoding="utf-8"))["notebooks"]
    assert run_project(project) == {"01": "skipped", "02": "skipped", "03": "skipped"}
    after = json.loads((project / "run" / "run_manifest.json").read_text(encoding="utf-8"))["notebooks"]
    assert [r["wall_seconds"] for r in after] == [r["wall_seconds"] for r in before]
    assert [r["fingerprint"] for r in after] == [r["fingerprint"] for r in before]
    assert "02_b.ipynb: skipped (unchanged)" in capsys.readouterr().out
    assert value(project, "c.json") == {"value": 15, "label": "c"}


@pytest.mark.slow
def test_editing_a_notebook_reruns_it_and_the_notebooks_reading_its_changed_outputs(project):
    write_notebook(
        project / "nb", "02_b", NOTEBOOKS["02_b"][0], NOTEBOOKS["02_b"][1].replace("a * scale", "a * scale + 1")
    )
    assert run_project(project) == {"01": "skipped", "02": "ok", "03": "ok"}
    assert value(project, "c.json")["value"] == 16


@pytest.mark.slow
def test_an_edit_that_leaves_the_outputs_identical_reruns_only_that_notebook(project):
    write_notebook(project / "nb", "02_b", NOTEBOOKS["02_b"][0], "# a comment\n" + NOTEBOOKS["02_b"][1])
    assert run_project(project) == {"01": "skipped", "02": "ok", "03": "skipped"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, expected",
    [
        ({"scale": 6}, {"01": "skipped", "02": "ok", "03": "ok"}),  # declared by 02 only
        ({"label": "d"}, {"01": "skipped", "02": "skipped", "03": "ok"}),  # declared by 03 only
        ({"workers": 4}, {"01": "ok", "02": "skipped", "03": "ok"}),  # declared by 01 and 03; a.json unchanged
    ],
)
def test_a_parameter_change_reruns_the_notebooks_declaring_it_and_those_reading_changed_outputs(
    project, change, expected
):
    assert run_project(project, change) == expected


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["delete", "modify"])
def test_a_deleted_or_modified_output_reruns_its_producer(project, damage):
    output = project / "run" / "b.json"
    output.unlink() if damage == "delete" else output.write_text('{"value": 0}')
    assert run_project(project) == {"01": "skipped", "02": "ok", "03": "skipped"}  # b.json comes back identical
    assert value(project, "b.json") == {"value": 15}


@pytest.mark.slow
def test_force_reruns_every_notebook(project):
    assert run_project(project, force=True) == {"01": "ok", "02": "ok", "03": "ok"}


@pytest.mark.slow
def test_a_failed_notebook_is_recorded_and_rerun_once_fixed(project):
    source = NOTEBOOKS["02_b"]
    write_notebook(project / "nb", "02_b", source[0], "raise ValueError('broken')")
    assert run_project(project) == {"01": "skipped", "02": "failed", "03": "ok"}  # 03: its last record, not reached
    write_notebook(project / "nb", "02_b", *source)
    assert run_project(project) == {"01": "skipped", "02": "ok", "03": "skipped"}


@pytest.mark.slow
def test_only_keeps_the_records_of_notebooks_it_does_not_run(project):
    notebooks = discover_notebooks(project / "nb")
    run_notebooks(notebooks, PROFILE, project / "run", selected=notebooks[2:], force=True)
    manifest = json.loads((project / "run" / "run_manifest.json").read_text(encoding="utf-8"))
    assert [(r["notebook"], r["status"]) for r in manifest["notebooks"]] == [
        ("01_a.ipynb", "ok"),
        ("02_b.ipynb", "ok"),
        ("03_c.ipynb", "ok"),
    ]


@pytest.mark.slow
def test_fingerprint_follows_helpers_source_and_parameter_files(project, monkeypatch):
    notebook = discover_notebooks(project / "nb")[1]
    record = next(
        r
        for r in json.loads((project / "run" / "run_manifest.json").read_text(encoding="utf-8"))["notebooks"]
        if r["notebook"] == "02_b.ipynb"
    )
    params = record["parameters"]
    assert reason_to_run(record, fingerprint(notebook, params), project / "run") is None
    monkeypatch.setattr(
        "helpers.pipeline.runner.helpers_source_hashes",
        lambda notebook: {"helpers": "frozen", "helpers.models.fusion": "edited"},
    )
    assert (
        reason_to_run(record, fingerprint(notebook, params), project / "run")
        == "helpers source changed: helpers.models.fusion"
    )
    monkeypatch.undo()
    config = project / "config.yaml"
    config.write_text("a: 1\n")
    with_file = {**record, "fingerprint": fingerprint(notebook, {**params, "config": str(config)})}
    assert with_file["fingerprint"]["parameter_files"] == {"config": file_sha256(config)}
    config.write_text("a: 2\n")
    assert (
        reason_to_run(with_file, fingerprint(notebook, {**params, "config": str(config)}), project / "run")
        == "parameters changed: config"
    )


def test_the_source_hash_ignores_outputs_but_not_markdown_or_captions(tmp_path):
    import nbformat

    path = write_notebook(tmp_path, "01_a", *NOTEBOOKS["01_a"])
    original = notebook_source_hash(path)
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nb.cells[3].execution_count = 7
    nbformat.write(nb, path)
    assert notebook_source_hash(path) == original
    nb.cells[0].source = "# 01 renamed"
    nbformat.write(nb, path)
    renamed = notebook_source_hash(path)
    assert renamed != original
    nb.cells[3].metadata["mystnb"] = {"figure": {"caption": "Paper Fig. 4: {glue:text}`auc_test_36:.3f`"}}
    nbformat.write(nb, path)
    assert notebook_source_hash(path) != renamed  # the published copy must carry the new caption


# ---------------------------------------------------------------- what the book publishes


def test_the_published_notebook_hides_private_parameters_and_local_paths(tmp_path):
    import nbformat

    source = write_notebook(tmp_path, "01_a", "manifest = ''\nrun_dir = ''\nseed = 0", "x = 1")
    params = {"manifest": "/data/PANC-0001-JohnDoe/manifest.csv", "run_dir": "/home/me/runs/x", "seed": 3}
    executed = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(source), str(executed), parameters=params, kernel_name="python3", progress_bar=False, prepare_only=True
    )
    published = publishable(nbformat.read(executed, as_version=4))
    text = nbformat.writes(published)
    assert "JohnDoe" not in text and "/home/me" not in text and str(tmp_path) not in text
    injected = next(c for c in published.cells if "injected-parameters" in c.metadata["tags"])
    assert injected.source == f'# Parameters\nmanifest = "{UNPUBLISHED}"\nrun_dir = "{UNPUBLISHED}"\nseed = 3\n'
    assert published.metadata.papermill.parameters == {"manifest": UNPUBLISHED, "run_dir": UNPUBLISHED, "seed": 3}
    tags = [cell.metadata["tags"] for cell in published.cells if cell.cell_type == "code"]
    assert tags[:2] == [["parameters", "remove-cell"], ["injected-parameters", "remove-cell"]]
    assert len(tags) > 2 and all(cell_tags == ["hide-input"] for cell_tags in tags[2:])
    assert publishable_parameters({"manifest": "", "run_dir": "runs/x"}) == {"manifest": "", "run_dir": "runs/x"}


def test_closed_choices_and_a_missing_gpu_are_refused_before_any_notebook(tmp_path, monkeypatch):
    def profile(**values) -> Path:
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump({"seed": 1, "protocol": "paper", **values}))
        return path

    with pytest.raises(ProfileError, match=r"site.yaml: risk_horizon must be one of 12, 24, 36, not 48"):
        load_profile(profile(risk_horizon=48))
    with pytest.raises(ProfileError, match="label_policy must be one of paper, known_status, ipcw, not 'drop'"):
        load_profile(profile(label_policy="drop"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ProfileError, match="site.yaml: dl_device 'cuda' but PyTorch .* sees no CUDA GPU"):
        load_profile(profile(dl_device="cuda"))
    assert load_profile(profile(dl_device="cpu", risk_horizon=36))["risk_horizon"] == 36


@pytest.mark.slow
def test_an_input_image_replaced_under_its_name_reruns_the_notebook_tracking_it_and_those_after(
    frozen_helpers, tmp_path
):
    images = tmp_path / "images"
    images.mkdir()
    (images / "ct.nii").write_bytes(b"first scan")
    (tmp_path / "nb").mkdir()
    write_notebook(
        tmp_path / "nb",
        "01_a",
        "seed = 0\nimages = ''",
        'stage = Stage(run_dir, "01_a")\nstage.track_files([str(Path(images) / "ct.nii")])\n'
        'stage.write_json({"value": seed}, "a.json")',
    )
    write_notebook(tmp_path / "nb", "02_b", "scale = 1", NOTEBOOKS["02_b"][1])
    notebooks = discover_notebooks(tmp_path / "nb")
    profile = {"seed": 3, "images": str(images), "scale": 5}

    def run() -> list[str]:
        run_notebooks(notebooks, profile, tmp_path / "run")
        return [r["status"] for r in json.loads((tmp_path / "run" / "run_manifest.json").read_text())["notebooks"]]

    assert run() == ["ok", "ok"] and run() == ["skipped", "skipped"]
    (images / "ct.nii").write_bytes(b"other scan")  # same name, same size, new content
    previous = json.loads((tmp_path / "run" / "run_manifest.json").read_text())["notebooks"]
    reason = reason_to_run(previous[0], fingerprint(notebooks[0], previous[0]["parameters"]), tmp_path / "run")
    assert reason == f"input files changed: 1 of 1 (first: {images / 'ct.nii'})"
    assert run() == ["ok", "ok"]  # 01 for the image, 02 because 01's input_files digest changed
    digest = json.loads((tmp_path / "run" / "input_files" / "01_a.json").read_text())
    assert digest["files"] == 1 and str(images) not in json.dumps(digest)


def test_progress_shows_the_cells_done_and_the_kernels_own_bars_live(tmp_path, capsys):
    """What ``make book`` prints in a terminal: papermill's bar of cells done of all and their time, and the
    kernel's standard error (the helpers' tqdm bars) as it is written, not only in the executed copy."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import sys"), nbformat.v4.new_code_cell("print('halfway', file=sys.stderr)")]
    path = tmp_path / "01_live.ipynb"
    nbformat.write(nb, path)
    record = execute(
        Notebook(path, {}), {}, tmp_path / "run" / "notebooks" / path.name, tmp_path / "run", progress=True
    )
    err = capsys.readouterr().err
    assert record["status"] == "ok" and "halfway" in err and "01_live" in err and "2/2" in err


def test_the_time_left_comes_from_the_last_runs_times_of_this_notebook_and_those_after_it(tmp_path):
    first, second = Notebook(tmp_path / "01_a.ipynb", {}), Notebook(tmp_path / "02_b.ipynb", {})
    records = {"01_a.ipynb": {"wall_seconds": 30.0}, "02_b.ipynb": {"wall_seconds": 570.0}}
    assert time_left(records, [first, second]) == " last run 30 s; at most about 10 min left for the 2 to go"
    assert time_left({}, [first, second]) == "" and time_left({"02_b.ipynb": {"wall_seconds": 5}}, [first]) == ""
