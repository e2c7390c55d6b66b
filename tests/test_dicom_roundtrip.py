"""A round trip on real CT: the PyRadiomics lung crops written as DICOM CT series, their tumour masks exported
as DICOM SEG (highdicom's writer) and as RTSTRUCT (rt-utils' writer, OpenCV contours), then read back as the
manifest reads them and compared with the original NRRD masks and their PyRadiomics features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from builders import export_dicom_seg, export_rtstruct, write_dicom_series

from helpers.data.images import read_image
from helpers.data.masks import read_mask
from helpers.features import radiomics

ROOT = Path(__file__).resolve().parents[1]
CASES = ("lung1", "lung2")
MIN_DICE = 0.95  # the bar; both writers in fact reproduce every voxel (Dice 1)
FEATURE_RTOL = 1e-6  # the round trip's PyRadiomics features against the NRRD original's (measured: identical)


def dice(a: sitk.Image, b: sitk.Image) -> float:
    """Dice overlap of two binary masks on the same grid."""
    x, y = (sitk.GetArrayViewFromImage(m).astype(bool) for m in (a, b))
    return float(2 * (x & y).sum() / (x.sum() + y.sum()))


@pytest.fixture(scope="module")
def exported(shared_data: Path, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Per lung case: the original NRRD image and mask, its DICOM series, and the mask as SEG and RTSTRUCT."""
    out = tmp_path_factory.mktemp("roundtrip")
    folder = shared_data / "pyradiomics_testcases"
    cases = {}
    for number, case in enumerate(CASES, start=1):
        image, mask = folder / f"{case}_image_crop.nrrd", folder / f"{case}_label_crop.nrrd"
        series = out / case / "ct"
        write_dicom_series(sitk.ReadImage(str(image)), series, f"1.2.826.0.1.3680043.2.1125.90{number}")
        original = sitk.ReadImage(str(mask))
        cases[case] = {
            "image": image,
            "mask": mask,
            "series": series,
            "seg": export_dicom_seg(series, original, out / case / "tumour_seg.dcm", "tumour"),
            "rtstruct": export_rtstruct(series, original, out / case / "tumour_rtstruct.dcm", "tumour"),
        }
    return cases


@pytest.mark.parametrize("case", CASES)
def test_the_dicom_series_reads_back_as_the_original_ct(exported, case):
    original, series = sitk.ReadImage(str(exported[case]["image"])), read_image(exported[case]["series"])
    assert series.GetSize() == original.GetSize()
    np.testing.assert_allclose(series.GetOrigin(), original.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(series.GetSpacing(), original.GetSpacing(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(series), sitk.GetArrayViewFromImage(original))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", ["seg", "rtstruct"])
def test_seg_and_rtstruct_read_back_as_the_original_mask(exported, case, kind):
    ct = read_image(exported[case]["series"])
    original = read_mask(exported[case]["mask"], reference=sitk.ReadImage(str(exported[case]["image"])))
    back = read_mask(exported[case][kind], segment="tumour", reference=ct)
    assert dice(back, original) >= MIN_DICE
    assert dice(back, original) == 1.0  # every voxel, edges included (contour lines run through edge voxels)


@pytest.mark.slow
def test_pyradiomics_features_of_the_round_trip_equal_the_originals(exported, tmp_path):
    jobs = []
    for case, files in exported.items():
        jobs.append(radiomics.CaseJob(f"{case}-nrrd", "reader1", str(files["image"]), str(files["mask"])))
        for kind in ("seg", "rtstruct"):
            jobs.append(
                radiomics.CaseJob(f"{case}-{kind}", "reader1", str(files["series"]), str(files[kind]), None, "tumour")
            )
    params = ROOT / "params" / "pyradiomics_paper.yaml"
    result = radiomics.extract_cohort(jobs, params, tmp_path, n_jobs=2, progress=False)
    assert result.failures.empty and result.features.shape == (6, 1037)
    features = result.features.droplevel("reader")
    for case in CASES:
        original = features.loc[f"{case}-nrrd"]
        for kind in ("seg", "rtstruct"):
            pd.testing.assert_series_equal(
                features.loc[f"{case}-{kind}"], original, check_names=False, rtol=FEATURE_RTOL, atol=1e-9
            )
