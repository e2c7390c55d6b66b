"""Builders and helpers shared by the tests: synthetic CT and masks, DICOM and Slicer files, manifests, run comparisons.

Tests import these from here, never from one another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from numpy.typing import ArrayLike
from scipy.special import ndtri

ROOT = Path(__file__).resolve().parents[1]
PATH_COLUMNS = ["image", "mask", "mask_reader2"]  # cohort.parquet columns that hold absolute paths


def shared_data_dir() -> Path:
    """``../shared/data`` (CI and sessions lay it beside the clone); SHARED_DATA overrides."""
    return Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))


def recorded_outputs(run_dir: Path) -> dict[str, str]:
    """Every artifact the stages recorded, with the hash their manifests give it."""
    outputs: dict[str, str] = {}
    for manifest in sorted((run_dir / "manifests").glob("*.json")):
        outputs |= json.loads(manifest.read_text(encoding="utf-8"))["outputs"]
    return outputs


def cohort_without_run_folder(run_dir: Path) -> pd.DataFrame:
    """cohort.parquet with the run folder replaced in its image and mask paths."""
    cohort = pd.read_parquet(run_dir / "cohort.parquet")
    for column in PATH_COLUMNS:
        cohort[column] = cohort[column].str.replace(str(run_dir), "<run_dir>", regex=False)
    return cohort


SPACING = (0.8, 0.7, 2.5)
ORIGIN = (-20.0, 15.0, 100.0)
CLINICAL = {
    "age": "66",
    "gender": "male",
    "T": "T2",
    "N": "N0",
    "M": "M0",
    "time_months": "12.5",
    "event": "1",
}


def make_ct(seed: int = 0) -> sitk.Image:
    """A small int16 'CT' volume (x=12, y=10, z=6) with non-trivial geometry."""
    voxels = np.random.default_rng(seed).integers(-1000, 1000, size=(6, 10, 12)).astype(np.int16)
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    return image


def make_mask(reference: sitk.Image, value: int = 1) -> sitk.Image:
    """A 3x3x2 cube ROI (18 voxels) of the given value on the reference grid."""
    voxels = np.zeros(sitk.GetArrayViewFromImage(reference).shape, np.uint8)
    voxels[2:4, 3:6, 4:7] = value
    mask = sitk.GetImageFromArray(voxels)
    mask.CopyInformation(reference)
    return mask


def write_dicom_series(image: sitk.Image, folder: Path, series_uid: str, description: str = "") -> None:
    """Write a volume as a DICOM CT series, one file per slice, with the tags a series reader needs."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = image.GetDirection()
    orientation = "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    for z in range(image.GetDepth()):
        slice_ = image[:, :, z]
        tags = {
            "0008|0060": "CT",
            "0008|103e": description,
            "0010|0020": "TEST",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": series_uid,
            "0020|0052": "1.2.826.0.1.3680043.2.1125.3",
            "0008|0018": f"{series_uid}.{z + 1}",
            "0020|0013": str(z + 1),
            "0020|0037": orientation,
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, z))),
            "0018|0050": str(image.GetSpacing()[2]),
        }
        for key, value in tags.items():
            slice_.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{series_uid}_{z:03d}.dcm"))
        writer.Execute(slice_)


def export_dicom_seg(series: Path, mask: sitk.Image, path: Path, label: str) -> Path:
    """Write a binary mask on a DICOM series' grid as a one-segment DICOM SEG, with highdicom's writer."""
    import highdicom as hd
    import pydicom

    slices = [pydicom.dcmread(file) for file in sorted(series.iterdir())]
    slices.sort(key=lambda dataset: float(dataset.ImagePositionPatient[2]))  # the mask's z order
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label,
        segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
        segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=slices,
        pixel_array=sitk.GetArrayFromImage(mask).astype(bool),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="pdac-fusion-book tests",
        manufacturer_model_name="builders.export_dicom_seg",
        software_versions=hd.__version__,
        device_serial_number="0",
    )
    seg.save_as(path)
    return path


def export_rtstruct(series: Path, mask: sitk.Image, path: Path, name: str) -> Path:
    """Write a binary mask on a DICOM series' grid as an RTSTRUCT ROI, with rt-utils' writer (OpenCV contours)."""
    rt_utils = pytest.importorskip(
        "rt_utils", reason="rt-utils comes from tools/install.sh; conda route: pip install --no-deps rt-utils==1.2.7"
    )
    rtstruct = rt_utils.RTStructBuilder.create_new(dicom_series_path=str(series))
    rtstruct.add_roi(mask=np.transpose(sitk.GetArrayFromImage(mask).astype(bool), (1, 2, 0)), name=name)
    rtstruct.save(str(path))
    return path


def write_seg(mask: sitk.Image, path: Path, segments: dict[int, tuple[str, int, int]]) -> Path:
    """Write a 3D Slicer style .seg.nrrd: {index: (name, label value, layer)} in the header."""
    mask = sitk.Image(mask)
    for index, (name, label, layer) in segments.items():
        mask.SetMetaData(f"Segment{index}_ID", f"Segment_{index + 1}")
        mask.SetMetaData(f"Segment{index}_Name", name)
        mask.SetMetaData(f"Segment{index}_LabelValue", str(label))
        mask.SetMetaData(f"Segment{index}_Layer", str(layer))
    sitk.WriteImage(mask, str(path), True)
    return path


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write manifest rows (missing keys become empty cells)."""
    pd.DataFrame(rows).fillna("").to_csv(path, index=False)
    return path


class RRandom:
    """R's default generator (Mersenne-Twister seeded by ``set.seed``'s scrambling; ``rnorm`` by inversion), so a
    test can rebuild the data of an R package's own test and compare with the values printed there."""

    def __init__(self, seed: int) -> None:
        state = seed & 0xFFFFFFFF
        for _ in range(50):  # set.seed's initial scrambling
            state = (69069 * state + 1) & 0xFFFFFFFF
        key = []
        for _ in range(625):  # dummy[0] (the position) then the 624 words
            state = (69069 * state + 1) & 0xFFFFFFFF
            key.append(state)
        self.generator = np.random.MT19937()
        self.generator.state = {"bit_generator": "MT19937", "state": {"key": np.array(key[1:], np.uint32), "pos": 624}}

    def unif_rand(self) -> float:
        """R's unif_rand: a 32-bit draw scaled to (0, 1), kept off both ends."""
        u = int(self.generator.random_raw()) * 2.3283064365386963e-10
        return min(max(u, 0.5 * 2.328306437080797e-10), 1.0 - 0.5 * 2.328306437080797e-10)

    def rnorm(self, n: int, mean: ArrayLike = 0.0) -> np.ndarray:
        """R's rnorm(n, mean) by inversion of two uniforms (BIG = 2^27), ``mean`` recycled."""
        means = np.atleast_1d(np.asarray(mean, dtype=float)).ravel()
        draws = []
        for i in range(n):
            u = int(134217728 * self.unif_rand()) + self.unif_rand()
            draws.append(means[i % len(means)] + float(ndtri(u / 134217728)))
        return np.array(draws)

    def rbinom_half(self, n: int) -> np.ndarray:
        """R's rbinom(n, 1, 0.5): its inversion branch is u >= 0.5."""
        return np.array([1.0 if self.unif_rand() >= 0.5 else 0.0 for _ in range(n)])
