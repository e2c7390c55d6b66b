"""Artifacts of one notebook ("stage") in a run directory, with a manifest per stage.

Notebooks talk to each other only through files in the run directory. Each stage writes its
outputs atomically and records them, with their hashes, its parameters, package versions
and wall time, in ``manifests/<stage>.json``; a later stage checks those hashes when it
reads them, so a stale or half-written input is caught instead of silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

TRACKED_PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "scikit-survival", "lifelines",
    "pyradiomics", "SimpleITK", "torch", "monai", "papermill", "jupyter-book",
)


class StaleInputError(RuntimeError):
    """An input artifact is missing or differs from what its producing stage recorded."""


def repo_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder above ``start`` holding ``_config.yml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").exists() and (folder / "src" / "helpers").exists():
            return folder
    return Path(__file__).resolve().parents[2]


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """Absolute path; a relative one is taken from the project root, not from the cwd.

    Notebooks run from ``notebooks/`` in JupyterLab and from ``<run_dir>/notebooks/`` under
    papermill, so the same parameter must mean the same folder in both.
    """
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else repo_root() / candidate


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` and rename it into place on success only.

    ``suffix`` lets writers that choose a format by file ending (SimpleITK) see the right one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically with stable key order (diff-friendly, deterministic)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table atomically; the index is kept only when it carries information."""
    keep_index = not isinstance(frame.index, pd.RangeIndex)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=keep_index)
    return path


def write_generated_page(root: Path, relative: Path, page: str, regenerate: str, check: bool) -> int:
    """Write a page generated from data (exit status 0), or with ``check`` only compare it: 1 when the
    committed file differs, with the command that regenerates it."""
    target = root / relative
    if check:
        if not target.exists() or target.read_text(encoding="utf-8") != page:
            print(f"{relative.as_posix()} is stale: regenerate it with `{regenerate}`", file=sys.stderr)
            return 1
        return 0
    target.write_text(page, encoding="utf-8")
    print(f"wrote {relative.as_posix()}")
    return 0


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


def _json_default(value: Any) -> Any:
    """Make numpy scalars, paths and timestamps JSON-serialisable."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, pd.Timestamp, datetime)):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
