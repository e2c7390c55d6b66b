"""Tumour masks from DICOM objects: DICOM SEG (read with highdicom) and RTSTRUCT (filled on the CT's own grid).

Both are placed on the grid of the manifest's CT series, whose Frame of Reference and Series Instance UIDs they
must reference. A structure is chosen by name (the manifest's ``segment``) or number (``mask_label``).

Why a polygon fill of our own for RTSTRUCT: rt-utils fills each contour with OpenCV and ORs them, so a hole
(a contour nested in another) is filled in, and it needs OpenCV; dicompyler-core rasterises only inside its
dose-volume code; plastimatch is a compiled toolkit. The fill here maps every contour point through the CT's
own geometry (origin, spacing, direction: any patient orientation), requires each closed planar contour to lie
on a CT slice, and combines the contours of a slice by the even-odd rule, so a nested contour is a hole (XOR).
A voxel belongs to the structure when its centre lies inside.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk
from matplotlib.path import Path as Polygon
from pydicom.errors import InvalidDicomError

from helpers.data.images import FRAME_OF_REFERENCE_UID, SERIES_UID
from helpers.errors import InputError

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
FRACTIONAL_THRESHOLD = 0.5  # a FRACTIONAL segment's voxel is in the mask when its probability/occupancy >= this
PLANE_TOLERANCE = 0.25  # a contour lies on a slice when within this fraction of the slice spacing of it
# a voxel centre within this fraction of a voxel of a contour line lies on it: wide enough for coordinates
# rounded to 0.01 mm (planning systems write ContourData so), diagonal edges included, on voxels of 0.25 mm
# or more
ON_CONTOUR_TOLERANCE = 0.05


@dataclass(frozen=True)
class Structure:
    """One structure a SEG or RTSTRUCT file holds: its number and name."""

    number: int
    name: str


def dicom_mask_dataset(path: Path) -> pydicom.Dataset | None:
    """The header of a DICOM SEG or RTSTRUCT file; None for a file that is not DICOM at all.

    A file without the 128-byte preamble and "DICM" prefix is read with pydicom's ``force`` option, with a
    warning that says so, and accepted only when it then turns out to be a SEG or RTSTRUCT. A DICOM file of
    another kind (a CT slice, say) is an error that names its SOP class (the caller adds the file's name).
    """
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=False)
    except InvalidDicomError:
        try:
            dataset = pydicom.dcmread(path, force=True)
            kind = str(dataset.get("SOPClassUID", ""))
        except Exception:  # noqa: BLE001 - pydicom raises many kinds on bytes that are not DICOM
            return None
        if kind not in (SEG_STORAGE, RTSTRUCT_STORAGE):
            return None
        warnings.warn(
            f"{path}: no DICOM preamble or 'DICM' prefix; read as a raw DICOM data set (pydicom force=True)",
            stacklevel=2,
        )
    kind = str(dataset.get("SOPClassUID", ""))
    if kind not in (SEG_STORAGE, RTSTRUCT_STORAGE):
        modality = dataset.get("Modality", "?")
        raise InputError(
            f"a DICOM file of SOP class {kind or 'unknown'} (modality {modality}), not an RTSTRUCT or "
            "DICOM SEG; a DICOM mask must be one of those two (a CT series goes in the image column as a folder)"
        )
    return dataset


def _choose(structures: list[Structure], number: int | None, name: str | None, what: str) -> Structure:
    """The structure named ``name``, else numbered ``number``, else the only one; errors list them all."""
    listed = ", ".join(f"{s.number} '{s.name}'" for s in structures) or "none"
    if name is not None:
        matches = [s for s in structures if s.name == name]
        if not matches:
            raise InputError(f"{what} '{name}' not found; the file holds: {listed}")
        if len(matches) > 1:
            raise InputError(f"several {what}s are named '{name}' ({listed}); choose one by number with mask_label")
        if number is not None and matches[0].number != number:
            raise InputError(f"{what} '{name}' is number {matches[0].number}, not mask_label {number}")
        return matches[0]
    if number is not None:
        matches = [s for s in structures if s.number == number]
        if not matches:
            raise InputError(f"{what} number {number} not found; the file holds: {listed}")
        return matches[0]
    if len(structures) != 1:
        raise InputError(f"the file holds {len(structures)} {what}s ({listed}); choose one with segment or mask_label")
    return structures[0]


def _reference_uid(reference: sitk.Image, key: str) -> str:
    """A UID the CT reader stored on the image; a CT that is not a DICOM series has none."""
    if not reference.HasMetaDataKey(key):
        raise InputError(
            "an RTSTRUCT or DICOM SEG mask needs the image as a DICOM series folder (its UIDs tie the mask to "
            "the CT); this image is not a DICOM series"
        )
    return reference.GetMetaData(key).strip()


def _check_frame_of_reference(found: set[str], reference: sitk.Image) -> None:
    """The mask must be drawn in the CT's patient coordinate system (its Frame of Reference UID)."""
    expected = _reference_uid(reference, FRAME_OF_REFERENCE_UID)
    if found and expected not in found:
        raise InputError(
            f"the mask references Frame of Reference {', '.join(sorted(found))}, the image series is in "
            f"{expected}: the mask was drawn on another scan"
        )


def _check_series(found: set[str], reference: sitk.Image) -> None:
    """Where the mask names the series it was drawn on, that must be the manifest's image series."""
    expected = _reference_uid(reference, SERIES_UID)
    if found and expected not in found:
        raise InputError(
            f"the mask references series {', '.join(sorted(found))}, not the image series {expected}: point the "
            "image column at the series the structure was drawn on"
        )


# ----------------------------------------------------------------------------- DICOM SEG


def seg_mask(dataset: pydicom.Dataset, reference: sitk.Image, number: int | None, name: str | None) -> sitk.Image:
    """One segment of a DICOM SEG as a binary uint8 mask on ``reference``'s grid.

    BINARY segments are taken as stored; FRACTIONAL ones are rescaled to [0, 1] and thresholded at
    FRACTIONAL_THRESHOLD. Overlapping segments are read one at a time, so an overlap costs nothing.
    """
    seg = hd.seg.Segmentation.from_dataset(dataset, copy=False)
    structures = [Structure(int(s.SegmentNumber), str(s.SegmentLabel)) for s in seg.SegmentSequence]
    chosen = _choose(structures, number, name, "segment")
    _check_frame_of_reference({str(seg.FrameOfReferenceUID)}, reference)
    _check_series({str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])}, reference)
    volume = seg.get_volume(segment_numbers=[chosen.number], rescale_fractional=True)
    values = volume.array[..., 0]
    inside = values >= FRACTIONAL_THRESHOLD if values.dtype.kind == "f" else values > 0
    if not inside.any():
        raise InputError(f"segment {chosen.number} '{chosen.name}' is empty")
    mask = sitk.Resample(
        _volume_image(inside, volume.affine), reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )
    placed, stored = int(sitk.GetArrayViewFromImage(mask).sum()), int(inside.sum())
    if placed != stored:
        raise InputError(
            f"segment {chosen.number} '{chosen.name}': {stored - placed} of its {stored} voxels fall outside the "
            "image series or off its voxel grid"
        )
    return mask


