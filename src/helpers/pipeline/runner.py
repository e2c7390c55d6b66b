"""Execute the book's notebooks with papermill from one profile, then build the book.

    python -m helpers.run params/<profile>.yaml [--only NN ...] [--from NN] [--force] [--no-book]

Each notebook receives only the profile keys its ``parameters`` cell declares (plus
``run_dir``); a profile key that no notebook declares is an error, so a typo cannot be
silently ignored. Wall time, peak memory and status per notebook go to
``runs/<profile>/run_manifest.json``, which keeps each notebook's latest outcome.

A notebook is skipped when nothing it depends on changed since its last successful run:
the same cells, parameters and parameter files; the same ``helpers`` modules among those it
imports, directly or through other modules (``helpers.pipeline.dependencies``); the same
input files outside the run that it tracks (notebook 01: the cohort's images and masks, by
content); the same input artifacts (the outputs of the stages it read from, by hash); and its
own outputs and executed copy still in place. A re-run notebook whose outputs come out
byte-identical therefore leaves later notebooks skipped. ``--force`` runs every selected
notebook. Every cell runs under the profile's ``cell_timeout_s``.

After a successful run in the profile's own folder (no ``--run-dir``) the executed notebooks, scrubbed of
private values, are published to ``book/notebooks/`` (ignored by git), so that ``jupyter-book build .`` in the
project root builds that run's book; the runner's own build uses a staged copy.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import papermill
import psutil

from helpers.errors import ProfileError
from helpers.pipeline.book import build_book, publish_notebooks
from helpers.pipeline.dependencies import module_hashes, notebook_modules
from helpers.pipeline.files import changed_sources, file_sha256, json_digest, repo_root, resolve_path, write_json
from helpers.pipeline.notebooks import EXECUTED, KERNEL, Notebook, discover_notebooks, parameters_for
from helpers.pipeline.profile import check_types, check_unused_keys, load_profile

DEFAULT_CELL_TIMEOUT_S = 7200  # two hours: the longest CPU cell of the default book takes minutes
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def select(notebooks: list[Notebook], only: list[str] | None, start: str | None) -> list[Notebook]:
    """Apply --only / --from (two-digit numbers or stems)."""

    def matches(nb: Notebook, key: str) -> bool:
        return key in (nb.number, nb.stem, nb.path.name) or nb.number == key.zfill(2)

    if only:
        chosen = [nb for nb in notebooks if any(matches(nb, k) for k in only)]
        missing = [k for k in only if not any(matches(nb, k) for nb in notebooks)]
        if missing:
            raise ProfileError(f"no notebook matches --only {' '.join(missing)}")
        return chosen
    if start:
        index = next((i for i, nb in enumerate(notebooks) if matches(nb, start)), None)
        if index is None:
            raise ProfileError(f"no notebook matches --from {start}")
        return notebooks[index:]
    return notebooks


class PeakMemory:
    """Sample the resident memory of this process's children (the kernels) in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)


def execute(
    notebook: Notebook,
    params: dict[str, Any],
    output: Path,
    run_dir: Path,
    cell_timeout_s: int = DEFAULT_CELL_TIMEOUT_S,
    progress: bool = False,
) -> dict[str, Any]:
    """Run one notebook with papermill into ``output`` (inside ``run_dir``); return status, wall time, peak memory.

    A cell that runs longer than ``cell_timeout_s`` (a hung Dask scheduler, a dead worker) stops the
    notebook; the record names the cell. With ``progress``, papermill's bar shows the cells done of all and the
    time taken, and the kernel's standard error (the helpers' own tqdm bars) is streamed to this terminal.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    record: dict[str, Any] = {"notebook": notebook.path.name, "parameters": params}
    with PeakMemory() as memory:
        try:
            papermill.execute_notebook(
                str(notebook.path),
                str(output),
                parameters=params,
                kernel_name=KERNEL,
                cwd=str(output.parent),
                progress_bar={"desc": notebook.path.stem, "unit": "cell"} if progress else False,
                log_output=False,
                stderr_file=sys.stderr if progress else None,
                execution_timeout=cell_timeout_s,
            )
            record["status"] = "ok"
        except papermill.PapermillExecutionError as error:
            record.update(
                status="failed",
                cell=error.cell_index,
                error=f"{error.ename}: {error.evalue}",
                traceback=ANSI_ESCAPE.sub("", "\n".join(error.traceback)),
            )
        except nbclient.exceptions.CellTimeoutError as error:
            cell = timed_out_cell(output)
            record.update(
                status="failed",
                cell=cell,
                traceback=ANSI_ESCAPE.sub("", str(error)),
                error=f"cell timeout: {notebook.path.name}, cell {cell} of the executed copy, ran longer than "
                f"cell_timeout_s = {cell_timeout_s} s (raise it in the profile if the cell is slow "
                "rather than hung)",
            )
    record["wall_seconds"] = round(time.perf_counter() - started, 2)
    record["peak_memory_mb"] = round(memory.peak_bytes / 2**20, 1)
    record["executed"] = str(output.relative_to(run_dir))
    return record


def timed_out_cell(output: Path) -> int | None:
    """Index of the cell a timeout stopped: the last one papermill started, in the executed copy."""
    cells = nbformat.read(output, as_version=4).cells
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else None


def notebook_source_hash(path: Path) -> str:
    """Hash of a notebook's cells (type, tags, MyST-NB metadata such as figure captions, source), not its outputs.

    Markdown and captions count too: a skipped notebook's executed copy is what the book shows.
    """
    cells = nbformat.read(path, as_version=4).cells
    return json_digest(
        [[c.cell_type, sorted(c.metadata.get("tags", [])), c.metadata.get("mystnb", {}), c.source] for c in cells]
    )


def helpers_source_hashes(notebook: Notebook) -> dict[str, str]:
    """Hash of each ``helpers`` module the notebook imports, transitively: a change there re-runs it."""
    return module_hashes(notebook_modules(notebook.path))


def parameter_file_hashes(params: dict[str, Any]) -> dict[str, str]:
    """Content hashes of the files that string parameters name (a PyRadiomics YAML, a manifest CSV)."""
    files = {key: resolve_path(value) for key, value in params.items() if isinstance(value, str) and value}
    return {key: file_sha256(path) for key, path in files.items() if path.is_file()}


def fingerprint(notebook: Notebook, params: dict[str, Any]) -> dict[str, Any]:
    """What a notebook's results depend on besides its input artifacts."""
    return {
        "source": notebook_source_hash(notebook.path),
        "parameters": json.loads(json.dumps(params)),
        "parameter_files": parameter_file_hashes(params),
        "helpers": helpers_source_hashes(notebook),
    }


