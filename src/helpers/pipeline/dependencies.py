"""Which ``helpers`` modules a notebook runs: the ones it imports, and theirs, transitively.

The runner re-runs a notebook when one of these changes and not when another module does, so
editing a report page generator re-runs nothing and editing the fusion step re-runs only the
notebooks that import it (and, through their changed outputs, those that read them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

import helpers
from helpers.pipeline.files import file_sha256

PACKAGE = Path(helpers.__file__).parent


def module_file(module: str) -> Path | None:
    """The source file of a dotted module name such as ``helpers.models.fusion`` (a module or a package's
    ``__init__``), None when there is none."""
    parts = module.split(".")[1:]
    candidate = PACKAGE.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(source: str) -> set[str]:
    """The ``helpers`` modules that Python source imports, lazy imports inside functions included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
    return {name for name in found if module_file(name)}


def with_packages(modules: set[str]) -> set[str]:
    """Add the packages that importing each module runs (``helpers.models.deep.config`` -> ``helpers.models`` ...)."""
    return modules | {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)}


def module_closure(modules: set[str]) -> list[str]:
    """``modules`` and every ``helpers`` module they import, transitively, sorted."""
    seen, todo = set(), set(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is not None:
            todo |= with_packages(imported_modules(path.read_text(encoding="utf-8"))) - seen
    return sorted(with_packages(seen))


def notebook_modules(notebook: Path) -> list[str]:
    """The ``helpers`` modules a notebook's code cells run, transitively."""
    cells = nbformat.read(notebook, as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())  # magics
    return module_closure(imported_modules(code))


def module_hashes(modules: list[str]) -> dict[str, str]:
    """Content hash of each module's source file."""
    return {name: file_sha256(path) for name in modules if (path := module_file(name)) is not None}
