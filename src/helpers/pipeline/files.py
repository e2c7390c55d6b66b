"""Files of a run: project paths, atomic writes, content hashes and generated pages."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


def repo_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder above ``start`` holding ``_config.yml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").exists() and (folder / "src" / "helpers").exists():
            return folder
    return Path(__file__).resolve().parents[3]


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


def json_digest(value: Any) -> str:
    """SHA-256 of a value in canonical JSON (sorted keys; a value JSON cannot write is written as its str)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


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


def _json_default(value: Any) -> Any:
    """Make numpy scalars, paths and timestamps JSON-serialisable."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, pd.Timestamp, datetime)):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


HASH_CACHE = "cache/file_hashes.json"  # content hashes of a run's input images and masks, by size and mtime


def content_sha256(path: Path) -> str:
    """Hash of a file, or of every file (relative name and bytes) of a folder such as a DICOM series."""
    if not path.is_dir():
        return file_sha256(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return hashlib.sha256("|".join(f"{p.relative_to(path)}:{file_sha256(p)}" for p in files).encode()).hexdigest()


def _stamp(path: Path) -> list[str]:
    """Name, size, inode, modification and change time (ns) of a file, or of every file of a folder: what a re-check
    compares. The change time moves even when a copy keeps the modification time (``cp -p``, ``rsync -a``)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [
        f"{p.relative_to(path) if path.is_dir() else p.name}:{s.st_size}:{s.st_ino}:{s.st_mtime_ns}:{s.st_ctime_ns}"
        for p in files
        for s in [p.stat()]
    ]


def source_hashes(paths: list[str], run_dir: Path) -> dict[str, str]:
    """Content hash of each input file or folder, reusing ``<run_dir>/cache/file_hashes.json`` for any whose
    size and modification time are unchanged, so re-checking a cohort costs seconds; missing ones map to ""."""
    cache_path = run_dir / HASH_CACHE
    cache = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.exists() else {}
    hashes = {}
    for name in paths:
        path = Path(name)
        if not path.exists():
            hashes[name] = ""
            continue
        stamp = _stamp(path)
        if cache.get(name, {}).get("stamp") != stamp:
            cache[name] = {"stamp": stamp, "sha256": content_sha256(path)}
        hashes[name] = cache[name]["sha256"]
    write_json(cache, cache_path)
    return hashes


def changed_sources(recorded: dict[str, str], run_dir: Path) -> list[str]:
    """The input files whose content differs from (or that are missing since) their recorded hash."""
    now = source_hashes(sorted(recorded), run_dir) if recorded else {}
    return [name for name, digest in sorted(recorded.items()) if now[name] != digest]
