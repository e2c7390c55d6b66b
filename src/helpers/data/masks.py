"""Tumour masks: label images, 3D Slicer segmentations and DICOM RTSTRUCT / SEG files, chosen by label or segment,
on the image grid."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import SimpleITK as sitk

from helpers.data.dicom_masks import dicom_mask_dataset, read_dicom_mask
from helpers.data.images import IMAGE_SUFFIXES, read_image
from helpers.errors import InputError

_SEGMENT_KEY = re.compile(r"Segment(\d+)_(Name|LabelValue|Layer)")


@dataclass(frozen=True)
class _Segment:
    """One segment of a 3D Slicer segmentation, as its header describes it."""

    name: str
    label: int
    layer: int


def read_mask(
    path: Path,
    *,
    label: int | None = None,
    segment: str | None = None,
    reference: sitk.Image | None = None,
    tolerance_mm: float = 1e-3,
) -> sitk.Image:
    """Read one ROI as a binary uint8 mask, checked against and placed on ``reference`` if given."""
    # label/segment accept manifest cells (NA = not given). With a reference, the geometry must
    # agree within tolerance_mm and the result takes the reference's exact geometry; a Slicer
    # segmentation may cover another extent of the same voxel grid and is padded/cropped onto it.
    if is_dicom_mask(path):
        return _read_dicom_mask(path, label, segment, reference)
    raw = read_image(path)
    try:
        mask = select_roi(raw, cast(int | None, given_or_none(label)), cast(str | None, given_or_none(segment)))
        if reference is not None:
            mask = on_image_grid(mask, reference, tolerance_mm, extent_may_differ=bool(slicer_segments(raw)))
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    return mask


def is_dicom_mask(path: Path) -> bool:
    """A mask file that is not a NIfTI, NRRD or MetaImage file is read as a DICOM RTSTRUCT or SEG."""
    return Path(path).is_file() and not Path(path).name.lower().endswith(IMAGE_SUFFIXES)


def _read_dicom_mask(path: Path, label: object, segment: object, reference: sitk.Image | None) -> sitk.Image:
    """A DICOM RTSTRUCT or SEG mask on its CT series' grid (``helpers.data.dicom_masks``); errors name the file."""
    try:
        dataset = dicom_mask_dataset(path)
        if dataset is None:
            raise InputError(
                "unsupported format; a mask is a NIfTI, NRRD (.seg.nrrd), MetaImage, DICOM RTSTRUCT or DICOM SEG file"
            )
        if reference is None:
            raise InputError("a DICOM RTSTRUCT or SEG mask is read onto its CT series: pass the image as reference")
        number = given_or_none(label)
        return read_dicom_mask(
            dataset,
            reference,
            None if number is None else int(cast(int, number)),
            cast(str | None, given_or_none(segment)),
        )
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def given_or_none(value: object) -> object | None:
    """Map a missing manifest cell (None or NA) to None."""
    return None if value is None or pd.isna(value) else value


def slicer_segments(image: sitk.Image) -> list[_Segment]:
    """The segments a 3D Slicer .seg.nrrd header declares (empty list for a plain label image)."""
    fields: dict[int, dict[str, str]] = {}
    for key in image.GetMetaDataKeys():
        match = _SEGMENT_KEY.fullmatch(key)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = image.GetMetaData(key).strip()
    layered = image.GetNumberOfComponentsPerPixel() > 1
    return [
        _Segment(
            name=f.get("Name", f"Segment{index}"),
            # Slicer files before 4.11 stored each segment in its own layer with value 1.
            label=int(f.get("LabelValue", 1)),
            layer=int(f.get("Layer", index if layered else 0)),
        )
        for index, f in sorted(fields.items())
    ]


def _choose_segment(segments: list[_Segment], label: int | None, segment: str | None) -> _Segment:
    """Pick the segment named by ``segment``, else the one with value ``label``, else the only one."""
    listed = ", ".join(f"'{s.name}' (label {s.label}, layer {s.layer})" for s in segments)
    if segment is not None:
        matches = [s for s in segments if s.name == segment]
        if not matches:
            raise InputError(f"segment '{segment}' not found; segments: {listed}")
        if len(matches) > 1:
            raise InputError(f"several segments are named '{segment}'; segments: {listed}")
        if label is not None and matches[0].label != label:
            raise InputError(f"segment '{segment}' has label {matches[0].label}, not mask_label {label}")
        return matches[0]
    if label is not None:
        matches = [s for s in segments if s.label == label]
        if not matches:
            raise InputError(f"label {label} not found; segments: {listed}")
        if len(matches) > 1:
            raise InputError(f"label {label} is used by several segments ({listed}); choose one with segment")
        return matches[0]
    if len(segments) > 1:
        raise InputError(f"{len(segments)} segments ({listed}); choose one with segment or mask_label")
    return segments[0]


