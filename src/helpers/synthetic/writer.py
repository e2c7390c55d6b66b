"""Writing the in-silico cohort to disk: NIfTI volumes, the clinical manifest and the ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed
from tqdm import tqdm

from helpers.pipeline.files import atomic_path
from helpers.synthetic.clinical import simulate_clinical
from helpers.synthetic.phantom import PatientVolumes, synthesise_patient
from helpers.synthetic.spec import CohortSpec, random_streams


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks."""
    return 2.0 * np.logical_and(a, b).sum() / max(int(a.sum() + b.sum()), 1)


def _write_nifti(array: np.ndarray, volumes: PatientVolumes, path: Path) -> None:
    """Compressed NIfTI with the scan's geometry, written under a temporary name then renamed."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in volumes.spacing))
    image.SetOrigin(tuple(float(o) for o in volumes.origin))
    with atomic_path(path, suffix=".partial.nii.gz") as partial:
        sitk.WriteImage(image, str(partial), useCompression=True)


def _write_patient(
    out_dir: Path, spec: CohortSpec, row: dict[str, Any], seeds: list[np.random.SeedSequence]
) -> dict[str, Any]:
    """Synthesise and write one patient's files; return what the images measured."""
    volumes = synthesise_patient(spec, row, seeds)
    pid = row["patient_id"]
    if not volumes.reader1.any():  # the phantom centres a tumour larger than the scan on it, so this is a bug
        raise RuntimeError(
            f"in-silico patient {pid}: reader 1's tumour mask is empty on a {spec.matrix}² x "
            f"{spec.n_slices} grid (tumour {row['diameter_mm']:.0f} mm)"
        )
    _write_nifti(volumes.ct, volumes, out_dir / "images" / f"{pid}_ct.nii.gz")
    _write_nifti(volumes.reader1.astype(np.uint8), volumes, out_dir / "masks" / f"{pid}_reader1.nii.gz")
    agreement = np.nan
    if volumes.reader2 is not None:
        _write_nifti(volumes.reader2.astype(np.uint8), volumes, out_dir / "masks" / f"{pid}_reader2.nii.gz")
        agreement = _dice(volumes.reader1, volumes.reader2)
    voxel_ml = float(np.prod(volumes.spacing)) / 1000
    return {"patient_id": pid, "tumour_volume_ml": float(volumes.reader1.sum()) * voxel_ml, "reader_dice": agreement}


MANIFEST_COLUMNS = (
    "patient_id",
    "image",
    "mask",
    "mask_reader2",
    "age",
    "gender",
    "T",
    "N",
    "M",
    "time_months",
    "event",
    "centre",
    "diagnosis_date",
)
TRUTH_COLUMNS = (
    "patient_id",
    "centre",
    "location",
    "has_reader2",
    "lp_clinical",
    "lp_roi",
    "lp_context",
    "lp_total",
    "frailty",
    "true_event_time_months",
    "censor_time_months",
    "diameter_mm",
    "attenuation",
    "heterogeneity",
    "necrosis_fraction",
    "margin_irregularity",
    "sma_contact_deg",
    "smv_contact_deg",
    "vessel_encasement_deg",
    "stranding",
    "liver_lesions",
    "tumour_volume_ml",
    "reader_dice",
)


def generate_cohort(out_dir: Path, spec: CohortSpec, n_jobs: int = -1, progress: bool = True) -> Path:
    """Write the cohort to out_dir and return the manifest path.

    Skips generation when out_dir/spec.json matches the spec (regenerated only when
    parameters change); writes atomically (temp name then rename) so an interrupted run
    never leaves a half-written file that is taken as complete. ``spec.json`` is written
    last, so its presence marks a complete cohort.
    """
    out_dir = Path(out_dir)
    manifest_path, spec_path = out_dir / "manifest.csv", out_dir / "spec.json"
    if _is_complete(out_dir, spec):
        return manifest_path
    spec_path.unlink(missing_ok=True)
    _remove_volumes(out_dir)
    for folder in ("images", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    table = simulate_clinical(spec)
    _, seeds = random_streams(spec)
    jobs = (
        delayed(_write_patient)(out_dir, spec, row, seed.spawn(2)) for row, seed in zip(table.to_dict("records"), seeds)
    )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    measured = pd.DataFrame(
        list(tqdm(results, total=len(table), disable=not progress, unit="patient", desc="in-silico CT"))
    )
    table = table.merge(measured, on="patient_id", validate="one_to_one")
    _write_atomically(manifest_path, lambda p: _manifest(table).to_csv(p, index=False))
    _write_atomically(out_dir / "truth.parquet", lambda p: table[list(TRUTH_COLUMNS)].to_parquet(p, index=False))
    _write_atomically(spec_path, lambda p: p.write_text(json.dumps(spec.to_dict(), indent=2, sort_keys=True)))
    return manifest_path


def _is_complete(out_dir: Path, spec: CohortSpec) -> bool:
    """True when out_dir holds a finished cohort generated from exactly this spec."""
    try:
        written = json.loads((out_dir / "spec.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return written == spec.to_dict() and (out_dir / "manifest.csv").exists() and (out_dir / "truth.parquet").exists()


def _remove_volumes(out_dir: Path) -> None:
    """Delete volumes of an earlier (other-spec or interrupted) generation, and nothing else."""
    for pattern in ("images/SYN-*_ct.nii.gz", "masks/SYN-*_reader[12].nii.gz", "*/.SYN-*.partial.nii.gz"):
        for path in out_dir.glob(pattern):
            path.unlink()


def _write_atomically(path: Path, write: Any) -> None:
    """Call ``write(temporary_path)`` and rename the result onto ``path``."""
    with atomic_path(path) as partial:
        write(partial)


def _manifest(table: pd.DataFrame) -> pd.DataFrame:
    """The real-cohort manifest format, paths relative to the manifest's folder."""
    ids = table["patient_id"]
    return pd.DataFrame(
        {
            "patient_id": ids,
            "image": "images/" + ids + "_ct.nii.gz",
            "mask": "masks/" + ids + "_reader1.nii.gz",
            "mask_reader2": np.where(table["has_reader2"], "masks/" + ids + "_reader2.nii.gz", ""),
            **{column: table[column] for column in MANIFEST_COLUMNS[4:]},
        }
    )[list(MANIFEST_COLUMNS)]
