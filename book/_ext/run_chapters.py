"""Stop ``jupyter-book build .`` at once when the analysis chapters of a run are not there.

The chapters under ``book/notebooks/`` are a run's executed notebooks, which ``make book`` (the runner) publishes
there, scrubbed of private values. Without them Sphinx would build a book of the static pages only, with a
"nonexisting document" warning per chapter; this says what to do instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CHAPTERS = "book/notebooks/"


def _toc_files(entries: Any) -> list[str]:
    """Every ``file`` of a Jupyter Book table of contents, depth first."""
    if isinstance(entries, dict):
        found = [entries["file"]] if "file" in entries else []
        return found + [f for value in entries.values() if isinstance(value, list) for f in _toc_files(value)]
    if isinstance(entries, list):
        return [f for entry in entries for f in _toc_files(entry)]
    return []


def missing_chapters(source: Path) -> list[str]:
    """The run chapters the table of contents names that ``source`` lacks (as .ipynb)."""
    toc = yaml.safe_load((source / "_toc.yml").read_text(encoding="utf-8"))
    chapters = [f for f in _toc_files(toc) if f.startswith(CHAPTERS)]
    return [f for f in chapters if not (source / f"{f}.ipynb").exists()]


def _check(app: Any, config: Any) -> None:
    """Refuse to build a book whose run chapters are missing, naming them and the command that makes them; one
    line and exit status 1 (SystemExit passes Sphinx's and jupyter-book's handlers, which would add tracebacks)."""
    missing = missing_chapters(Path(app.srcdir))
    if missing:
        names = ", ".join(Path(f).name for f in missing)
        raise SystemExit(
            f"[book] the analysis chapters come from a run, and {CHAPTERS} lacks {len(missing)} of them ({names}): "
            "run `make book` (or `python -m helpers.run params/<profile>.yaml`) first; it executes the notebooks "
            f"and publishes them to {CHAPTERS}, after which `jupyter-book build .` builds the book of that run"
        )


def setup(app: Any) -> dict[str, bool]:
    """Check the chapters as soon as the configuration is read."""
    app.connect("config-inited", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