def select_roi(raw: sitk.Image, label: int | None, segment: str | None) -> sitk.Image:
    """Reduce a label image or Slicer segmentation to the chosen ROI as a binary uint8 image."""
    segments = slicer_segments(raw)
    layer = None
    if segments:
        chosen = _choose_segment(segments, None if label is None else int(label), segment)
        layer, label = chosen.layer, chosen.label
    elif segment is not None:
        raise InputError(f"segment '{segment}' requested but the mask has no 3D Slicer segment metadata")
    components = raw.GetNumberOfComponentsPerPixel()
    if components > 1 and layer is None:
        raise InputError(f"the mask has {components} components per voxel; expected a label image")
    if layer is not None and not 0 <= layer < components:
        raise InputError(f"layer {layer} requested but the mask has {components} layer(s)")
    scalar = sitk.VectorIndexSelectionCast(raw, layer) if components > 1 else raw
    voxels = sitk.GetArrayViewFromImage(scalar)
    values = np.unique(voxels[voxels != 0])
    if values.size == 0:
        raise InputError("the mask is empty (no non-zero voxel)")
    if not np.all(values == np.round(values)):
        raise InputError("the mask has non-integer values (resampled with linear interpolation?)")
    found = ", ".join(f"{v:g}" for v in values)
    if label is None:
        if values.size > 1:
            raise InputError(f"the mask is not binary: labels {found}; choose one with mask_label")
        label = values[0]
    elif label not in values:
        raise InputError(f"label {label} not in the mask; labels found: {found}")
    binary = sitk.GetImageFromArray((voxels == label).astype(np.uint8))
    binary.CopyInformation(scalar)
    return binary


def _fmt(values: Sequence[float]) -> str:
    """Format a geometry tuple compactly for error messages."""
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def _geometry_differences(mask: sitk.Image, image: sitk.Image, tolerance: float, extent: bool) -> list[str]:
    """Name each of size, spacing, origin, direction that differs, with the mask's and image's values."""
    if mask.GetDimension() != image.GetDimension():
        return [f"dimension mask {mask.GetDimension()} vs image {image.GetDimension()}"]
    differences = []
    if extent and mask.GetSize() != image.GetSize():
        differences.append(f"size mask {mask.GetSize()} vs image {image.GetSize()}")
    for name, getter, compare in (
        ("spacing", sitk.Image.GetSpacing, True),
        ("origin", sitk.Image.GetOrigin, extent),
        ("direction", sitk.Image.GetDirection, True),
    ):
        a, b = getter(mask), getter(image)
        if compare and np.max(np.abs(np.subtract(a, b))) > tolerance:
            differences.append(f"{name} mask {_fmt(a)} vs image {_fmt(b)}")
    return differences


def on_image_grid(mask: sitk.Image, image: sitk.Image, tolerance: float, extent_may_differ: bool) -> sitk.Image:
    """Return the mask with the image's exact geometry; raise naming any geometry mismatch."""
    differences = _geometry_differences(mask, image, tolerance, extent=not extent_may_differ)
    same_extent = mask.GetSize() == image.GetSize() and np.allclose(
        mask.GetOrigin(), image.GetOrigin(), rtol=0, atol=tolerance
    )
    if not differences and not same_extent:  # a Slicer segmentation stored on a sub-extent
        index = np.array(image.TransformPhysicalPointToContinuousIndex(mask.GetOrigin()))
        if np.max(np.abs(index - np.round(index)) * np.array(image.GetSpacing())) > tolerance:
            differences.append(f"origin mask {_fmt(mask.GetOrigin())} is off the image's voxel grid")
    if differences:
        raise InputError("geometry mismatch with the image: " + "; ".join(differences))
    if same_extent:
        placed = sitk.Image(mask)
        placed.CopyInformation(image)
        return placed
    placed = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    kept, stored = (np.count_nonzero(sitk.GetArrayViewFromImage(m)) for m in (placed, mask))
    if kept != stored:
        raise InputError("geometry mismatch with the image: the segmentation extends beyond the image")
    return placed