def _volume_image(inside: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A (slice, row, column) array with highdicom's affine as a SimpleITK image (x = column, z = slice)."""
    image = sitk.GetImageFromArray(inside.astype(np.uint8))
    axes = affine[:3, [2, 1, 0]]  # the column, row and slice steps, in mm
    spacing = np.linalg.norm(axes, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (axes / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    return image


# ----------------------------------------------------------------------------- RTSTRUCT


def rtstruct_structures(dataset: pydicom.Dataset) -> list[Structure]:
    """The ROIs of a structure set, in file order."""
    return [Structure(int(r.ROINumber), str(r.ROIName)) for r in dataset.get("StructureSetROISequence", [])]


def rtstruct_contours(dataset: pydicom.Dataset, number: int) -> list[np.ndarray]:
    """The closed planar contours of ROI ``number``: one (points, 3) array of patient coordinates (mm) each.

    Points (POINT) and open contours (OPEN_PLANAR, OPEN_NONPLANAR) enclose nothing and are left out.
    """
    for roi in dataset.get("ROIContourSequence", []):
        if int(roi.ReferencedROINumber) == number:
            return [
                np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
                for c in roi.get("ContourSequence", [])
                if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) == "CLOSED_PLANAR"
            ]
    return []


def _rtstruct_series(dataset: pydicom.Dataset) -> set[str]:
    """The series UIDs the structure set says it was drawn on (optional in the standard)."""
    return {
        str(series.SeriesInstanceUID)
        for frame in dataset.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
    }


def rtstruct_mask(dataset: pydicom.Dataset, reference: sitk.Image, number: int | None, name: str | None) -> sitk.Image:
    """One ROI of an RTSTRUCT, filled on ``reference``'s grid (module docstring), as a binary uint8 mask."""
    chosen = _choose(rtstruct_structures(dataset), number, name, "structure")
    frames = {
        str(r.ReferencedFrameOfReferenceUID)
        for r in dataset.get("StructureSetROISequence", [])
        if int(r.ROINumber) == chosen.number and "ReferencedFrameOfReferenceUID" in r
    }
    _check_frame_of_reference(frames, reference)
    _check_series(_rtstruct_series(dataset), reference)
    contours = rtstruct_contours(dataset, chosen.number)
    if not contours:
        raise InputError(f"structure {chosen.number} '{chosen.name}' has no closed contour (an empty structure)")
    try:
        return fill_contours(contours, reference)
    except InputError as error:
        raise InputError(f"structure {chosen.number} '{chosen.name}': {error}") from None


def fill_contours(contours: list[np.ndarray], reference: sitk.Image) -> sitk.Image:
    """Closed planar contours (patient mm) filled on ``reference``'s grid by the even-odd rule (holes XOR).

    A voxel whose centre lies on a contour line belongs to the structure, whether the line is an outer edge or a
    hole's edge: contouring tools trace the structure's own edge voxels (OpenCV's, and so rt-utils', contours run
    through their centres), so leaving those voxels out would shave a voxel off every edge.
    """
    size = np.asarray(reference.GetSize())
    to_index = np.linalg.inv(np.reshape(reference.GetDirection(), (3, 3)) * np.asarray(reference.GetSpacing()))
    origin = np.asarray(reference.GetOrigin())
    filled = np.zeros(size[::-1], dtype=bool)  # (z, y, x)
    edges: list[tuple[int, tuple[np.ndarray, np.ndarray]]] = []  # voxel centres on each contour's line
    for contour in contours:
        index = (contour - origin) @ to_index.T  # continuous (x, y, z) indices; voxel centres are integers
        plane = float(np.mean(index[:, 2]))
        if np.ptp(index[:, 2]) > 2 * PLANE_TOLERANCE:
            raise InputError("a contour is not parallel to the image slices (oblique to the series)")
        z = int(round(plane))
        if abs(plane - z) > PLANE_TOLERANCE:
            raise InputError(
                f"a contour lies between slices {int(np.floor(plane))} and {int(np.ceil(plane))} (at slice index "
                f"{plane:.2f}): it was drawn on another series or reconstruction"
            )
        low, high = index[:, :2].min(axis=0), index[:, :2].max(axis=0)
        if not (0 <= z < size[2]) or (low < -0.5).any() or (high > size[:2] - 0.5).any():
            raise InputError(
                f"a contour lies outside the image (slice index {plane:.1f} of 0-{size[2] - 1}, in-plane extent "
                f"{low.round(1).tolist()}-{high.round(1).tolist()} of the {size[0]} x {size[1]} grid)"
            )
        (x0, y0), (x1, y1) = np.ceil(np.maximum(low, 0)).astype(int), np.floor(high).astype(int)
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]  # only the voxel centres within the contour's box
        centres = np.column_stack([xs.ravel(), ys.ravel()]).astype(float)
        inside = Polygon(index[:, :2]).contains_points(centres).reshape(xs.shape)
        filled[z, y0 : y1 + 1, x0 : x1 + 1] ^= inside
        edges.append((z, _centres_on_line(index[:, :2])))
    for z, (xs_on, ys_on) in edges:
        filled[z, ys_on, xs_on] = True
    mask = sitk.GetImageFromArray(filled.astype(np.uint8))
    mask.CopyInformation(reference)
    return mask


def _centres_on_line(polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The integer (x, y) voxel centres that lie on a closed polygon's edges (continuous voxel indices)."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for start, end in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        step = end - start
        along = int(np.argmax(np.abs(step)))  # walk the edge along its longer axis, one voxel at a time
        if abs(step[along]) < ON_CONTOUR_TOLERANCE:
            points = start[None, :]
        else:
            low, high = sorted((start[along], end[along]))
            ticks = np.arange(np.ceil(low - ON_CONTOUR_TOLERANCE), np.floor(high + ON_CONTOUR_TOLERANCE) + 1)
            points = start + np.outer((ticks - start[along]) / step[along], step)
        on = np.all(np.abs(points - np.round(points)) < ON_CONTOUR_TOLERANCE, axis=1)
        xs.append(np.round(points[on, 0]).astype(int))
        ys.append(np.round(points[on, 1]).astype(int))
    return np.concatenate(xs), np.concatenate(ys)


def read_dicom_mask(
    dataset: pydicom.Dataset, reference: sitk.Image, number: int | None, name: str | None
) -> sitk.Image:
    """The chosen structure of a SEG or RTSTRUCT (``dicom_mask_dataset``) on ``reference``'s grid."""
    if str(dataset.SOPClassUID) == SEG_STORAGE:
        return seg_mask(dataset, reference, number, name)
    return rtstruct_mask(dataset, reference, number, name)
