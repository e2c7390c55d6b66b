"""Radiomic feature extraction with PyRadiomics: parallel, cached per case, resumable.

Each (patient, reader) pair is one case. A case's result is cached under a key made of the
image's and the mask's content hashes, the parameter file's hash and the label, so a rerun
with the same inputs extracts nothing and a run killed half-way resumes with the cases it
had not finished. Cache files are written atomically, so a killed worker never leaves a
half-written result that a rerun would trust. The same worker function runs in a local
process pool or on a Dask distributed cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import pandas as pd
import SimpleITK as sitk
from tqdm import tqdm

from helpers.errors import BookError, InputError
from helpers.pipeline.files import atomic_path, content_sha256, file_sha256, resolve_path

if TYPE_CHECKING:
    from radiomics.featureextractor import RadiomicsFeatureExtractor


IMAGE_TYPES = ("original", "log-sigma", "wavelet")
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm")
KEPT_DIAGNOSTICS = (  # geometry and ROI size only: hashes and versions live in the stage manifest
    "diagnostics_Image-original_Spacing",
    "diagnostics_Mask-original_VoxelNum",
    "diagnostics_Mask-interpolated_Spacing",
    "diagnostics_Mask-interpolated_Size",
    "diagnostics_Mask-interpolated_VoxelNum",
    "diagnostics_Image-interpolated_Mean",
)


# What a bad case raises: an unreadable file (OSError), and an image, mask or ROI that cannot be extracted
# (InputError: the image and mask readers, this module's ROI checks, PyRadiomics' own mask checks). Anything
# else is a bug and propagates, so that ``extraction_failures: exclude`` cannot turn it into dropped cases.
PER_CASE_FAILURES = (InputError, OSError)


class ExtractionError(BookError, RuntimeError):
    """One or more cases failed; the message lists each with patient, file and reason."""


@dataclass(frozen=True)
class CaseJob:
    """One image and one mask to extract: a patient as seen by one reader."""

    patient_id: str
    reader: str
    image: str
    mask: str
    label: int | None = None
    segment: str | None = None


@dataclass(frozen=True)
class CaseResult:
    """Features and diagnostics of one case, or the reason it failed."""

    job: CaseJob
    features: dict[str, float]
    diagnostics: dict[str, str]
    error: str | None = None
    cached: bool = False


def jobs_from_cohort(cohort: pd.DataFrame) -> list[CaseJob]:
    """Reader 1's mask for every patient, then reader 2's where the manifest gives one."""

    def job(row: pd.Series, reader: str, column: str) -> CaseJob:
        label = row.get("mask_label")
        segment = row.get("segment")
        return CaseJob(
            row["patient_id"],
            reader,
            str(row["image"]),
            str(row[column]),
            None if pd.isna(label) else int(label),
            None if pd.isna(segment) else str(segment),
        )

    rows = [row for _, row in cohort.iterrows()]
    second = [row for row in rows if "mask_reader2" in row and pd.notna(row["mask_reader2"])]
    return [job(r, "reader1", "mask") for r in rows] + [job(r, "reader2", "mask_reader2") for r in second]


def params_hash(params_file: Path) -> str:
    """Content hash of a PyRadiomics parameter file (part of every cache key)."""
    return file_sha256(params_file)


def case_key(job: CaseJob, parameters_digest: str) -> str:
    """Cache key: what was extracted, from which bytes, with which settings."""
    parts = [
        content_sha256(Path(job.image)),
        content_sha256(Path(job.mask)),
        parameters_digest,
        str(job.label),
        str(job.segment),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


_EXTRACTORS: dict[str, object] = {}


def _extractor(params_file: str):
    """One PyRadiomics extractor per worker process and parameter file (building it costs)."""
    if params_file not in _EXTRACTORS:
        import radiomics
        from radiomics import featureextractor

        radiomics.setVerbosity(logging.ERROR)
        _EXTRACTORS[params_file] = featureextractor.RadiomicsFeatureExtractor(params_file)
    return _EXTRACTORS[params_file]


def _execute(extractor: RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image) -> dict:
    """Run PyRadiomics on one ROI; raise naming an ROI too small to resample or to LoG-filter."""
    try:
        raw = extractor.execute(image, mask, label=1)
    except ValueError as error:  # PyRadiomics' own checks of the mask (minimum size, dimensions)
        raise InputError(str(error)) from error
    except RuntimeError as error:  # ITK's words for a mask that resampling left empty
        if "No label object with label" not in str(error):
            raise
        spacing = " x ".join(f"{v:g}" for v in extractor.settings["resampledPixelSpacing"])
        voxels = int(sitk.GetArrayViewFromImage(mask).sum())
        raise InputError(
            f"the ROI ({voxels} voxels) vanishes when resampled to {spacing} mm voxels: too small to extract"
        ) from None
    log = extractor.enabledImagetypes.get("LoG")
    sigmas = [] if log is None else log.get("sigma", extractor.settings.get("sigma", []))
    # PyRadiomics skips a sigma whose kernel does not fit the image around the ROI, with only a log warning.
    missing = [s for s in sigmas if not any(k.startswith(f"log-sigma-{str(s).replace('.', '-')}-mm-3D_") for k in raw)]
    if missing:
        region = " x ".join(map(str, raw.get("diagnostics_Image-interpolated_Size", image.GetSize())))
        raise InputError(
            f"the image around the ROI, {region} voxels as filtered, is smaller than the LoG kernel of sigma "
            f"{', '.join(f'{s:g}' for s in missing)} mm (it needs at least 4 voxels and sigma/spacing + 1 per axis): "
            "the LoG features would be missing"
        )
    return raw


def extract_case(job: CaseJob, params_file: str, cache_dir: str) -> CaseResult:
    """Extract one case, or return its cached result; failures come back as results."""
    from helpers.data.images import read_image
    from helpers.data.masks import read_mask

    cache_path = Path(cache_dir) / f"{job.patient_id}__{job.reader}.json"
    try:
        key = case_key(job, params_hash(Path(params_file)))
        if cache_path.exists():
            stored = json.loads(cache_path.read_text(encoding="utf-8"))
            if stored["key"] == key:
                return CaseResult(job, stored["features"], stored["diagnostics"], cached=True)
        image = read_image(Path(job.image))
        mask = read_mask(Path(job.mask), label=job.label, segment=job.segment, reference=image)
        raw = _execute(_extractor(params_file), image, mask)
    except PER_CASE_FAILURES as error:  # reported per case with patient and file, never swallowed
        return CaseResult(job, {}, {}, error=f"{type(error).__name__}: {error}")
    features = {k: float(v) for k, v in raw.items() if not k.startswith("diagnostics_")}
    diagnostics = {k: str(raw[k]) for k in KEPT_DIAGNOSTICS if k in raw}
    with atomic_path(cache_path) as tmp:
        tmp.write_text(json.dumps({"key": key, "features": features, "diagnostics": diagnostics}))
    return CaseResult(job, features, diagnostics)


def _run_local(jobs: list[CaseJob], params_file: str, cache_dir: str, n_jobs: int) -> Iterator[CaseResult]:
    """Run cases in a local process pool (or inline for one job), yielding as they finish."""
    if n_jobs == 1:
        yield from (extract_case(job, params_file, cache_dir) for job in jobs)
        return
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        futures = [pool.submit(extract_case, job, params_file, cache_dir) for job in jobs]
        yield from (future.result() for future in as_completed(futures))


def _run_dask(jobs: list[CaseJob], params_file: str, cache_dir: str, scheduler_address: str) -> Iterator[CaseResult]:
    """Run cases on a Dask distributed cluster (workers need this package installed)."""
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    with Client(scheduler_address) as client:
        futures = [client.submit(extract_case, job, params_file, cache_dir, pure=False) for job in jobs]
        yield from (future.result() for future in dask_completed(futures))


@dataclass(frozen=True)
class Extraction:
    """The outcome of a cohort extraction: features per case, diagnostics and failures."""

    features: pd.DataFrame  # (patient_id, reader) x features
    diagnostics: pd.DataFrame  # (patient_id, reader) x kept PyRadiomics diagnostics
    failures: pd.DataFrame  # patient_id, reader, image, mask, error
    cached: int  # cases read from the cache

    @property
    def cases(self) -> int:
        """Cases asked for: extracted or failed."""
        return len(self.features) + len(self.failures)


def extract_cohort(
    jobs: Iterable[CaseJob],
    params_file: Path,
    cache_dir: Path,
    *,
    n_jobs: int = 1,
    scheduler_address: str = "",
    progress: bool = True,
) -> Extraction:
    """Extract every case, in parallel, reusing cached cases; rows ordered as the jobs.

    ``n_jobs`` is the number of local processes, -1 for one per core (joblib's convention).
    """
    jobs = list(jobs)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if scheduler_address:
        results = _run_dask(jobs, str(params_file), str(cache_dir), scheduler_address)
    else:
        workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
        results = _run_local(jobs, str(params_file), str(cache_dir), workers)
    collected = {}
    for result in tqdm(results, total=len(jobs), desc="radiomics", unit="case", disable=not progress):
        collected[(result.job.patient_id, result.job.reader)] = result
    ordered = [collected[(job.patient_id, job.reader)] for job in jobs]
    good = [r for r in ordered if r.error is None]
    index = pd.MultiIndex.from_tuples([(r.job.patient_id, r.job.reader) for r in good], names=["patient_id", "reader"])
    return Extraction(
        features=pd.DataFrame([r.features for r in good], index=index),
        diagnostics=pd.DataFrame([r.diagnostics for r in good], index=index),
        failures=pd.DataFrame(
            [
                {
                    "patient_id": r.job.patient_id,
                    "reader": r.job.reader,
                    "image": r.job.image,
                    "mask": r.job.mask,
                    "error": r.error,
                }
                for r in ordered
                if r.error is not None
            ],
            columns=["patient_id", "reader", "image", "mask", "error"],
        ),
        cached=sum(r.cached for r in ordered),
    )


RADIOMICS_CACHE = "cache/radiomics"  # per-case results inside a run folder, shared by notebooks 02, 03 and 10


def extract_run(
    cohort: pd.DataFrame, params_file: str, run_dir: Path, *, n_jobs: int = 1, scheduler_address: str = ""
) -> Extraction:
    """Extract every reader's mask of ``cohort`` with the profile's PyRadiomics file, cached in the run folder."""
    return extract_cohort(
        jobs_from_cohort(cohort),
        resolve_path(params_file),
        run_dir / RADIOMICS_CACHE,
        n_jobs=n_jobs,
        scheduler_address=scheduler_address,
    )


def raise_on_failures(failures: pd.DataFrame) -> None:
    """Stop with one line per failed case: patient, reader, mask file and PyRadiomics' message."""
    if len(failures):
        lines = [
            f"patient {row.patient_id} ({row.reader}), mask {row.mask}: {row.error}" for row in failures.itertuples()
        ]
        raise ExtractionError(f"{len(failures)} case(s) failed:\n" + "\n".join(lines))


def failures_without_paths(failures: pd.DataFrame) -> pd.DataFrame:
    """The failures as the book may show them: no image or mask path, which can name a patient.

    The paths stay in ``extraction_failures.parquet`` in the run folder. Columns: patient_id, reader,
    error (each path in it replaced by ``<image>`` or ``<mask>``).
    """

    def scrub(row: pd.Series) -> str:
        error = row["error"]
        for column in ("image", "mask"):  # a path, or a file inside a DICOM folder
            error = re.sub(re.escape(row[column]) + r"[^\s:]*", f"<{column}>", error)
        return error

    shown = failures.drop(columns=["image", "mask"])
    return shown.assign(error=failures.apply(scrub, axis=1) if len(failures) else shown["error"])


def feature_family(name: str) -> tuple[str, str]:
    """(image type, feature class) of a PyRadiomics feature name, e.g. ('wavelet', 'glcm')."""
    image_type, feature_class, _ = name.split("_", 2)
    family = next((t for t in IMAGE_TYPES if image_type.startswith(t)), image_type)
    return family, feature_class


def count_by_family(columns: Iterable[str]) -> pd.DataFrame:
    """Feature counts per image type (rows) and class (columns), with totals.

    Index: the IMAGE_TYPES present, then "total"; columns: FEATURE_CLASSES, then "total".
    """
    counts = Counter(feature_family(c) for c in columns)
    table = pd.Series(counts).unstack(fill_value=0).reindex(columns=list(FEATURE_CLASSES), fill_value=0)
    table = table.reindex([t for t in IMAGE_TYPES if t in table.index])
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum()
    return table


def reader_table(features: pd.DataFrame, reader: str) -> pd.DataFrame:
    """One reader's features: one row a patient, one column a feature.

    Index patient_id (the ``reader`` level dropped); columns those of ``features``; no rows when no case of
    ``reader`` was extracted (a cohort without a second reader).
    """
    if reader not in features.index.get_level_values("reader"):
        return features.iloc[:0].droplevel("reader")
    return features.xs(reader, level="reader")


def with_families(table: pd.DataFrame, column: str = "feature") -> pd.DataFrame:
    """Add ``image_type`` and ``feature_class`` columns derived from feature names."""
    families = table[column].map(feature_family)
    return table.assign(image_type=families.str[0], feature_class=families.str[1])
