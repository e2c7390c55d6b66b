"""Fault catalogue: every bad input a user can give, the one error it gets, and what to do about it.

Each ``FaultCase`` builds one bad input in an empty folder (from the shared real data or small
SimpleITK images), hands it to the real entry point and checks the error's type and that its
message names the patient, the file and the problem. ``book/troubleshooting.md`` documents the
same cases, with an example message each; a test keeps the page and this catalogue in step.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from builders import CLINICAL, ROOT, make_ct, make_mask, write_dicom_series, write_manifest, write_seg
from sksurv.util import Surv

from helpers.data import outcomes
from helpers.data.manifest import ManifestError, read_manifest
from helpers.data.tcga import tcga_paad_manifest
from helpers.errors import CohortTooSmallError, CudaUnavailableError, InputError, ProfileError
from helpers.features import radiomics
from helpers.features.harmonise import ComBat
from helpers.features.selection import RadiomicsReducer
from helpers.pipeline.notebooks import discover_notebooks
from helpers.pipeline.profile import check_unused_keys, load_profile
from helpers.vocabulary import HORIZONS_MONTHS

PARAMS = ROOT / "params" / "pyradiomics_paper.yaml"
PAGE = ROOT / "book" / "troubleshooting.md"
LUNG = "pyradiomics_testcases/lung1_{}_crop.nrrd"
PROSTATE = "pyradiomics_testcases/prostate_phantom_subvolume{}.nrrd"


@dataclass(frozen=True)
class FaultCase:
    """A bad input: how to build it, the entry point that meets it, what its error must say, the fix."""

    name: str
    build: Callable[[Path, Path], Any]  # (empty folder, shared data) -> the entry point's input
    call: Callable[[Any], object]  # the real entry point; must raise
    error: type[Exception]
    expected_substrings: tuple[str, ...]  # the patient, the file and the problem, where the fault has them
    remedy: str


# ----------------------------------------------------------------------------- builders


def write(image: sitk.Image, path: Path) -> str:
    """Write an image and return its file name (manifest paths are relative to the folder)."""
    sitk.WriteImage(image, str(path))
    return path.name


def manifest(folder: Path, patient: str, **cells: str) -> Path:
    """A one-patient manifest: a valid 3D CT and mask unless ``cells`` replace them or a clinical value."""
    if "image" not in cells:
        cells["image"] = write(make_ct(), folder / "ct.nii.gz")
    if "mask" not in cells:
        cells["mask"] = write(make_mask(make_ct()), folder / "mask.nii.gz")
    return write_manifest(folder / "manifest.csv", [{"patient_id": patient, **CLINICAL, **cells}])


def with_voxels(reference: sitk.Image, voxels: np.ndarray) -> sitk.Image:
    """An image of ``voxels`` (numpy z, y, x) on the reference's grid."""
    image = sitk.GetImageFromArray(voxels)
    image.CopyInformation(reference)
    return image


def truncated(folder: Path) -> Path:
    """A compressed NIfTI cut to 60% of its bytes, as an interrupted copy leaves it."""
    path = folder / "ct.nii.gz"
    write(make_ct(), path)
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    return manifest(folder, "P-TRUNC", image=path.name)


def dicom_missing_slice(folder: Path) -> Path:
    """A six-slice DICOM series with its third file deleted."""
    write_dicom_series(make_ct(), folder / "dicom", "1.2.826.0.1.3680043.2.1125.9")
    sorted((folder / "dicom").iterdir())[2].unlink()
    return manifest(folder, "P-GAP", image="dicom")


def dicom_two_series(folder: Path) -> Path:
    """Arterial and portal-venous series exported into one folder."""
    write_dicom_series(make_ct(), folder / "dicom", "1.2.3.1", "arterial")
    write_dicom_series(make_ct(1), folder / "dicom", "1.2.3.2", "portal venous")
    return manifest(folder, "P-2SERIES", image="dicom")


def dicom_file(folder: Path) -> Path:
    """The image column pointing at one file of a DICOM series instead of its folder."""
    write_dicom_series(make_ct(), folder / "dicom", "1.2.826.0.1.3680043.2.1125.8")
    return manifest(folder, "P-DCM", image=f"dicom/{sorted((folder / 'dicom').iterdir())[0].name}")


