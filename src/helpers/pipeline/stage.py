"""Artifacts of one notebook ("stage") in a run directory, with a manifest per stage.

Notebooks talk to each other only through files in the run directory. Each stage writes its
outputs atomically and records them, with their hashes, its parameters, package versions
and wall time, in ``manifests/<stage>.json``. A later stage reads another's file only through
``input`` / ``read_parquet`` / ``read_json``, which find its producer in the artifact contract
(``helpers.pipeline.artifacts``) and check the hashes that producer recorded, so a missing,
stale or half-written input stops the notebook with a message naming the file and its producer.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.errors import StaleInputError, UndeclaredArtifactError
from helpers.pipeline.artifacts import PRODUCERS, metrics_file, producer_of
from helpers.pipeline.files import (
    atomic_path,
    file_sha256,
    repo_root,
    resolve_path,
    source_hashes,
    write_json,
    write_parquet,
)
from helpers.pipeline.glue import glue_numbers

TRACKED_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "scikit-survival",
    "lifelines",
    "pyradiomics",
    "SimpleITK",
    "torch",
    "monai",
    "papermill",
    "jupyter-book",
)


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


FIGURE_SUBJECT = re.compile(r"[a-z][a-z0-9_]*")
PAPER_FIGURE = re.compile(r"S?[0-9]+")


def figure_name(stage: str, subject: str, paper: str | None = None) -> str:
    """The one naming scheme of the book's figures: notebook number, the paper's figure when it has one, subject.

    ``figure_name("05_rsf", "rsf_roc", "4")`` is ``05_fig4_rsf_roc``; the book labels it ``fig-05-fig4-rsf-roc``.
    """
    if not FIGURE_SUBJECT.fullmatch(subject) or (paper is not None and not PAPER_FIGURE.fullmatch(paper)):
        raise ValueError(
            f"figure subject {subject!r} (lower-case words joined by _) or paper figure {paper!r} "
            "(a number, S for supplementary: '4', 'S1') does not fit the naming scheme"
        )
    return f"{stage[:2]}_" + (f"fig{paper}_" if paper else "") + subject


def figure_label(name: str) -> str:
    """The book's cross-reference label of a figure file name (``05_fig4_rsf_roc`` -> ``fig-05-fig4-rsf-roc``)."""
    return "fig-" + name.replace("_", "-")


def print_config() -> None:
    """Print the Python and package versions behind the results, as every notebook's setup cell does."""
    print(", ".join(f"{name} {version}" for name, version in package_versions().items()))


