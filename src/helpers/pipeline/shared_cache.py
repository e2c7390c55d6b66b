"""Work shared by every run on a machine, kept outside the run folders and keyed by what determines it.

The external in-silico cohort of notebooks 10 and 12 is a fixed function of the generator version, its settings
and the PyRadiomics parameter file; generating and extracting it costs minutes, the same minutes in every run.
It lives in ``<cache root>/<kind>/<key digest>/``: the cache root is ``$PDAC_BOOK_CACHE`` when set, else the
project's ``.cache/`` (ignored by git). Deleting a folder only costs the time to remake it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from helpers.pipeline.files import repo_root

CACHE_ENV = "PDAC_BOOK_CACHE"


def shared_cache_root() -> Path:
    """The folder that holds every shared cache: ``$PDAC_BOOK_CACHE``, else ``<project>/.cache``."""
    configured = os.environ.get(CACHE_ENV, "")
    return Path(configured).expanduser().resolve() if configured else repo_root() / ".cache"


def keyed_folder(kind: str, key: dict[str, Any]) -> Path:
    """``<cache root>/<kind>/<first 16 hex digits of the SHA-256 of key as sorted JSON>``; ``key.json`` inside it
    (written by ``claim``) says what the digest stands for."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return shared_cache_root() / kind / digest


@contextmanager
def claim(folder: Path, key: dict[str, Any]) -> Iterator[Path]:
    """Hold ``folder`` alone while filling or reading it: two runs (a test and a book, say) that want the same
    folder wait for each other instead of writing into it at once. Writes ``key.json``; yields the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        (folder / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True), encoding="utf-8")
        yield folder