def png(folder: Path) -> Path:
    """The image column pointing at a PNG screenshot."""
    (folder / "ct.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return manifest(folder, "P-PNG", image="ct.png")


def without_event(folder: Path) -> Path:
    """A manifest whose event column was left out."""
    row = {"patient_id": "P-1", **CLINICAL}
    del row["event"]
    return write_manifest(folder / "manifest.csv", [row])


def nan_voxels(folder: Path) -> Path:
    """A float CT whose voxels outside the field of view are NaN (ITK's NIfTI reader would give 0)."""
    voxels = sitk.GetArrayFromImage(make_ct()).astype(np.float32)
    voxels[:, 0, :] = np.nan
    return manifest(folder, "P-NAN", image=write(with_voxels(make_ct(), voxels), folder / "ct_float.nii.gz"))


def mask_spacing(folder: Path) -> Path:
    """A mask saved with 3 mm slices for a 2.5 mm scan."""
    mask = make_mask(make_ct())
    mask.SetSpacing((0.8, 0.7, 3.0))
    return manifest(folder, "P-SPACING", mask=write(mask, folder / "mask_3mm.nii.gz"))


def label_two(folder: Path) -> Path:
    """A mask whose ROI has value 2, with mask_label 1 asked for."""
    mask = make_mask(make_ct(), value=2)
    return manifest(folder, "P-LABEL", mask=write(mask, folder / "labels.nii.gz"), mask_label="1")


def interpolated_mask(folder: Path) -> Path:
    """A mask resampled with linear interpolation: fractional values at the ROI's border."""
    mask = sitk.Cast(make_mask(make_ct()), sitk.sitkFloat32)
    blurred = sitk.SmoothingRecursiveGaussian(mask, 1.0)
    return manifest(folder, "P-INTERP", mask=write(blurred, folder / "mask_linear.nii.gz"))


def two_segments(folder: Path) -> Path:
    """A 3D Slicer segmentation with a tumour and a duct segment and no choice between them."""
    voxels = sitk.GetArrayFromImage(make_mask(make_ct()))
    voxels[0, 0, :4] = 2
    seg = write_seg(with_voxels(make_ct(), voxels), folder / "case.seg.nrrd", {0: ("tumour", 1, 0), 1: ("duct", 2, 0)})
    return manifest(folder, "P-SEG", mask=seg.name)


def dicom_mask_case(folder: Path, data: Path, patient: str, mask: str, **cells: str) -> Path:
    """A manifest row whose mask is one of the shared real SEG / RTSTRUCT files (or a CT slice) and whose image is
    the CT series it belongs to: the SEGs' three evenly spaced files, or the planning CT's one public slice."""
    real = data / "dicom_seg_rt"
    series = folder / "ct"
    series.mkdir()
    planning = mask.startswith("rtstruct/")
    sources = [real / "rtstruct" / "dicompyler_ct.0.dcm"] if planning else sorted((real / "ct_series").iterdir())[1:]
    for source in sources:
        shutil.copy(source, series / source.name)
    shutil.copy(real / mask, folder / Path(mask).name)
    return manifest(folder, patient, image="ct", mask=Path(mask).name, **cells)


def radiomics_job(folder: Path, patient: str, image: sitk.Image, mask: sitk.Image) -> radiomics.CaseJob:
    """One PyRadiomics case written to the folder."""
    write(image, folder / "ct.nrrd")
    write(mask, folder / "mask.nrrd")
    return radiomics.CaseJob(patient, "reader1", str(folder / "ct.nrrd"), str(folder / "mask.nrrd"))


def single_slice(folder: Path, data: Path) -> radiomics.CaseJob:
    """The real lung1 CT and ROI cut to the one 5 mm slice through the tumour's middle."""
    image, label = (sitk.ReadImage(str(data / LUNG.format(kind))) for kind in ("image", "label"))
    return radiomics_job(folder, "P-SLICE", image[:, :, 11:12], label[:, :, 11:12])


def tiny_roi(folder: Path, voxels: tuple[slice, ...], spacing: float, patient: str) -> radiomics.CaseJob:
    """A small cube ROI in a 40^3 noise image of the given isotropic spacing."""
    noise = np.random.default_rng(0).integers(-100, 200, size=(40, 40, 40)).astype(np.int16)
    image = sitk.GetImageFromArray(noise)
    image.SetSpacing((spacing,) * 3)
    roi = np.zeros(noise.shape, np.uint8)
    roi[voxels] = 1
    return radiomics_job(folder, patient, image, with_voxels(image, roi))


def extract(job: radiomics.CaseJob) -> None:
    """Extract one case with the paper's settings and stop on failure, as 03_extraction does."""
    cache = Path(job.image).parent / "cache"
    radiomics.raise_on_failures(radiomics.extract_cohort([job], PARAMS, cache, n_jobs=1, progress=False).failures)


def profile(folder: Path, text: str) -> Path:
    """A run profile with the given YAML lines."""
    path = folder / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_profile(path: Path) -> None:
    """What ``python -m helpers.run`` checks before it runs anything."""
    check_unused_keys(discover_notebooks(ROOT / "notebooks"), load_profile(path), path)


def load_profile_without_gpu(path: Path) -> None:
    """Read the profile as the runner does, on a machine where PyTorch sees no GPU."""
    with mock.patch("torch.cuda.is_available", return_value=False):
        load_profile(path)


def tcga_cohort(folder: Path, data: Path, follow_up_months: float = np.inf) -> pd.DataFrame:
    """The real TCGA-PAAD clinical cohort read as a manifest, censored at ``follow_up_months`` if given."""
    path = tcga_paad_manifest(data / "tcga_paad" / "tcga_paad_patients.csv", folder / "tcga.csv")
    table = pd.read_csv(path)
    later = table["time_months"] > follow_up_months
    table.loc[later, "event"] = 0
    table.loc[later, "time_months"] = follow_up_months
    table.to_csv(path, index=False)
    return read_manifest(path, check_images=False, allow_missing=("T", "N", "M"))


def nine_training_patients(folder: Path, data: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Nine real TCGA-PAAD patients' follow-up (the training split of a 12-patient cohort) with 40 features."""
    cohort = tcga_cohort(folder, data).dropna(subset=["time_months"]).head(9)
    features = pd.DataFrame(np.random.default_rng(0).normal(size=(9, 40)), index=cohort["patient_id"])
    return features, Surv.from_arrays(cohort["event"].astype(bool), cohort["time_months"])


def fit_lasso(inputs: tuple[pd.DataFrame, np.ndarray]) -> None:
    """Notebook 04's reducer with its default 10 folds."""
    RadiomicsReducer(n_folds=10, random_state=0).fit(*inputs)


def two_centre_training(folder: Path, data: Path, in_c2: int) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Twelve real TCGA-PAAD patients with 40 features, 8 at centre C1 and 4 at C2; the training split holds the C1
    patients and ``in_c2`` of the C2 patients. Returns (features, survival, centre by patient)."""
    cohort = tcga_cohort(folder, data).dropna(subset=["time_months"]).head(12).set_index("patient_id")
    centres = pd.Series(["C1"] * 8 + ["C2"] * 4, index=cohort.index)
    features = pd.DataFrame(np.random.default_rng(0).normal(size=(12, 40)), index=cohort.index)
    train = cohort.index[: 8 + in_c2]
    return (
        features.loc[train],
        Surv.from_arrays(cohort.loc[train, "event"].astype(bool), cohort.loc[train, "time_months"]),
        centres,
    )


def harmonise_all_patients(inputs: tuple[pd.DataFrame, np.ndarray, pd.Series]) -> None:
    """Notebook 04's reducer under ``harmonise: combat`` as it starts: ComBat fitted on the training split (the
    reducer's first step), then applied to every patient (its transform's first step)."""
    features, _, centres = inputs
    everyone = pd.DataFrame(np.random.default_rng(0).normal(size=(12, 40)), index=centres.index)
    ComBat(centres).fit(features).transform(everyone)


def label_horizons(cohort: pd.DataFrame, policy: str = "known_status") -> None:
    """Tabulate and label every horizon the book evaluates, as 01_cohort and the models do."""
    outcomes.ambiguity_table(cohort["time_months"], cohort["event"])
    for horizon in HORIZONS_MONTHS:
        outcomes.horizon_labels(cohort["time_months"], cohort["event"], horizon, policy)


# ----------------------------------------------------------------------------- the catalogue


CASES: list[FaultCase] = [
    # the manifest's clinical columns
    FaultCase(
        "age_not_a_number",
        lambda f, d: manifest(f, "P-AGE", age="sixty"),
        read_manifest,
        ManifestError,
        ("manifest.csv", "P-AGE: age", "not a number: 'sixty'"),
        "Write the age in years as a number (66, 66.5).",
    ),
    FaultCase(
        "age_out_of_range",
        lambda f, d: manifest(f, "P-CHILD", age="7"),
        read_manifest,
        ManifestError,
        ("manifest.csv", "P-CHILD: age", "out of range: 7"),
        "Check the age; the study covers adults (18 to 110 years).",
    ),
    FaultCase(
        "negative_time",
        lambda f, d: manifest(f, "P-TIME", time_months="-3"),
        read_manifest,
        ManifestError,
        ("manifest.csv", "P-TIME: time_months", "negative time: -3"),
        "Follow-up is counted from diagnosis (or surgery) to death or last contact, in months; "
        "check the dates it was computed from.",
    ),
    FaultCase(
        "event_not_0_or_1",
        lambda f, d: manifest(f, "P-EVENT", event="2"),
        read_manifest,
        ManifestError,
        ("manifest.csv", "P-EVENT: event", "must be 0 or 1, got '2'"),
        "Code the event as 1 = died, 0 = alive at last contact (censored); recode competing-risk codes.",
    ),
    FaultCase(
        "stage_out_of_range",
        lambda f, d: manifest(f, "P-STAGE", T="T5"),
        read_manifest,
        ManifestError,
        ("manifest.csv", "P-STAGE: T", "not recognised: 'T5'"),
        "Use AJCC 8th categories T1-T4, N0-N2, M0-M1; TX/NX/MX or empty means missing.",
    ),
    FaultCase(
        "duplicate_patient_id",
        lambda f, d: write_manifest(f / "manifest.csv", [{"patient_id": "P-TWICE", **CLINICAL}] * 2),
        read_manifest,
        ManifestError,
        ("manifest.csv", "P-TWICE: patient_id", "duplicate id on CSV lines 2, 3"),
        "Keep one row per patient; a second reader's mask goes in mask_reader2, not in a second row.",
    ),
    FaultCase(
        "missing_required_column",
        lambda f, d: without_event(f),
        read_manifest,
        ManifestError,
        ("manifest.csv", "(manifest): event", "required column is missing"),
        "Add the column (see the manifest format); column names are case-sensitive.",
    ),
    # images
    FaultCase(
        "missing_file",
        lambda f, d: manifest(f, "P-NOFILE", image="scans/ct.nii.gz"),
        read_manifest,
        ManifestError,
        ("P-NOFILE: image", "scans/ct.nii.gz", "file not found"),
        "Fix the path; relative paths are read from the manifest's folder.",
    ),
    FaultCase(
        "dicom_file_not_folder",
        lambda f, d: dicom_file(f),
        read_manifest,
        ManifestError,
        (
            "P-DCM: image",
            "1.2.826.0.1.3680043.2.1125.8_000.dcm",
            "unsupported format",
            "a folder holding one DICOM series",
        ),
        "Point image at the folder holding the DICOM series, not at one of its files.",
    ),
    FaultCase(
        "unsupported_format",
        lambda f, d: png(f),
        read_manifest,
        ManifestError,
        ("P-PNG: image", "ct.png", "unsupported format"),
        "Convert to NIfTI, NRRD or MetaImage, or give the DICOM series folder.",
    ),
    FaultCase(
        "truncated_nifti",
        lambda f, d: truncated(f),
        read_manifest,
        ManifestError,
        ("P-TRUNC: image", "ct.nii.gz", "the file is truncated"),
        "Copy or export the file again; compare its size or checksum with the source.",
    ),
    FaultCase(
        "dicom_missing_slice",
        lambda f, d: dicom_missing_slice(f),
        read_manifest,
        ManifestError,
        ("P-GAP: image", "dicom", "_001.dcm and", "unevenly spaced", "missing or duplicated"),
        "Export the complete series again; ITK alone would only warn and stretch the slice spacing.",
    ),
    FaultCase(
        "dicom_two_series",
        lambda f, d: dicom_two_series(f),
        read_manifest,
        ManifestError,
        ("P-2SERIES: image", "dicom", "holds 2 DICOM series", "portal venous"),
        "Move each series to its own folder and point image at the portal-venous one.",
    ),
    FaultCase(
        "nan_voxels",
        lambda f, d: nan_voxels(f),
        read_manifest,
        ManifestError,
        ("P-NAN: image", "ct_float.nii.gz", "NaN or infinite"),
        "Replace them with the air value (-1000 HU) in the tool that wrote the file, or crop them away.",
    ),
    FaultCase(
        "image_not_3d",
        lambda f, d: manifest(f, "P-2D", image=write(make_ct()[:, :, 2], f / "slice.nrrd")),
        read_manifest,
        ManifestError,
        ("P-2D: image", "slice.nrrd", "expected a 3D single-channel volume"),
        "Give the whole volume, not a slice or an RGB screenshot.",
    ),
    # masks
    FaultCase(
        "mask_spacing_mismatch",
        lambda f, d: mask_spacing(f),
        read_manifest,
        ManifestError,
        ("P-SPACING: mask", "mask_3mm.nii.gz", "geometry mismatch", "spacing mask (0.8, 0.7, 3)"),
        "Export the mask on the image's grid: from the same scan and series, without resampling.",
    ),
    FaultCase(
        "mask_from_another_scan",
        lambda f, d: manifest(
            f,
            "P-OTHER",
            image=str(d / LUNG.format("image")),
            mask=str(d / "pyradiomics_testcases/lung2_label_crop.nrrd"),
        ),
        read_manifest,
        ManifestError,
        ("P-OTHER: mask", "lung2_label_crop.nrrd", "geometry mismatch", "size mask (215, 194, 31)"),
        "The mask belongs to another scan or patient: fix the row's paths.",
    ),
    FaultCase(
        "multilabel_mask_no_label",
        lambda f, d: manifest(
            f, "P-MULTI", image=str(d / PROSTATE.format("")), mask=str(d / PROSTATE.format("-label"))
        ),
        read_manifest,
        ManifestError,
        (
            "P-MULTI: mask",
            "prostate_phantom_subvolume-label.nrrd",
            "not binary: labels 1, 7, 8, 9",
            "choose one with mask_label",
        ),
        "Set mask_label to the tumour's value.",
    ),
    FaultCase(
        "mask_label_absent",
        lambda f, d: label_two(f),
        read_manifest,
        ManifestError,
        ("P-LABEL: mask", "labels.nii.gz", "label 1 not in the mask; labels found: 2"),
        "Set mask_label to the value the tumour has in this file (here 2), or leave it empty: a mask "
        "with a single non-zero value is taken as the ROI.",
    ),
    FaultCase(
        "empty_mask",
        lambda f, d: manifest(f, "P-EMPTY", mask=write(make_mask(make_ct(), value=0), f / "empty.nii.gz")),
        read_manifest,
        ManifestError,
        ("P-EMPTY: mask", "empty.nii.gz", "the mask is empty"),
        "The segmentation was not saved (or saved from another label); export it again.",
    ),
    FaultCase(
        "interpolated_mask",
        lambda f, d: interpolated_mask(f),
        read_manifest,
        ManifestError,
        ("P-INTERP: mask", "mask_linear.nii.gz", "non-integer values"),
        "Resample masks with nearest-neighbour interpolation, never linear.",
    ),
    FaultCase(
        "slicer_segments_ambiguous",
        lambda f, d: two_segments(f),
        read_manifest,
        ManifestError,
        ("P-SEG: mask", "case.seg.nrrd", "2 segments", "choose one with segment or mask_label"),
        "Set segment to the tumour segment's name (or mask_label to its value).",
    ),
    # the ROI as PyRadiomics sees it
    FaultCase(
        "roi_smaller_than_log_kernel",
        single_slice,
        extract,
        radiomics.ExtractionError,
        ("patient P-SLICE", "mask.nrrd", "smaller than the LoG kernel of sigma 3, 5 mm"),
        "Give the whole scan (not a slab cut around the tumour); PyRadiomics alone would drop the LoG "
        "features with only a log warning.",
    ),
    FaultCase(
        "roi_lost_in_resampling",
        lambda f, d: tiny_roi(f, np.s_[20:22, 20:22, 20:22], 1.0, "P-TINY"),
        extract,
        radiomics.ExtractionError,
        ("patient P-TINY", "mask.nrrd", "vanishes when resampled to 3 x 3 x 3 mm"),
        "Check that the mask outlines the tumour; extraction_failures: exclude lists and skips such cases "
        "instead of stopping.",
    ),
    FaultCase(
        "roi_below_minimum_size",
        lambda f, d: tiny_roi(f, np.s_[20:21, 20:23, 20:22], 3.0, "P-SMALL"),
        extract,
        radiomics.ExtractionError,
        ("patient P-SMALL", "mask.nrrd", "Size of the ROI is too small"),
        "Texture needs at least 8 voxels of 3 mm; check the mask, or exclude the case.",
    ),
    # DICOM SEG and RTSTRUCT masks (real files from highdicom, dicompyler-core and pydicom)
    FaultCase(
        "dicom_seg_other_series",
        lambda f, d: dicom_mask_case(f, d, "P-SEGREF", "seg/seg_image_ct_binary_single_frame.dcm"),
        read_manifest,
        ManifestError,
        ("P-SEGREF: mask", "seg_image_ct_binary_single_frame.dcm", "references Frame of Reference", "another scan"),
        "Point the image column at the CT series the segmentation was drawn on (the message names both UIDs).",
    ),
    FaultCase(
        "dicom_seg_frames_outside_series",
        lambda f, d: dicom_mask_case(f, d, "P-SEGOUT", "seg/seg_image_ct_binary_overlap.dcm", segment="first segment"),
        read_manifest,
        ManifestError,
        ("P-SEGOUT: mask", "seg_image_ct_binary_overlap.dcm", "16 of its 64 voxels fall outside the image series"),
        "The segment covers slices the image series lacks: give the complete series the segmentation was made on.",
    ),
    FaultCase(
        "rtstruct_structure_not_found",
        lambda f, d: dicom_mask_case(f, d, "P-ROI", "rtstruct/dicompyler_rtss.dcm", segment="GTV"),
        read_manifest,
        ManifestError,
        ("P-ROI: mask", "dicompyler_rtss.dcm", "structure 'GTV' not found", "1 'BODY', 2 'Areola'"),
        "Set segment to the tumour's ROI name exactly as the message lists it (or mask_label to its number).",
    ),
    FaultCase(
        "rtstruct_empty_structure",
        lambda f, d: dicom_mask_case(f, d, "P-EMPTY", "rtstruct/dicompyler_rtss.dcm", segment="Areola"),
        read_manifest,
        ManifestError,
        ("P-EMPTY: mask", "dicompyler_rtss.dcm", "structure 2 'Areola' has no closed contour"),
        "The structure was created but never contoured: choose the contoured tumour structure.",
    ),
    FaultCase(
        "rtstruct_contour_outside_image",
        lambda f, d: dicom_mask_case(f, d, "P-OUTSIDE", "rtstruct/dicompyler_rtss.dcm", segment="Heart"),
        read_manifest,
        ManifestError,
        ("P-OUTSIDE: mask", "dicompyler_rtss.dcm", "structure 5 'Heart': a contour lies outside the image"),
        "The image holds only part of the planning CT: give the whole series the structure set was drawn on.",
    ),
    FaultCase(
        "dicom_mask_of_another_kind",
        lambda f, d: dicom_mask_case(f, d, "P-CTMASK", "ct_series/17136"),
        read_manifest,
        ManifestError,
        ("P-CTMASK: mask", "17136", "SOP class 1.2.840.10008.5.1.4.1.1.2 (modality CT), not an RTSTRUCT or DICOM SEG"),
        "The mask column holds a CT slice: point it at the RTSTRUCT or SEG file (the CT series goes in image).",
    ),
    # parameters
    FaultCase(
        "unknown_profile_key",
        lambda f, d: profile(f, "seed: 1\nprotocol: rigorous\ndl_epoch: 5\n"),
        run_profile,
        ProfileError,
        ("site.yaml", "dl_epoch", "no notebook declares"),
        "Fix the key's spelling; the message lists every parameter the notebooks declare.",
    ),
    FaultCase(
        "unknown_protocol",
        lambda f, d: profile(f, "seed: 1\nprotocol: rigourous\n"),
        run_profile,
        ProfileError,
        ("site.yaml", "protocol must be one of paper, rigorous, not 'rigourous'"),
        "Set protocol to paper or rigorous.",
    ),
    FaultCase(
        "cuda_without_gpu",
        lambda f, d: profile(f, "seed: 1\nprotocol: paper\ndl_device: cuda\n"),
        load_profile_without_gpu,
        CudaUnavailableError,
        ("site.yaml", "dl_device 'cuda'", "sees no CUDA GPU"),
        "Run on a machine with a CUDA GPU (and a CUDA build of PyTorch), or set dl_device: auto or cpu.",
    ),
    FaultCase(
        "horizon_beyond_follow_up",
        lambda f, d: tcga_cohort(f, d, follow_up_months=30),
        label_horizons,
        ValueError,
        ("horizon 36 months", "longest follow-up (30 months)", "no patient is known to be alive"),
        "The book evaluates the paper's 12, 24 and 36-month horizons: update last-contact dates so that "
        "follow-up reaches them; if the longest follow-up looks 12 times too short, the times are in years.",
    ),
    FaultCase(
        "lasso_folds_exceed_training_patients",
        nine_training_patients,
        fit_lasso,
        CohortTooSmallError,
        ("10-fold cross-validation", "at least 10 training patients and 10 deaths", "9 patients", "lasso_folds"),
        "Lower lasso_folds (to 3 at least) or analyse a larger cohort; notebook 04 needs at least lasso_folds "
        "training patients and as many deaths.",
    ),
    FaultCase(
        "combat_centre_unseen_in_training",
        lambda f, d: two_centre_training(f, d, 0),
        harmonise_all_patients,
        InputError,
        ("fitted on centre(s) C1", "no estimate for centre C2 (4 patients"),
        "Every centre of the cohort must have training patients: let the split stratify by centre, or set "
        "harmonise: none; notebook 10 shows how a model transfers to a centre it never saw.",
    ),
    FaultCase(
        "combat_centre_of_one_training_patient",
        lambda f, d: two_centre_training(f, d, 1),
        harmonise_all_patients,
        CohortTooSmallError,
        ("ComBat estimates a variance per centre", "needs at least 2 patients of each", "C2 (1)"),
        "Merge the centre with another that used the same scanner, or set harmonise: none.",
    ),
    FaultCase(
        "unknown_label_policy",
        tcga_cohort,
        lambda c: label_horizons(c, "drop"),
        ValueError,
        ("label_policy", "'known_status' or 'ipcw'", "'drop'"),
        "Set label_policy to paper, known_status or ipcw.",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fault_gives_one_clear_error(case: FaultCase, tmp_path: Path, shared_data: Path) -> None:
    built = case.build(tmp_path, shared_data)
    with pytest.raises(case.error) as error:
        case.call(built)
    message = str(error.value)
    missing = [text for text in case.expected_substrings if text not in message]
    assert not missing, f"{missing} not in:\n{message}"
    if isinstance(error.value, ManifestError):  # one fault, one problem line
        assert len(error.value.problems) == 1, message


def test_catalogue_is_large_and_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 15 and len(set(names)) == len(names)


def test_troubleshooting_page_lists_every_case() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert [case.name for case in CASES if f"`{case.name}`" not in page] == []
    prose = page.replace("`", "")  # the page may set keys and values in code
    assert [case.name for case in CASES if case.remedy not in prose] == []
