"""The numbered notebooks a run executes, the parameters each declares and the selection of a run."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import papermill

from helpers.pipeline.files import repo_root

LABEL_POLICY_OVERRIDE = "label_policy_differs_from_paper"  # protocol: paper with another label policy, on purpose
RESERVED_KEYS = ("name", "cell_timeout_s", LABEL_POLICY_OVERRIDE)  # the runner's own keys, passed to no notebook
EXECUTED = "notebooks"  # executed copies, inside the run directory

KERNEL = "python3"


@dataclass(frozen=True)
class Notebook:
    """A numbered source notebook and the parameters it declares."""

    path: Path
    declared: dict[str, Any]

    @property
    def number(self) -> str:
        return self.path.name[:2]

    @property
    def stem(self) -> str:
        return self.path.stem

    def default(self, key: str) -> Any:
        """The value a declared parameter has in the notebook's ``parameters`` cell (None if not a literal)."""
        try:
            return ast.literal_eval(self.declared[key]["default"])
        except (ValueError, SyntaxError):
            return None


def discover_notebooks(folder: Path) -> list[Notebook]:
    """The numbered notebooks ``NN_name.ipynb`` in order, with their declared parameters."""
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    return [Notebook(p, dict(papermill.inspect_notebook(str(p)))) for p in paths]


def parameters_for(notebook: Notebook, profile: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The subset of the profile that this notebook declares, plus its run directory."""
    chosen = {k: v for k, v in profile.items() if k in notebook.declared and k not in RESERVED_KEYS}
    if "run_dir" in notebook.declared:  # relative to the project root when inside it: no local paths in the book
        chosen["run_dir"] = (
            str(run_dir.relative_to(repo_root())) if run_dir.is_relative_to(repo_root()) else str(run_dir)
        )
    return chosen
