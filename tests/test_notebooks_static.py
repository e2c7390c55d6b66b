"""Committed notebooks are clean, numbered, parameterised and listed in the book."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED_NAMES = ("01_cohort", "02_icc", "03_extraction", "04_pca_lasso", "05_rsf", "06_densenet",
                  "07_fusion", "08_stratification", "09_reproduction", "10_protocols", "11_uncertainty")
MAX_FUNCTION_LINES = 5


def toc_files(node) -> list[str]:
    """Every ``file:`` entry of a _toc.yml tree."""
    found = []
    if isinstance(node, dict):
        found += [node["file"]] if "file" in node else []
        found += [f for value in node.values() for f in toc_files(value)]
    elif isinstance(node, list):
        found += [f for item in node for f in toc_files(item)]
    return found


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_with_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs committed"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    tree = ast.parse(tagged[0].source)
    for statement in tree.body:
        assert isinstance(statement, ast.Assign), f"not an assignment: {ast.unparse(statement)}"
        value = ast.literal_eval(statement.value)
        assert isinstance(value, (str, int, float, bool)), (
            f"parameters must be flat scalar assignments: {ast.unparse(statement)}")
    assigned = {t.id for s in tree.body for t in s.targets}
    assert "run_dir" in assigned
    assert set(papermill.inspect_notebook(str(path))) == assigned, "papermill cannot parse a parameter line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_numbered_and_narrative(path):
    assert path.stem in EXPECTED_NAMES
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {path.stem[:2]}")
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= MAX_FUNCTION_LINES, f"{node.name}: logic belongs in helpers"


def test_toc_lists_exactly_the_notebooks_that_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = {Path(f).name for f in toc_files(toc) if f.startswith("book/notebooks/")}
    assert listed == {p.stem for p in NOTEBOOKS}


def test_every_toc_page_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"], *toc_files(toc)]
    missing = [p for p in pages if not p.startswith("book/notebooks/") and not (ROOT / f"{p}.md").exists()]
    assert not missing
    assert re.fullmatch(r"book/\w+", toc["root"])