@dataclass
class Stage:
    """One notebook's view of the run directory: inputs it checks, outputs it records."""

    run_dir: Path
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    read: set[str] = field(default_factory=set)
    _manifests: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _metrics: dict[str, Any] = field(default_factory=dict, repr=False)
    _run_notes: dict[str, Any] = field(default_factory=dict, repr=False)
    _files: dict[str, str] = field(default_factory=dict, repr=False)

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

    def require(self, stage_name: str, artifact: str | None = None) -> dict[str, Any]:
        """Load an earlier stage's manifest and verify every output it recorded (once per stage).

        ``artifact`` is the file that led here; the messages name it beside its producer.
        """
        if stage_name in self._manifests:
            return self._manifests[stage_name]
        wanted = f"{artifact} (an output of {stage_name})" if artifact else f"the outputs of {stage_name}"
        manifest_path = self.run_dir / "manifests" / f"{stage_name}.json"
        if not manifest_path.exists():
            raise StaleInputError(
                f"{self.name} needs {wanted}, but {stage_name} has not run in {self.run_dir} (no "
                f"manifests/{stage_name}.json): run notebook {stage_name} first "
                f"(python -m helpers.run <profile> --only {stage_name[:2]})."
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for relative, digest in manifest["outputs"].items():
            path = self.run_dir / relative
            if not path.exists():
                raise StaleInputError(
                    f"{self.name} needs {wanted}: {stage_name} recorded {relative}, which is "
                    f"missing from {self.run_dir}; re-run {stage_name}."
                )
            if file_sha256(path) != digest:
                raise StaleInputError(
                    f"{self.name} needs {wanted}: {relative} changed after {stage_name} wrote it (its hash differs "
                    f"from the one {stage_name} recorded); re-run {stage_name} so that its manifest and artifacts agree."
                )
        self.inputs[stage_name] = manifest["outputs"]
        self._manifests[stage_name] = manifest
        return manifest

    def has(self, relative: str) -> bool:
        """Whether the producer of a declared, optional artifact recorded it (the oracle exists for in-silico
        cohorts only, out-of-fold predictions under protocol rigorous only); the producer itself must have run."""
        return relative in self.require(self._producer(relative), relative)["outputs"]

    def _producer(self, relative: str) -> str:
        """The producer of a declared artifact; an undeclared one is an error naming this stage."""
        try:
            return producer_of(relative)
        except UndeclaredArtifactError as error:
            raise UndeclaredArtifactError(f"{self.name} reads {error}") from None

    def input(self, relative: str) -> Path:
        """Path of a declared artifact of an earlier stage, after checking its producer's manifest and hash."""
        producer = self._producer(relative)
        if relative not in self.require(producer, relative)["outputs"]:
            raise StaleInputError(
                f"{self.name} needs {relative}, an output of {producer}, but {producer} did not "
                f"record it in its last run in {self.run_dir}; re-run {producer}."
            )
        self.read.add(relative)
        return self.path(relative)

    def read_parquet(self, relative: str) -> pd.DataFrame:
        """A declared table of an earlier stage, checked (see ``input``).

        Columns and index: those its producer wrote (the index as stored in the parquet file).
        """
        return pd.read_parquet(self.input(relative))

    def read_json(self, relative: str) -> Any:
        """A declared JSON document of an earlier stage, checked (see ``input``)."""
        return json.loads(self.input(relative).read_text(encoding="utf-8"))

    def metrics(self, stage_name: str) -> dict[str, Any]:
        """An earlier stage's headline numbers (``metrics/<stage>.json``), checked."""
        return self.read_json(metrics_file(stage_name))

    def record(self, path: Path) -> Path:
        """Register an artifact written by this stage (hashed when the stage finishes).

        A declared artifact may only be recorded by the stage the contract names as its producer.
        """
        relative = path.relative_to(self.run_dir).as_posix()
        owner = producer_of(relative) if relative in PRODUCERS or relative.startswith("metrics/") else self.name
        if owner != self.name:
            raise UndeclaredArtifactError(
                f"{self.name} wrote {relative}, which the artifact contract declares as an output of {owner}"
            )
        self.outputs[relative] = ""
        return path

    def output(self, relative: str) -> Path:
        """Path of an artifact that this stage writes with another library (joblib, torch, csv), registered."""
        self.path(relative).parent.mkdir(parents=True, exist_ok=True)
        return self.record(self.path(relative))

    def write_parquet(self, frame: pd.DataFrame, relative: str) -> Path:
        """Write and register a table."""
        return self.record(write_parquet(frame, self.path(relative)))

    def write_json(self, obj: Any, relative: str) -> Path:
        """Write and register a JSON document."""
        return self.record(write_json(obj, self.path(relative)))

    def save_figure(self, fig: Any, subject: str, paper: str | None = None) -> Path:
        """Save a matplotlib figure as PNG and SVG under figures/ as ``figure_name`` names it."""
        name = figure_name(self.name, subject, paper)
        png = self.path(f"figures/{name}.png")
        svg = self.path(f"figures/{name}.svg")
        for target, kwargs in ((png, {"dpi": 150}), (svg, {"metadata": {"Date": None}})):
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=target.suffix[1:], bbox_inches="tight", **kwargs)
            self.record(target)
        return png

    def add_metrics(self, values: dict[str, Any]) -> None:
        """Record this stage's headline numbers in ``metrics/<stage>.json``, which later stages read via ``metrics``.

        Each number is also glued under its flattened key (``helpers.pipeline.glue``), for the page's captions and
        prose. Repeated calls merge. Timings and cache counts belong in ``add_run_notes``: a number that changes from
        run to run would make a re-run look like a changed input to every later stage.
        """
        self._metrics |= values
        self.record(write_json(self._metrics, self.path(metrics_file(self.name))))
        glue_numbers(values)

    def track_files(self, paths: Iterable[str]) -> None:
        """Record the content hashes of input files outside the run (a cohort's images and masks), so that the
        runner re-runs this notebook, and through ``input_files/<stage>.json`` every later one, when one changes.

        The manifest keeps each file's hash (for the runner); the recorded artifact keeps only their number and
        one digest of the hashes in path order, so that it names no file and no patient (the paths themselves are in
        the cohort table) and is the same for the same files in another run folder.
        """
        self._files |= source_hashes(sorted(set(map(str, paths))), self.run_dir)
        digest = hashlib.sha256("\n".join(h for _, h in sorted(self._files.items())).encode()).hexdigest()
        self.write_json({"files": len(self._files), "sha256": digest}, f"input_files/{self.name}.json")

    def add_run_notes(self, values: dict[str, Any]) -> None:
        """Keep numbers that describe this execution rather than its results (throughput, cases reused from a
        cache) in this stage's manifest, not in an artifact."""
        self._run_notes |= values

    def finish(self) -> Path:
        """Hash the outputs and write this stage's manifest (the last thing a notebook does)."""
        manifest = {
            "stage": self.name,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "params": self.params,
            "inputs": self.inputs,
            "outputs": {rel: file_sha256(self.run_dir / rel) for rel in sorted(self.outputs)},
            "read": sorted(self.read),
            "run_notes": self._run_notes,
            "files": self._files,
            "versions": package_versions(),
        }
        return write_json(manifest, self.run_dir / "manifests" / f"{self.name}.json")