def stage_manifest(run_dir: Path, stage: str) -> dict[str, Any] | None:
    """A stage's manifest in the run directory, or None when it has none."""
    path = run_dir / "manifests" / f"{stage}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def changed_files(run_dir: Path, hashes: dict[str, str]) -> list[str]:
    """The artifacts among ``hashes`` that are missing or whose content differs."""
    return [
        rel for rel, digest in hashes.items() if not (run_dir / rel).is_file() or file_sha256(run_dir / rel) != digest
    ]


def reason_to_run(previous: dict[str, Any] | None, current: dict[str, Any], run_dir: Path) -> str | None:
    """Why a notebook must run, given its last record and current fingerprint; None when it may be skipped."""
    if not previous or "fingerprint" not in previous:
        return "no earlier successful run"
    before = previous["fingerprint"]
    if before["source"] != current["source"]:
        return "notebook edited"
    if not isinstance(before["helpers"], dict):  # a record of a runner that hashed all of helpers at once
        return "helpers source changed"
    if before["helpers"] != current["helpers"]:
        modules = sorted(
            m
            for m in set(before["helpers"]) | set(current["helpers"])
            if before["helpers"].get(m) != current["helpers"].get(m)
        )
        return f"helpers source changed: {', '.join(modules)}"
    names = sorted(set(before["parameters"]) | set(current["parameters"]))
    changed = [k for k in names if before["parameters"].get(k) != current["parameters"].get(k)]
    changed += [
        k for k in names if k not in changed and before["parameter_files"].get(k) != current["parameter_files"].get(k)
    ]
    if changed:
        return f"parameters changed: {', '.join(changed)}"
    if not (run_dir / previous["executed"]).is_file():
        return f"executed copy {previous['executed']} missing"
    moved = changed_sources(previous.get("files", {}), run_dir)
    if moved:
        return f"input files changed: {len(moved)} of {len(previous['files'])} (first: {moved[0]})"
    lost = changed_files(run_dir, previous["outputs"])
    if lost:
        return f"outputs missing or modified: {', '.join(lost)}"
    for stage, outputs in previous["inputs"].items():
        upstream = stage_manifest(run_dir, stage)
        if upstream is None or upstream["outputs"] != outputs or changed_files(run_dir, outputs):
            return f"inputs from {stage} changed"
    return None


def successful_record(
    record: dict[str, Any], current: dict[str, Any], notebook: Notebook, run_dir: Path, since: float
) -> dict[str, Any]:
    """Add the fingerprint, and the inputs and outputs of the stage manifest this execution wrote.

    A notebook without a fresh manifest of its own name gets no fingerprint, so it is never
    skipped: which artifacts it read and wrote is unknown.
    """
    path = run_dir / "manifests" / f"{notebook.stem}.json"
    if not path.exists() or path.stat().st_mtime < since:
        return record
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return {
        **record,
        "fingerprint": current,
        "inputs": manifest["inputs"],
        "outputs": manifest["outputs"],
        "files": manifest.get("files", {}),
    }


