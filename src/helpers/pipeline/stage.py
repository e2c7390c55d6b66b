"""Artifacts of one notebook ("stage") in a run directory, with a manifest per stage.

Notebooks talk to each other only through files in the run directory. Each stage writes its
outputs atomically and records them, with their hashes, its parameters, package versions
and wall time, in ``manifests/<stage>.json``; a later stage checks those hashes when it
reads them, so a stale or half-written input is caught instead of silently used.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.pipeline.files import atomic_path, file_sha256, repo_root, resolve_path, write_json, write_parquet

TRACKED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "scikit-survival", "lifelines",
    "pyradiomics", "SimpleITK", "torch", "monai", "papermill", "jupyter-book",
)


class StaleInputError(RuntimeError):
    """An input artifact is missing or differs from what its producing stage recorded."""


def declared_parameters(notebook: Path) -> list[str]:
    """Names assigned in a notebook's cell tagged ``parameters`` (papermill's own parser)."""
    import papermill

    return list(papermill.inspect_notebook(str(notebook)))


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour shapes the results."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class Stage:
    """One notebook's view of the run directory: inputs it checks, outputs it records."""

    run_dir: Path
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(cls, run_dir: str | os.PathLike[str], name: str, namespace: dict[str, Any]) -> "Stage":
        """Start a stage: create the run directory and record the notebook's parameters.

        ``namespace`` is the notebook's ``globals()``; the values recorded are those of the
        names its ``parameters`` cell declares, whoever set them (papermill or a user).
        """
        root = resolve_path(run_dir)
        (root / "figures").mkdir(parents=True, exist_ok=True)
        declared = declared_parameters(repo_root() / "notebooks" / f"{name}.ipynb")
        params = {key: namespace[key] for key in declared if key in namespace and key != "run_dir"}
        return cls(run_dir=root, name=name, params=params)

    def path(self, relative: str) -> Path:
        """Absolute path of an artifact inside the run directory."""
        return self.run_dir / relative

    def require(self, stage_name: str) -> dict[str, Any]:
        """Load an earlier stage's manifest and verify every output it recorded."""
        manifest_path = self.run_dir / "manifests" / f"{stage_name}.json"
        if not manifest_path.exists():
            raise StaleInputError(
                f"{self.name} needs the outputs of {stage_name}, but {manifest_path} does not "
                f"exist: run notebook {stage_name} first (python -m helpers.run <profile> --only "
                f"{stage_name[:2]})."
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for relative, digest in manifest["outputs"].items():
            artifact = self.run_dir / relative
            if not artifact.exists():
                raise StaleInputError(f"{stage_name} recorded {relative}, which is missing from {self.run_dir}.")
            if file_sha256(artifact) != digest:
                raise StaleInputError(
                    f"{relative} changed after {stage_name} wrote it: re-run {stage_name} "
                    "so that its manifest and artifacts agree."
                )
        self.inputs[stage_name] = manifest["outputs"]
        return manifest

    def record(self, path: Path) -> Path:
        """Register an artifact written by this stage (hashed when the stage finishes)."""
        self.outputs[str(path.relative_to(self.run_dir))] = ""
        return path

    def write_parquet(self, frame: pd.DataFrame, relative: str) -> Path:
        """Write and register a table."""
        return self.record(write_parquet(frame, self.path(relative)))

    def write_json(self, obj: Any, relative: str) -> Path:
        """Write and register a JSON document."""
        return self.record(write_json(obj, self.path(relative)))

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as PNG and SVG under figures/, named after the paper's figure."""
        png = self.path(f"figures/{name}.png")
        svg = self.path(f"figures/{name}.svg")
        for target, kwargs in ((png, {"dpi": 150}), (svg, {"metadata": {"Date": None}})):
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=target.suffix[1:], bbox_inches="tight", **kwargs)
            self.record(target)
        return png

    def add_metrics(self, values: dict[str, Any]) -> None:
        """Merge this stage's headline numbers into the run's shared metrics.json."""
        path = self.path("metrics.json")
        merged = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        merged[self.name] = values
        write_json(merged, path)

    def finish(self) -> Path:
        """Hash the outputs and write this stage's manifest (the last thing a notebook does)."""
        manifest = {
            "stage": self.name,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "params": self.params,
            "inputs": self.inputs,
            "outputs": {rel: file_sha256(self.run_dir / rel) for rel in sorted(self.outputs)},
            "versions": package_versions(),
        }
        return write_json(manifest, self.run_dir / "manifests" / f"{self.name}.json")
