"""Tests of helpers.data: image/mask reading in every accepted format, manifest validation, pseudonyms."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from builders import (
    CLINICAL,
    ORIGIN,
    SPACING,
    make_ct,
    make_mask,
    shared_data_dir,
    write_dicom_series,
    write_manifest,
    write_seg,
)

from helpers.data.images import read_image
from helpers.data.manifest import REQUIRED_CLINICAL, ManifestError, Problem, read_manifest
from helpers.data.masks import read_mask
from helpers.data.pseudonyms import pseudonymise
from helpers.data.tcga import tcga_paad_manifest

DATA = shared_data_dir()
CASES = DATA / "pyradiomics_testcases"
LUNG1_IMAGE = CASES / "lung1_image_crop.nrrd"
LUNG1_LABEL = CASES / "lung1_label_crop.nrrd"
LUNG2_LABEL = CASES / "lung2_label_crop.nrrd"
PROSTATE_IMAGE = CASES / "prostate_phantom_subvolume.nrrd"
PROSTATE_LABEL = CASES / "prostate_phantom_subvolume-label.nrrd"
TCGA = DATA / "tcga_paad" / "tcga_paad_patients.csv"


def problem_lines(error: pytest.ExceptionInfo[ManifestError]) -> list[str]:
    """The one-line renderings of every problem a ManifestError carries."""
    return [str(problem) for problem in error.value.problems]


def roi_voxels(mask: sitk.Image) -> int:
    """Number of ROI voxels of a binary mask."""
    return int(sitk.GetArrayViewFromImage(mask).sum())


# ----------------------------------------------------------------------------- read_image


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "ct.nrrd", "ct.mha", "ct.mhd"])
def test_read_image_round_trips_file_formats(tmp_path: Path, name: str) -> None:
    image = make_ct()
    sitk.WriteImage(image, str(tmp_path / name))
    back = read_image(tmp_path / name)
    assert back.GetSize() == (12, 10, 6)
    assert np.allclose(back.GetSpacing(), SPACING) and np.allclose(back.GetOrigin(), ORIGIN)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_read_image_dicom_series_folder(tmp_path: Path) -> None:
    image = make_ct()
    write_dicom_series(image, tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.2.1")
    back = read_image(tmp_path / "dicom")
    assert back.GetSize() == (12, 10, 6)
    assert np.allclose(back.GetSpacing(), SPACING, atol=1e-4)
    assert np.allclose(back.GetOrigin(), ORIGIN, atol=1e-4)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_read_image_dicom_folder_with_two_series_names_them(tmp_path: Path) -> None:
    write_dicom_series(make_ct(), tmp_path / "dicom", "1.2.3.1", "arterial")
    write_dicom_series(make_ct(1), tmp_path / "dicom", "1.2.3.2", "portal venous")
    with pytest.raises(ValueError) as error:
        read_image(tmp_path / "dicom")
    assert str(error.value) == (
        f"{tmp_path / 'dicom'}: the folder holds 2 DICOM series (1.2.3.1: 6 files, 'arterial'; "
        "1.2.3.2: 6 files, 'portal venous'); keep one series per folder"
    )


def test_read_image_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no DICOM series found in the folder"):
        read_image(tmp_path)


def test_read_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'absent.nii.gz'}: file not found")):
        read_image(tmp_path / "absent.nii.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'notes.txt'}: unsupported format")):
        read_image(tmp_path / "notes.txt")
    (tmp_path / "text.nii").write_text("not an image")
    with pytest.raises(ValueError) as error:
        read_image(tmp_path / "text.nii")
    text = tmp_path / "text.nii"
    assert str(error.value) == f'{text}: unreadable image (Unable to determine ImageIO reader for "{text}")'


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ct.nii.gz", "compressed data ends early: the file is truncated"),
        ("ct.nii", "the header promises 1792 bytes, the file holds 1075: truncated"),
    ],
)
def test_read_image_detects_truncated_nifti(tmp_path: Path, name: str, reason: str) -> None:
    # ITK's NIfTI reader returns a truncated file without complaint; read_image must not.
    sitk.WriteImage(make_ct(), str(tmp_path / name))
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(ValueError) as error:
        read_image(tmp_path / name)
    assert str(error.value) == f"{tmp_path / name}: unreadable image ({reason})"


# ----------------------------------------------------------------------------- read_mask


def test_read_mask_real_lung1_matches_image() -> None:
    image = read_image(LUNG1_IMAGE)
    mask = read_mask(LUNG1_LABEL, reference=image)
    assert mask.GetPixelID() == sitk.sitkUInt8
    assert roi_voxels(mask) == 837
    assert mask.GetSize() == image.GetSize() == (152, 154, 23)
    assert mask.GetOrigin() == image.GetOrigin() and mask.GetSpacing() == image.GetSpacing()


def test_read_mask_multilabel_needs_a_label() -> None:
    with pytest.raises(ValueError) as error:
        read_mask(PROSTATE_LABEL)
    assert str(error.value) == (
        f"{PROSTATE_LABEL}: the mask is not binary: labels 1, 7, 8, 9; choose one with mask_label"
    )
    mask = read_mask(PROSTATE_LABEL, label=8, reference=read_image(PROSTATE_IMAGE))
    assert roi_voxels(mask) == 2997
    assert set(np.unique(sitk.GetArrayViewFromImage(mask))) == {0, 1}
    with pytest.raises(ValueError) as error:
        read_mask(PROSTATE_LABEL, label=5)
    assert str(error.value) == f"{PROSTATE_LABEL}: label 5 not in the mask; labels found: 1, 7, 8, 9"


def test_read_mask_accepts_a_single_non_unit_label_and_na_choices(tmp_path: Path) -> None:
    sitk.WriteImage(make_mask(make_ct(), value=255), str(tmp_path / "m.nii.gz"))
    assert roi_voxels(read_mask(tmp_path / "m.nii.gz", label=pd.NA, segment=pd.NA)) == 18


def test_read_mask_geometry_mismatch_real_lung() -> None:
    with pytest.raises(ValueError) as error:
        read_mask(LUNG2_LABEL, reference=read_image(LUNG1_IMAGE))
    assert str(error.value) == (
        f"{LUNG2_LABEL}: geometry mismatch with the image: "
        "size mask (215, 194, 31) vs image (152, 154, 23); "
        "spacing mask (0.626953, 0.626953, 5) vs image (0.570312, 0.570312, 5); "
        "origin mask (-11.2539, -155.85, -335) vs image (-65.0156, -163.602, -667.5)"
    )


def test_read_mask_empty(tmp_path: Path) -> None:
    sitk.WriteImage(make_mask(make_ct(), value=0), str(tmp_path / "empty.nrrd"))
    with pytest.raises(ValueError) as error:
        read_mask(tmp_path / "empty.nrrd")
    assert str(error.value) == f"{tmp_path / 'empty.nrrd'}: the mask is empty (no non-zero voxel)"


def test_read_seg_nrrd_by_segment_name_and_label(tmp_path: Path) -> None:
    ct = make_ct()
    labels = make_mask(ct)  # tumour = 1 (18 voxels) ...
    voxels = sitk.GetArrayFromImage(labels)
    voxels[0, 0, :4] = 2  # ... and a 4-voxel "duct" segment with value 2
    two = sitk.GetImageFromArray(voxels)
    two.CopyInformation(ct)
    seg = write_seg(two, tmp_path / "case.seg.nrrd", {0: ("tumour", 1, 0), 1: ("duct", 2, 0)})
    assert roi_voxels(read_mask(seg, segment="tumour", reference=ct)) == 18
    assert roi_voxels(read_mask(seg, segment="duct")) == 4
    assert roi_voxels(read_mask(seg, label=2)) == 4
    with pytest.raises(ValueError) as error:
        read_mask(seg)
    assert str(error.value) == (
        f"{seg}: 2 segments ('tumour' (label 1, layer 0), 'duct' (label 2, layer 0)); "
        "choose one with segment or mask_label"
    )
    with pytest.raises(ValueError, match=re.escape("segment 'liver' not found; segments: 'tumour' (label 1")):
        read_mask(seg, segment="liver")
    with pytest.raises(ValueError, match=re.escape("segment 'duct' has label 2, not mask_label 1")):
        read_mask(seg, segment="duct", label=1)


def test_read_seg_nrrd_layers_and_cropped_extent(tmp_path: Path) -> None:
    ct = make_ct()
    tumour = make_mask(ct)
    # Two overlapping segments stored as two layers (a 4D NRRD read as a 2-component image).
    layered = sitk.Compose(tumour, tumour * 3)
    seg = write_seg(layered, tmp_path / "layers.seg.nrrd", {0: ("tumour", 1, 0), 1: ("vessel", 3, 1)})
    assert read_image(seg).GetNumberOfComponentsPerPixel() == 2
    assert roi_voxels(read_mask(seg, segment="vessel", reference=ct)) == 18
    # Slicer may store a segmentation on a sub-extent of the image grid: it is padded back.
    cropped = write_seg(tumour[3:9, 2:7, 1:5], tmp_path / "crop.seg.nrrd", {0: ("tumour", 1, 0)})
    placed = read_mask(cropped, reference=ct)
    assert placed.GetSize() == ct.GetSize() and placed.GetOrigin() == ct.GetOrigin()
    assert np.array_equal(sitk.GetArrayViewFromImage(placed), sitk.GetArrayViewFromImage(tumour))


# ----------------------------------------------------------------------------- read_manifest


@pytest.fixture()
def cohort(tmp_path: Path) -> Path:
    """A folder with one valid case per accepted format (paths relative to the manifest)."""
    ct = make_ct()
    mask = make_mask(ct)
    (tmp_path / "cases").mkdir()
    for name in ("p1.nii.gz", "p2.nrrd", "p3.mha"):
        sitk.WriteImage(ct, str(tmp_path / "cases" / name))
        sitk.WriteImage(mask, str(tmp_path / "cases" / name.replace(".", "_mask.", 1)))
    sitk.WriteImage(mask, str(tmp_path / "cases" / "p1_reader2.nii.gz"))
    write_dicom_series(ct, tmp_path / "cases" / "p4_dicom", "1.2.826.0.1.3680043.2.1125.4")
    sitk.WriteImage(mask, str(tmp_path / "cases" / "p4_mask.nii.gz"))
    write_seg(mask, tmp_path / "cases" / "p5.seg.nrrd", {0: ("tumour", 1, 0)})
    sitk.WriteImage(ct, str(tmp_path / "cases" / "p5.nii.gz"))
    return tmp_path


def test_read_manifest_happy_path_every_format(cohort: Path) -> None:
    rows = [
        {
            "patient_id": "P1",
            "image": "cases/p1.nii.gz",
            "mask": "cases/p1_mask.nii.gz",
            "mask_reader2": "cases/p1_reader2.nii.gz",
            "age": "64",
            "gender": "M",
            "T": "1",
            "N": "N1b",
            "M": "m0",
            "time_months": "0",
            "event": "0",
            "centre": "A",
            "split": "Train",
        },
        {
            "patient_id": "P2",
            "image": "cases/p2.nrrd",
            "mask": "cases/p2_mask.nrrd",
            "age": "71.5",
            "gender": "Female",
            "T": "pT3",
            "N": "N2",
            "M": "M1",
            "time_months": "8.25",
            "event": "1",
            "centre": "A",
            "split": "test",
        },
        {
            "patient_id": "P3",
            "image": "cases/p3.mha",
            "mask": "cases/p3_mask.mha",
            "age": "50",
            "gender": "f",
            "T": "t4",
            "N": "0",
            "M": "M0",
            "time_months": "30",
            "event": "1.0",
            "centre": "B",
            "split": "train",
        },
        {
            "patient_id": "P4",
            "image": "cases/p4_dicom",
            "mask": "cases/p4_mask.nii.gz",
            "age": "80",
            "gender": "male",
            "T": "T1a",
            "N": "N0",
            "M": "M0",
            "time_months": "3",
            "event": "0",
            "centre": "B",
            "split": "train",
        },
        {
            "patient_id": "P5",
            "image": "cases/p5.nii.gz",
            "mask": "cases/p5.seg.nrrd",
            "segment": "tumour",
            **CLINICAL,
            "centre": "B",
            "split": "test",
        },
        {
            "patient_id": "LUNG1",
            "image": str(LUNG1_IMAGE),
            "mask": str(LUNG1_LABEL),
            **CLINICAL,
            "centre": "C",
            "split": "test",
        },
        {
            "patient_id": "PROSTATE",
            "image": str(PROSTATE_IMAGE),
            "mask": str(PROSTATE_LABEL),
            "mask_label": "8",
            **CLINICAL,
            "centre": "C",
            "split": "train",
        },
    ]
    df = read_manifest(write_manifest(cohort / "manifest.csv", rows))
    assert list(df["patient_id"]) == ["P1", "P2", "P3", "P4", "P5", "LUNG1", "PROSTATE"]
    assert df.loc[0, "image"] == str(cohort / "cases" / "p1.nii.gz")
    assert df.loc[0, "mask_reader2"] == str(cohort / "cases" / "p1_reader2.nii.gz")
    assert df["mask_reader2"].isna().sum() == 6
    assert df.loc[5, "mask"] == str(LUNG1_LABEL)
    assert list(df["gender"]) == ["male", "female", "female", "male", "male", "male", "male"]
    assert list(df["T"]) == ["T1", "T3", "T4", "T1", "T2", "T2", "T2"]
    assert list(df["N"])[:4] == ["N1", "N2", "N0", "N0"]
    assert list(df["M"])[:2] == ["M0", "M1"]
    assert list(df["split"])[:3] == ["train", "test", "train"]
    assert list(df["event"]) == [0, 1, 1, 0, 1, 1, 1] and df["event"].dtype == "int64"
    assert df["age"].dtype == float and df.loc[1, "age"] == 71.5
    assert df["time_months"].dtype == float and df.loc[0, "time_months"] == 0.0
    assert df.loc[6, "mask_label"] == 8 and df.loc[4, "segment"] == "tumour"
    assert df.loc[0, "centre"] == "A"
    mask = read_mask(df.loc[6, "mask"], label=df.loc[6, "mask_label"], segment=df.loc[6, "segment"])
    assert roi_voxels(mask) == 2997


def test_read_manifest_clinical_only_defaults(tmp_path: Path) -> None:
    df = read_manifest(write_manifest(tmp_path / "m.csv", [{"patient_id": "A", **CLINICAL, "extra": "x"}]))
    assert df.loc[0, "centre"] == "all"
    assert df[["image", "mask", "mask_reader2", "split", "segment", "mask_label"]].isna().all(axis=None)
    assert df.loc[0, "extra"] == "x"  # unknown columns are kept, not dropped
    assert df.attrs["missing"] == {}


def test_read_manifest_reports_every_problem_at_once(cohort: Path) -> None:
    cases = cohort / "cases"
    (cases / "notes.nii.gz").write_text("not an image")
    data = (cases / "p1.nii.gz").read_bytes()
    (cases / "truncated.nii.gz").write_bytes(data[: len(data) // 2])
    sitk.WriteImage(make_mask(make_ct(), value=0), str(cases / "empty.nii.gz"))
    rows = [
        {"patient_id": "MISSING", "image": "cases/p1.nii.gz", "mask": "cases/nope.nii.gz", **CLINICAL},
        {"patient_id": "NOTIMG", "image": "cases/notes.nii.gz", "mask": "cases/p1_mask.nii.gz", **CLINICAL},
        {"patient_id": "TRUNC", "image": "cases/truncated.nii.gz", "mask": "cases/p1_mask.nii.gz", **CLINICAL},
        {"patient_id": "GEOM", "image": str(LUNG1_IMAGE), "mask": str(LUNG2_LABEL), **CLINICAL},
        {"patient_id": "EMPTY", "image": "cases/p1.nii.gz", "mask": "cases/empty.nii.gz", **CLINICAL},
        {"patient_id": "MULTI", "image": str(PROSTATE_IMAGE), "mask": str(PROSTATE_LABEL), **CLINICAL},
        {
            "patient_id": "ABSENT",
            "image": str(PROSTATE_IMAGE),
            "mask": str(PROSTATE_LABEL),
            "mask_label": "5",
            **CLINICAL,
        },
        {"patient_id": "NOIMG", "image": "", "mask": "cases/p1_mask.nii.gz", **CLINICAL},
        {
            "patient_id": "CLIN",
            "image": "cases/p1.nii.gz",
            "mask": "cases/p1_mask.nii.gz",
            **CLINICAL,
            "age": "sixty",
            "gender": "x",
            "T": "T5",
            "N": "N3",
            "M": "M2",
            "time_months": "-3",
            "event": "2",
        },
        {
            "patient_id": "RANGE",
            "image": "cases/p1.nii.gz",
            "mask": "cases/p1_mask.nii.gz",
            **CLINICAL,
            "age": "7",
            "T": "",
            "N": "NX",
        },
        {"patient_id": "MISSING", "image": "cases/p1.nii.gz", "mask": "cases/p1_mask.nii.gz", **CLINICAL},
        {"patient_id": "", "image": "cases/p1.nii.gz", "mask": "cases/p1_mask.nii.gz", **CLINICAL},
    ]
    with pytest.raises(ManifestError) as error:
        read_manifest(write_manifest(cohort / "manifest.csv", rows))
    c = str(cases)
    assert problem_lines(error) == [
        f"MISSING: mask: {c}/nope.nii.gz: file not found",
        "MISSING: patient_id: duplicate id on CSV lines 2, 12",
        f"NOTIMG: image: {c}/notes.nii.gz: unreadable image "
        f'(Unable to determine ImageIO reader for "{c}/notes.nii.gz")',
        f"TRUNC: image: {c}/truncated.nii.gz: unreadable image (compressed data ends early: the file is truncated)",
        f"GEOM: mask: {LUNG2_LABEL}: geometry mismatch with the image: "
        "size mask (215, 194, 31) vs image (152, 154, 23); "
        "spacing mask (0.626953, 0.626953, 5) vs image (0.570312, 0.570312, 5); "
        "origin mask (-11.2539, -155.85, -335) vs image (-65.0156, -163.602, -667.5)",
        f"EMPTY: mask: {c}/empty.nii.gz: the mask is empty (no non-zero voxel)",
        f"MULTI: mask: {PROSTATE_LABEL}: the mask is not binary: labels 1, 7, 8, 9; choose one with mask_label",
        f"ABSENT: mask: {PROSTATE_LABEL}: label 5 not in the mask; labels found: 1, 7, 8, 9",
        "NOIMG: image: missing value",
        "CLIN: age: not a number: 'sixty'",
        "CLIN: gender: not recognised: 'x' (expected male/female or M/F)",
        "CLIN: T: not recognised: 'T5' (expected T1 to T4; TX or empty = missing)",
        "CLIN: N: not recognised: 'N3' (expected N0 to N2; NX or empty = missing)",
        "CLIN: M: not recognised: 'M2' (expected M0 to M1; MX or empty = missing)",
        "CLIN: time_months: negative time: -3",
        "CLIN: event: must be 0 or 1, got '2'",
        "RANGE: age: out of range: 7 (expected 18 to 110 years)",
        "RANGE: T: missing value",
        "RANGE: N: missing value ('NX' = not assessable)",
        "line 13: patient_id: missing patient id",
    ]
    message = str(error.value)
    assert message.startswith(f"{cohort / 'manifest.csv'}: 20 problem(s)\n")
    assert all(f"  {line}" in message.splitlines() for line in problem_lines(error))


def test_read_manifest_optional_columns_are_validated(cohort: Path) -> None:
    base = {"image": "cases/p1.nii.gz", "mask": "cases/p1_mask.nii.gz", **CLINICAL}
    rows = [
        {"patient_id": "A", **base, "mask_reader2": "cases/gone.nii.gz", "centre": "X", "split": "validation"},
        {"patient_id": "B", **base, "mask_label": "abc", "centre": "", "split": "test"},
    ]
    with pytest.raises(ManifestError) as error:
        read_manifest(write_manifest(cohort / "manifest.csv", rows))
    assert problem_lines(error) == [
        "A: split: must be train or test, got 'validation'",
        f"A: mask_reader2: {cohort / 'cases' / 'gone.nii.gz'}: file not found",
        "B: centre: missing value",
        "B: mask_label: must be a positive integer, got 'abc'",
    ]


def test_read_manifest_missing_required_column_is_one_error(tmp_path: Path) -> None:
    rows = [{"patient_id": f"P{i}", **CLINICAL} for i in range(5)]
    for row in rows:
        del row["event"]
    with pytest.raises(ManifestError) as error:
        read_manifest(write_manifest(tmp_path / "m.csv", rows))
    assert error.value.problems == [Problem("(manifest)", "event", "required column is missing")]
    only_image = write_manifest(tmp_path / "m.csv", [{"patient_id": "A", "image": "a.nii", **CLINICAL}])
    with pytest.raises(ManifestError) as error:  # an image column asks for its mask column
        read_manifest(only_image, check_images=False)
    assert problem_lines(error) == ["(manifest): mask: required column is missing"]


def test_read_manifest_allow_missing_keeps_na_and_counts(tmp_path: Path) -> None:
    rows = [{"patient_id": "A", **CLINICAL, "T": "TX", "M": ""}, {"patient_id": "B", **CLINICAL, "M": "MX"}]
    path = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    assert problem_lines(error) == [
        "A: T: missing value ('TX' = not assessable)",
        "A: M: missing value",
        "B: M: missing value ('MX' = not assessable)",
    ]
    df = read_manifest(path, allow_missing=("T", "M"))
    assert df["T"].isna().tolist() == [True, False] and df["M"].isna().all()
    assert df.attrs["missing"] == {"T": 1, "M": 2}
    with pytest.raises(ValueError, match="allow_missing accepts only"):
        read_manifest(path, allow_missing=("image",))


def test_read_manifest_geometry_tolerance(tmp_path: Path) -> None:
    ct = make_ct()
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    mask = make_mask(ct)
    mask.SetOrigin(tuple(np.add(ORIGIN, (0.0, 0.0, 0.01))))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    row = {"patient_id": "A", "image": "ct.nrrd", "mask": "mask.nrrd", **CLINICAL}
    path = write_manifest(tmp_path / "m.csv", [row])
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    assert problem_lines(error) == [
        f"A: mask: {tmp_path / 'mask.nrrd'}: geometry mismatch with the image: "
        "origin mask (-20, 15, 100.01) vs image (-20, 15, 100)"
    ]
    assert len(read_manifest(path, geometry_tolerance_mm=0.05)) == 1
    placed = read_mask(tmp_path / "mask.nrrd", reference=ct, tolerance_mm=0.05)
    assert placed.GetOrigin() == ct.GetOrigin()


def test_read_manifest_check_images_off_touches_no_file(tmp_path: Path) -> None:
    rows = [{"patient_id": "A", "image": "none/ct.nii.gz", "mask": "none/mask.nii.gz", **CLINICAL}]
    df = read_manifest(write_manifest(tmp_path / "m.csv", rows), check_images=False)
    assert df.loc[0, "image"] == str(tmp_path / "none" / "ct.nii.gz")


# ----------------------------------------------------------------------------- TCGA-PAAD


def test_tcga_paad_clinical_manifest(tmp_path: Path) -> None:
    manifest = tcga_paad_manifest(TCGA, tmp_path / "tcga" / "manifest.csv")
    assert set(REQUIRED_CLINICAL) <= set(pd.read_csv(manifest).columns)
    df = read_manifest(manifest, check_images=False, allow_missing=("T", "N", "M"))
    assert len(df) == 185 and df["event"].sum() == 100
    assert df["time_months"].min() == 0.0  # one patient has os_days = 0: valid, not negative
    assert df["T"].value_counts().to_dict() == {"T3": 141, "T2": 24, "T1": 7, "T4": 3}
    assert df["N"].value_counts().to_dict() == {"N1": 123, "N0": 49}  # N1b -> N1; NX -> missing
    assert df["M"].value_counts().to_dict() == {"M0": 79, "M1": 4}  # MX -> missing
    assert df.attrs["missing"] == {"T": 10, "N": 13, "M": 102}
    assert set(df["gender"]) == {"male", "female"}
    days = pd.read_csv(TCGA)["os_days"]
    assert np.allclose(df["time_months"] * 30.4375, days)


def test_tcga_paad_without_allow_missing_names_patients_missing_t(tmp_path: Path) -> None:
    manifest = tcga_paad_manifest(TCGA, tmp_path / "manifest.csv")
    with pytest.raises(ManifestError) as error:
        read_manifest(manifest, check_images=False)
    missing_t = sorted(p.patient_id for p in error.value.problems if p.field == "T")
    source = pd.read_csv(TCGA, keep_default_na=False)
    assert missing_t == sorted(source.loc[source["ajcc_T"].isin(["", "TX"]), "patient_id"])
    assert len(missing_t) == 10
    assert "TCGA-3A-A9IO: T: missing value ('TX' = not assessable)" in str(error.value)
    assert all(p.message.startswith("missing value") for p in error.value.problems)


# ----------------------------------------------------------------------------- pseudonymise


def test_pseudonymise_is_stable_keyed_and_formatted() -> None:
    ids = ["12345", "67890", "12345"]
    first = pseudonymise(ids, salt="secret")
    assert first == pseudonymise(ids, salt="secret")
    assert list(first) == ["12345", "67890"]
    assert all(re.fullmatch(r"PT-[0-9a-f]{8}", code) for code in first.values())
    assert first != pseudonymise(ids, salt="other")
    assert pseudonymise(["a"], salt="s", prefix="PDAC")["a"].startswith("PDAC-")
    with pytest.raises(ValueError, match="salt must be a non-empty secret"):
        pseudonymise(ids, salt="")


def test_pseudonymise_refuses_collisions() -> None:
    # 8 hex digits = 32 bits: some pair of ~10^5 ids collides; find one, then demand refusal.
    seen: dict[str, str] = {}
    for i in range(400_000):
        code = pseudonymise([str(i)], salt="s")[str(i)]
        if code in seen:
            pair = [seen[code], str(i)]
            break
        seen[code] = str(i)
    with pytest.raises(ValueError) as error:
        pseudonymise(pair, salt="s")
    assert str(error.value) == (
        f"pseudonym collision: '{pair[0]}' and '{pair[1]}' both map to {code}; use another salt"
    )
