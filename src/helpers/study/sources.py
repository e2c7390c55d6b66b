"""Where a run's patients come from: the built-in in-silico cohort or a real manifest.

Both routes end in the same normalised table, because the generator writes its cohort as a
manifest in the real-cohort format and both are read by :func:`helpers.data.manifest.read_manifest`.
Real identifiers are replaced by keyed pseudonyms before anything reaches an artifact; the
key and the mapping stay in ``<run_dir>/private/``, which the book never reads.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import pandas as pd

from helpers.data.manifest import read_manifest
from helpers.data.pseudonyms import pseudonymise
from helpers.errors import ProfileError
from helpers.pipeline.files import resolve_path, write_parquet
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort
from helpers.vocabulary import CohortSource


@dataclass(frozen=True)
class LoadedCohort:
    """The normalised cohort, the generator's truth (in-silico only) and where it came from."""

    table: pd.DataFrame
    truth: pd.DataFrame | None
    manifest: Path
    source: str


def load_insilico(run_dir: Path, spec: CohortSpec, n_jobs: int) -> LoadedCohort:
    """Generate (or reuse) the in-silico cohort under ``run_dir/insilico`` and read it."""
    manifest = generate_cohort(run_dir / "insilico", spec, n_jobs=n_jobs, progress=True)
    table = read_manifest(manifest, check_images=True, n_jobs=n_jobs)
    truth = pd.read_parquet(manifest.parent / "truth.parquet")
    return LoadedCohort(table, truth, manifest, "insilico")


def load_cohort(
    run_dir: Path,
    cohort_source: CohortSource,
    *,
    spec: CohortSpec,
    manifest: str,
    check_images: bool,
    allow_missing: tuple[str, ...],
    n_jobs: int,
) -> LoadedCohort:
    """The run's patients from the source the profile names: the in-silico cohort of ``spec`` or ``manifest``."""
    if cohort_source == "insilico":
        return load_insilico(run_dir, spec, n_jobs=n_jobs)
    if cohort_source == "manifest":
        return load_manifest(run_dir, manifest, check_images=check_images, allow_missing=allow_missing, n_jobs=n_jobs)
    raise ProfileError(f"cohort_source must be one of {', '.join(get_args(CohortSource))}, not {cohort_source!r}")


def load_manifest(
    run_dir: Path, manifest: str, *, check_images: bool, allow_missing: tuple[str, ...], n_jobs: int = 1, salt: str = ""
) -> LoadedCohort:
    """Read and validate a real cohort's manifest, pseudonymising its identifiers."""
    path = resolve_path(manifest)
    table = read_manifest(path, check_images=check_images, allow_missing=allow_missing, n_jobs=n_jobs)
    mapping = pseudonymise(table["patient_id"].tolist(), salt=salt or _run_salt(run_dir))
    private = run_dir / "private"
    write_parquet(
        pd.DataFrame({"original_id": list(mapping), "patient_id": list(mapping.values())}), private / "id_map.parquet"
    )
    table = table.assign(patient_id=table["patient_id"].map(mapping))
    return LoadedCohort(table, None, path, "manifest")


def _run_salt(run_dir: Path) -> str:
    """A random pseudonymisation key, made once per run directory and reused after."""
    key_file = run_dir / "private" / "pseudonym.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(16))
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


def source_files(table: pd.DataFrame) -> list[str]:
    """Every image and mask file (or DICOM folder) the cohort table names, once each, for ``Stage.track_files``."""
    columns = [c for c in ("image", "mask", "mask_reader2") if c in table]
    return sorted({str(v) for v in table[columns].to_numpy().ravel() if isinstance(v, str) and v})
