"""The published book of a run: executed notebooks scrubbed of private values, staged and built."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from papermill.translators import translate_parameters

from helpers.pipeline.files import repo_root, resolve_path
from helpers.pipeline.notebooks import EXECUTED, KERNEL

BOOK_SOURCES = ("_config.yml", "_toc.yml")

PRIVATE_PARAMETERS = ("manifest", "dl_pretrained")  # local paths: a real cohort's may name patients or a site
UNPUBLISHED = "<not published>"
# MyST-NB cell tags of the published chapters: the parameter cells (each chapter prints its configuration) left
# out of the page, every other cell's code folded behind a toggle above its output
READER_TAGS = {"parameters": "remove-cell", "code": "hide-input"}


def stage_book(root: Path, run_dir: Path, staging: Path) -> Path:
    """Assemble a buildable copy of the book: the project's pages plus this run's executed notebooks.

    Building from a staging folder keeps the working tree untouched and lets two runs (a test
    and a user's book) build at the same time without overwriting each other's notebooks.
    """
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in BOOK_SOURCES:
        shutil.copy2(root / name, staging / name)
    shutil.copytree(root / "book", staging / "book", ignore=shutil.ignore_patterns("notebooks", ".ipynb_checkpoints"))
    publish_notebooks(run_dir, staging / "book" / "notebooks")
    return staging


def publish_notebooks(run_dir: Path, folder: Path) -> list[Path]:
    """Write ``run_dir``'s executed notebooks, scrubbed (``publishable``), into ``folder``, replacing its
    notebooks: the book's analysis chapters. Returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.ipynb"):
        old.unlink()
    written = []
    for executed in sorted((run_dir / EXECUTED).glob("*.ipynb")):
        nbformat.write(publishable(nbformat.read(executed, as_version=4)), folder / executed.name)
        written.append(folder / executed.name)
    return written


def publishable_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the book may show them: private ones and absolute (local) paths replaced."""

    def hidden(key: str, value: Any) -> bool:
        return isinstance(value, str) and bool(value) and (key in PRIVATE_PARAMETERS or Path(value).is_absolute())

    return {key: UNPUBLISHED if hidden(key, value) else value for key, value in params.items()}


def publishable(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An executed notebook without local paths or private parameters, for the book, tagged for reading.

    papermill writes the parameters into an injected cell and, with the source and output
    paths, into the notebook's metadata; the book publishes both (the page and its .ipynb), scrubbed. The page
    leaves out both parameter cells and folds every other cell's code (``READER_TAGS``).
    """
    meta = notebook.metadata.get("papermill", {})
    params = publishable_parameters(meta.get("parameters", {}))
    meta.update(parameters=params, input_path=None, output_path=None)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            cell.source = translate_parameters(KERNEL, "python", params, "Parameters")
        if cell.cell_type == "code":
            tags.append(READER_TAGS["parameters" if {"parameters", "injected-parameters"} & set(tags) else "code"])
    return notebook


def build_book(root: Path, run_dir: Path, output: Path | None = None) -> Path:
    """Build the Jupyter Book of ``run_dir`` in strict mode (any warning or broken reference fails).

    The HTML lands in ``<output or root>/_build/html``; returns that folder.
    """
    output = (output or root).resolve()
    source = stage_book(root, run_dir, output / "_build" / "source")
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(source),
        "--builder",
        "html",
        "-W",
        "-n",
        "--keep-going",
        "--path-output",
        str(output),
    ]
    print("[run] jupyter-book " + " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=source)
    return output / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.pipeline.book RUN_DIR``: build the book of a run executed outside the runner (a CI job
    that ran papermill one notebook at a time); returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline.book", description="Build the book of a run.")
    parser.add_argument("run_dir", type=Path, help="the run folder the notebooks wrote to (their run_dir)")
    parser.add_argument("--output", type=Path, help="where _build/html goes (default: the project root)")
    args = parser.parse_args(argv)
    run_dir = resolve_path(args.run_dir)
    executed = sorted((run_dir / EXECUTED).glob("*.ipynb"))
    if not executed:
        print(f"[book] no executed notebooks in {run_dir / EXECUTED}: run the notebooks into {run_dir} first")
        return 1
    html = build_book(repo_root(), run_dir, resolve_path(args.output) if args.output else None)
    print(f"[book] {len(executed)} chapters: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
