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
EXPECTED_NAMES = (
    "01_cohort",
    "02_icc",
    "03_extraction",
    "04_pca_lasso",
    "05_rsf",
    "06_densenet",
    "07_fusion",
    "08_stratification",
    "09_reproduction",
    "10_protocols",
    "11_uncertainty",
    "12_optimism_seeds",
)
MAX_FUNCTION_LINES = 5
MAX_CELL_LINES = 15  # lines of code (not blank, not comment) in one code cell
MAX_NOTEBOOK_LINES = 60  # lines of code in a notebook, its parameters cell excluded
FIGURE_CALL = re.compile(r'stage\.save_figure\(.+, "(?P<subject>[a-z0-9_]+)"(?:, paper="(?P<paper>S?[0-9]+)")?\)')


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
        scalar = (str, int, float, bool)
        assert isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value)), (
            f"parameters must be scalars or lists of scalars: {ast.unparse(statement)}"
        )
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


def code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def analysis_cells(path: Path) -> list:
    return [
        c
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_narrates_in_short_cells_and_leaves_the_computing_to_helpers(path):
    lengths = [code_lines(c.source) for c in analysis_cells(path)]
    assert max(lengths) <= MAX_CELL_LINES, f"a code cell of {max(lengths)} lines: move the logic into helpers"
    assert sum(lengths) <= MAX_NOTEBOOK_LINES, f"{sum(lengths)} lines of code: move the logic into helpers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_setup_cell_opens_the_stage_and_prints_the_package_versions(path):
    setup = next(c.source for c in analysis_cells(path) if "Stage.open(" in c.source)
    assert f'Stage.open(run_dir, "{path.stem}", globals())' in setup and "print_config()" in setup


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_follows_the_naming_scheme_and_has_a_caption_and_a_label(path):
    from helpers.pipeline.stage import figure_label, figure_name

    for cell in analysis_cells(path):
        calls = [FIGURE_CALL.search(line) for line in cell.source.splitlines() if "save_figure(" in line]
        if not calls:
            continue
        assert len(calls) == 1 and calls[0], f"one save_figure call a cell, in the scheme: {cell.source}"
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        name = figure_name(path.stem, calls[0]["subject"], calls[0]["paper"])
        assert figure.get("name") == figure_label(name) and len(figure.get("caption", "")) > 20
        assert (calls[0]["paper"] is None) != figure["caption"].startswith(f"Paper Fig. {calls[0]['paper']}:")
        # the figure is the cell's only displayed output: MyST-NB wraps each display in the caption
        last = ast.parse(cell.source).body[-1]
        assert "display(" not in cell.source and not (
            isinstance(last, ast.Expr)
            and not (
                isinstance(last.value, ast.Call) and ast.unparse(last.value.func) in ("stage.save_figure", "print")
            )
        )
        assert not (isinstance(last, ast.Expr) and "save_figure" in ast.unparse(last)) or cell.source.rstrip().endswith(
            ";"
        )


def test_figure_names_are_unique_across_the_book():
    labels = [
        c.metadata["mystnb"]["figure"]["name"]
        for path in NOTEBOOKS
        for c in analysis_cells(path)
        if "mystnb" in c.metadata
    ]
    assert len(labels) == len(set(labels)) == 22


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_import_of_a_notebook_is_used(path):
    tree = ast.parse("\n".join(c.source for c in analysis_cells(path)))
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert imported - used == set()