def time_left(records: dict[str, dict[str, Any]], remaining: list[Notebook]) -> str:
    """ " last run N s; about M min left" from the earlier records of this notebook and those after it (a
    notebook that ends up skipped takes no time, so this is an upper estimate); "" without earlier records."""
    earlier = [records[nb.path.name]["wall_seconds"] for nb in remaining if nb.path.name in records]
    if not earlier or remaining[0].path.name not in records:
        return ""
    return f" last run {_duration(earlier[0])}; at most about {_duration(sum(earlier))} left for the {len(remaining)} to go"


def _duration(seconds: float) -> str:
    """Seconds as a reader wants them: "45 s" below a minute and a half, else "12 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def run_notebooks(
    notebooks: list[Notebook],
    profile: dict[str, Any],
    run_dir: Path,
    *,
    selected: list[Notebook] | None = None,
    force: bool = False,
    source: str = "",
) -> int:
    """Execute (or skip, when unchanged) the selected notebooks in order; 0 when all succeed.

    ``run_dir/run_manifest.json`` lists every notebook with its latest record: ``ok``,
    ``skipped`` (with the wall time of the run it reuses) or ``failed``.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = run_dir / "run_manifest.json"
    earlier = json.loads(manifest_path.read_text(encoding="utf-8"))["notebooks"] if manifest_path.exists() else []
    names = [nb.path.name for nb in notebooks]
    records = {r["notebook"]: r for r in earlier if r["notebook"] in names}
    queue = selected if selected is not None else notebooks
    for index, notebook in enumerate(queue):
        params = parameters_for(notebook, profile, run_dir)
        current = fingerprint(notebook, params)
        previous = records.get(notebook.path.name)
        reason = "--force" if force else reason_to_run(previous, current, run_dir)
        if reason is None and previous is not None:  # no reason: an earlier successful record exists
            record = {**previous, "status": "skipped"}
            print(
                f"[run] {notebook.path.name}: skipped (unchanged), {record['wall_seconds']} s when last run", flush=True
            )
        else:
            print(f"[run] {notebook.path.name} ({reason}) ...{time_left(records, queue[index:])}", flush=True)
            since = time.time()
            record = execute(
                notebook,
                params,
                run_dir / EXECUTED / notebook.path.name,
                run_dir,
                int(profile.get("cell_timeout_s", DEFAULT_CELL_TIMEOUT_S)),
                progress=sys.stderr.isatty(),
            )
            if record["status"] == "ok":
                record = successful_record(record, current, notebook, run_dir, since)
            print(
                f"[run] {notebook.path.name}: {record['status']} in {record['wall_seconds']} s, "
                f"peak {record['peak_memory_mb']} MB",
                flush=True,
            )
        records[notebook.path.name] = record
        ordered = [records[name] for name in names if name in records]
        write_json({"profile": source, "run_dir": str(run_dir), "notebooks": ordered}, manifest_path)
        if record["status"] == "failed":
            print(
                f"\n[run] FAILED: {notebook.path.name}, cell {record['cell']}\n{record['error']}\n"
                f"{record['traceback']}\nExecuted copy with the failing cell: {run_dir / record['executed']}",
                file=sys.stderr,
            )
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpers.run", description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="params/<profile>.yaml")
    parser.add_argument("--only", nargs="+", help="run only these notebooks (numbers or names)")
    parser.add_argument("--from", dest="start", help="run from this notebook on")
    parser.add_argument("--force", action="store_true", help="re-run notebooks even when nothing changed")
    parser.add_argument("--no-book", action="store_true", help="skip the jupyter-book build")
    parser.add_argument("--run-dir", type=Path, help="override runs/<profile name>")
    args = parser.parse_args(argv)

    root = repo_root()
    try:
        profile = load_profile(args.profile)
        notebooks = discover_notebooks(root / "notebooks")
        check_unused_keys(notebooks, profile, args.profile)
        check_types(notebooks, profile, args.profile)
        selected = select(notebooks, args.only, args.start)
    except ProfileError as error:  # a profile to fix, not a bug: one line, no traceback
        print(f"[run] {error}", file=sys.stderr)
        return 2
    run_dir = (args.run_dir or root / "runs" / str(profile["name"])).resolve()
    status = run_notebooks(notebooks, profile, run_dir, selected=selected, force=args.force, source=str(args.profile))
    if status == 0 and args.run_dir is None:  # the profile's own run: its chapters for `jupyter-book build .`
        published = publish_notebooks(run_dir, root / "book" / "notebooks")
        print(f"[run] {len(published)} chapters of {run_dir.name} published to book/notebooks/ (jupyter-book build .)")
    if status == 0 and not args.no_book:
        html = build_book(root, run_dir)
        print(f"[run] book: {html / 'index.html'}")
    return status
