"""The helper package's layers: each imports only the layers below it, and prose names real modules.

The order follows the study and what each layer needs: ``vocabulary`` (shared names) imports
nothing of the package; the ``pipeline`` (runner, stages, files) knows files and hashes, not
science; ``evaluation`` sits below the models because they choose checkpoints and tune on its
metrics, and below ``synthetic`` because the oracle is scored with them.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest

import helpers
from helpers.pipeline.dependencies import module_file, notebook_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(helpers.__file__).parent
LAYERS = (
    "vocabulary",
    "errors",
    "pipeline",
    "data",
    "evaluation",
    "synthetic",
    "features",
    "models",
    "study",
    "report",
    "run",
)
PROSE = [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md")), *sorted((ROOT / "book").glob("*.yaml"))]
DOTTED = re.compile(r"(?<![\w./-])helpers(?:\.[A-Za-z_]\w*)+")


def layer_of(module: str) -> str:
    """``helpers.models.deep.training`` -> ``models``; ``helpers`` itself is outside the layers."""
    parts = module.split(".")
    assert parts[0] == "helpers" and len(parts) > 1, module
    assert parts[1] in LAYERS, f"{module}: not in a known layer (add it to LAYERS)"
    return parts[1]


def helpers_imports(source: str, module: str = "") -> list[tuple[int, str]]:
    """(line, imported helpers module) for every import in Python source, lazy ones in functions included;
    a relative import is resolved against ``module``, the importing module's dotted name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(module.split(".")[: -node.level])
            found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            if node.module == "helpers":
                found += [(node.lineno, f"helpers.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("helpers.")]
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def upward_imports(module: str, source: str) -> list[str]:
    """The imports of ``module`` (its source given) that reach a layer above its own."""
    own = LAYERS.index(layer_of(module))
    return [
        f"{module}:{line} imports {target}"
        for line, target in helpers_imports(source, module)
        if LAYERS.index(layer_of(target)) > own
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_a_module_imports_only_its_own_layer_and_those_below(path):
    assert upward_imports(module_name(path), path.read_text(encoding="utf-8")) == []


def test_the_vocabulary_imports_nothing_of_the_package():
    for name in ("vocabulary", "errors"):
        assert helpers_imports((PACKAGE / f"{name}.py").read_text(encoding="utf-8"), f"helpers.{name}") == []


def test_an_upward_import_is_caught_absolute_relative_or_lazy():
    source = "from helpers.models.fusion import fuse\nfrom ..study import protocols\n\ndef f():\n    import helpers.report.plots\n"
    assert upward_imports("helpers.pipeline.probe", source) == [
        "helpers.pipeline.probe:1 imports helpers.models.fusion",
        "helpers.pipeline.probe:2 imports helpers.study",
        "helpers.pipeline.probe:5 imports helpers.report.plots",
    ]


def resolves(dotted: str) -> bool:
    """Whether ``helpers.a.b.c`` names an importable module or an attribute of one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def stale_paths(text: str) -> list[str]:
    """Dotted ``helpers.…`` paths in prose that name no module or attribute (a moved or renamed helper)."""
    return sorted({m.group(0) for m in DOTTED.finditer(text) if not resolves(m.group(0))})


def docstrings(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)))]
    return "\n".join(ast.get_docstring(n) or "" for n in nodes)


@pytest.mark.parametrize("path", PROSE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_prose_names_only_existing_helpers(path):
    assert stale_paths(path.read_text(encoding="utf-8")) == []


def test_docstrings_name_only_existing_helpers():
    stale = {module_name(p): stale_paths(docstrings(p)) for p in MODULES}
    assert {name: paths for name, paths in stale.items() if paths} == {}


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_prose_names_only_existing_helpers(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    assert stale_paths("\n".join(c.source for c in cells if c.cell_type == "markdown")) == []


def test_a_stale_path_is_caught():
    text = "read by `helpers.io.read_manifest`, run by `python -m helpers.run`, built by helpers.pipeline.book"
    assert stale_paths(text) == ["helpers.io.read_manifest"]


def test_a_notebook_depends_on_the_helpers_it_imports_transitively_and_no_other():
    closures = {nb.stem: set(notebook_modules(nb)) for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    everything = set().union(*closures.values())
    assert not {"helpers.report.tripod", "helpers.report.performance", "helpers.pipeline.runner"} & everything
    assert "helpers.models.fusion" in closures["07_fusion"] and "helpers.models.fusion" not in closures["05_rsf"]
    # transitively, and through a lazy import inside a function (radiomics imports the mask reader there)
    assert {"helpers.pipeline.files", "helpers.data.masks", "helpers.features"} <= closures["03_extraction"]
    assert "helpers.models.deep.training" not in closures["03_extraction"]


def defined_names(module: str) -> set[str]:
    """Top-level names a helpers module defines itself (functions, classes, assignments), not those it imports."""
    path = module_file(module)
    assert path is not None, module
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def borrowed_imports(source: str) -> list[str]:
    """``from helpers.x import name`` where ``x`` neither defines ``name`` nor has a submodule of that name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers") and not node.level:
            for alias in node.names:
                submodule = module_file(f"{node.module}.{alias.name}")
                if submodule is None and alias.name not in defined_names(node.module):
                    found.append(f"{node.module}.{alias.name}")
    return found


SOURCES = [*MODULES, *sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_names_are_imported_from_the_module_that_defines_them(path):
    assert borrowed_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_import_names_from_the_module_that_defines_them(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    assert borrowed_imports("\n".join(c.source for c in cells if c.cell_type == "code")) == []


def test_a_borrowed_import_is_caught():
    assert borrowed_imports("from helpers.models.deep.training import resolve_device") == [
        "helpers.models.deep.training.resolve_device"
    ]
