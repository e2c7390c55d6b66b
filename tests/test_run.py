"""The papermill runner: profiles, parameter routing and notebook selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.run import Notebook, ProfileError, check_unused_keys, discover_notebooks, load_profile, parameters_for, select

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


def fake(name: str, *params: str) -> Notebook:
    return Notebook(Path(f"/nb/{name}.ipynb"), {p: {} for p in params})


def test_profile_name_defaults_to_file_stem(tmp_path):
    assert load_profile(write(tmp_path, "seed: 1\nprotocol: paper\n"))["name"] == "profile"


@pytest.mark.parametrize("text, message", [
    ("protocol: paper\n", "seed"),
    ("seed: 1\n", "protocol"),
    ("seed: 1\nprotocol: strict\n", "'paper' or 'rigorous'"),
    ("seed: 1\nprotocol: paper\nhorizons: [12, 24]\n", "flat scalars; nested: horizons"),
])
def test_bad_profiles_are_refused(tmp_path, text, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(write(tmp_path, text))


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
def test_committed_profiles_only_use_declared_parameters(profile):
    notebooks = discover_notebooks(ROOT / "notebooks")
    check_unused_keys(notebooks, load_profile(profile), profile)


def test_a_failing_cell_is_reported_with_notebook_cell_and_traceback(tmp_path):
    import nbformat

    from helpers.run import execute

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("run_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom: bad input')")]
    source = tmp_path / "01_failing.ipynb"
    nbformat.write(nb, source)
    record = execute(Notebook(source, {"run_dir": {}}), {"run_dir": str(tmp_path)}, tmp_path / "out" / "01_failing.ipynb", tmp_path)
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: boom: bad input"
    assert "boom" in record["traceback"] and record["cell"] >= 2
    assert record["executed"] == "out/01_failing.ipynb" and (tmp_path / "out" / "01_failing.ipynb").exists()
