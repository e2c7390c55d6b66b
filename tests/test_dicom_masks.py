"""DICOM SEG and RTSTRUCT masks, on real files: highdicom's SEG test objects with the pydicom CT series they
reference, a treatment-planning RTSTRUCT from dicompyler-core with one slice of its CT, and pydicom's
RTSTRUCT without a preamble (``../shared/data/dicom_seg_rt``)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from helpers.data import dicom_masks
from helpers.data.images import read_image
from helpers.data.masks import read_mask
from helpers.errors import InputError

GAPPED_FIRST_FILE = "17106"  # the series' first file lies ~200 mm from the other three (a gap the reader refuses)


def voxels(mask: sitk.Image) -> int:
    """The mask's foreground voxel count."""
    return int(sitk.GetArrayViewFromImage(mask).sum())


@pytest.fixture
def folder(shared_data: Path) -> Path:
    """``shared/data/dicom_seg_rt``."""
    return shared_data / "dicom_seg_rt"


@pytest.fixture
def ct(folder: Path, tmp_path: Path) -> sitk.Image:
    """The three evenly spaced files of the SEGs' CT series, read as the manifest reads an image folder."""
    series = tmp_path / "ct"
    series.mkdir()
    for file in (folder / "ct_series").iterdir():
        if file.name != GAPPED_FIRST_FILE:
            shutil.copy(file, series / file.name)
    return read_image(series)


@pytest.fixture
def planning_ct(folder: Path, tmp_path: Path) -> sitk.Image:
    """The one public slice of the RTSTRUCT's planning CT."""
    series = tmp_path / "planning"
    series.mkdir()
    shutil.copy(folder / "rtstruct" / "dicompyler_ct.0.dcm", series)
    return read_image(series)


def frames_by_position(path: Path, segment: int) -> dict[float, np.ndarray]:
    """A SEG's stored frames of one segment, by slice position (z, mm), read with pydicom alone."""
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array.reshape(-1, dataset.Rows, dataset.Columns)
    frames = {}
    for item, frame in zip(dataset.PerFrameFunctionalGroupsSequence, pixels, strict=True):
        if int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber) == segment:
            z = round(float(item.PlanePositionSequence[0].ImagePositionPatient[2]), 2)
            frames[z] = frame
    return frames


# ----------------------------------------------------------------------------- DICOM SEG


@pytest.mark.parametrize("name", ["binary", "binary_fractional", "true_fractional"])
def test_every_seg_frame_lands_on_its_ct_slice(folder, ct, name):
    path = folder / "seg" / f"seg_image_ct_{name}.dcm"
    mask = sitk.GetArrayFromImage(read_mask(path, reference=ct))
    frames = frames_by_position(path, 1)
    assert len(frames) == 3 and mask.shape == (3, 16, 16)
    for k in range(3):
        z = round(ct.TransformIndexToPhysicalPoint((0, 0, k))[2], 2)
        stored = frames[z]
        expected = stored >= dicom_masks.FRACTIONAL_THRESHOLD * 255 if "fractional" in name else stored > 0
        assert np.array_equal(mask[k].astype(bool), expected), (name, z)
    assert mask.sum() == 638


def test_the_true_fractional_segment_is_thresholded_at_one_half(folder, ct):
    stored = np.stack(list(frames_by_position(folder / "seg" / "seg_image_ct_true_fractional.dcm", 1).values()))
    assert set(np.unique(stored)) == {0, 64, 128}  # 0, 0.25 and 0.5 of 255: only the 0.5 voxels are inside
    mask = read_mask(folder / "seg" / "seg_image_ct_true_fractional.dcm", reference=ct)
    assert voxels(mask) == int((stored >= 128).sum()) == 638


def test_overlapping_segments_are_chosen_one_at_a_time_and_their_frames_outside_the_series_are_refused(folder, ct):
    path = folder / "seg" / "seg_image_ct_binary_overlap.dcm"
    with pytest.raises(InputError, match=r"holds 2 segments \(1 'first segment', 2 'second segment'\)"):
        read_mask(path, reference=ct)
    with pytest.raises(InputError, match="'third' not found; the file holds: 1 'first segment', 2 'second segment'"):
        read_mask(path, reference=ct, segment="third")
    # both segments have frames on the series' gapped first file, which is not part of this image
    for choice, stored in ((dict(segment="first segment"), 64), (dict(label=2), 16)):
        outside = sum(int(f.sum()) for z, f in frames_by_position(path, 1 if stored == 64 else 2).items() if z < 0)
        with pytest.raises(InputError, match=f"{outside} of its {stored} voxels fall outside the image series"):
            read_mask(path, reference=ct, **choice)


def test_a_seg_of_another_series_is_refused_naming_both_frames_of_reference(folder, ct):
    path = folder / "seg" / "seg_image_ct_binary_single_frame.dcm"
    with pytest.raises(InputError) as error:
        read_mask(path, reference=ct)
    message = str(error.value)
    assert str(path) in message and "1.3.6.1.4.1.5962.1.4.1.1.20040119072730.12322" in message
    assert "1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.4" in message and "drawn on another scan" in message


def test_a_dicom_mask_needs_its_ct_as_a_dicom_series(folder, ct, tmp_path):
    nifti = tmp_path / "ct.nii.gz"
    sitk.WriteImage(ct, str(nifti))
    with pytest.raises(InputError, match="needs the image as a DICOM series folder"):
        read_mask(folder / "seg" / "seg_image_ct_binary.dcm", reference=read_image(nifti))


def test_a_ct_slice_given_as_a_mask_is_refused_naming_its_sop_class(folder, ct):
    with pytest.raises(
        InputError, match=r"SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2 \(modality CT\), not an RTSTRUCT"
    ):
        read_mask(folder / "ct_series" / "17136", reference=ct)


# ----------------------------------------------------------------------------- RTSTRUCT


def polygon_area(points: np.ndarray) -> float:
    """The shoelace area (mm²) of a planar contour's (x, y)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def test_every_contour_on_the_shipped_plane_fills_its_own_area_within_two_percent(folder, planning_ct):
    dataset = dicom_masks.dicom_mask_dataset(folder / "rtstruct" / "dicompyler_rtss.dcm")
    z, (dx, dy, _) = planning_ct.GetOrigin()[2], planning_ct.GetSpacing()
    checked = 0
    for structure in dicom_masks.rtstruct_structures(dataset):
        for contour in dicom_masks.rtstruct_contours(dataset, structure.number):
            if abs(contour[0, 2] - z) > 0.01:
                continue
            area = polygon_area(contour)
            filled = voxels(dicom_masks.fill_contours([contour], planning_ct)) * dx * dy
            if area >= 100 * dx * dy:  # a contour of a few pixels is below the grid's resolution
                # the issue asks for 2 %; the manifest page states 0.2 %, which this keeps true
                assert filled == pytest.approx(area, rel=0.002), (structure.name, area, filled)
                checked += 1
            else:
                assert filled <= area + 4 * dx * dy
    assert checked == 2  # BODY's two large contours on this plane (34,133 and 12,504 mm²)


def test_a_nested_contour_is_a_hole_and_the_fill_follows_the_ct_orientation(planning_ct):
    z = planning_ct.GetOrigin()[2]

    def square(x0: float, y0: float, side: float) -> np.ndarray:
        return np.array([[x0, y0, z], [x0 + side, y0, z], [x0 + side, y0 + side, z], [x0, y0 + side, z]])

    outer, inner = square(-50, -300, 40), square(-40, -290, 20)
    ring = dicom_masks.fill_contours([outer, inner], planning_ct)
    pixel = float(np.prod(planning_ct.GetSpacing()[:2]))
    assert voxels(ring) * pixel == pytest.approx(40**2 - 20**2, rel=0.05)
    hole = planning_ct.TransformPhysicalPointToIndex((-30.0, -280.0, z))
    assert ring[hole] == 0 and ring[planning_ct.TransformPhysicalPointToIndex((-45.0, -295.0, z))] == 1
    flipped = sitk.Flip(planning_ct, [True, False, False])  # x runs the other way: the same patient region
    assert voxels(dicom_masks.fill_contours([outer, inner], flipped)) == voxels(ring)


def test_structures_are_chosen_by_name_or_number_and_the_errors_list_them(folder, planning_ct):
    path = folder / "rtstruct" / "dicompyler_rtss.dcm"
    with pytest.raises(InputError, match="'Liver' not found; the file holds: 1 'BODY', 2 'Areola', 3 'Borders'"):
        read_mask(path, reference=planning_ct, segment="Liver")
    with pytest.raises(InputError, match="the file holds 10 structures"):
        read_mask(path, reference=planning_ct)
    with pytest.raises(InputError, match="structure 2 'Areola' has no closed contour"):
        read_mask(path, reference=planning_ct, label=2)
    with pytest.raises(InputError, match="structure 5 'Heart': a contour lies outside the image"):
        read_mask(path, reference=planning_ct, segment="Heart")  # its contours lie on slices not shipped


def test_a_contour_between_two_slices_is_refused(planning_ct, tmp_path):
    two_slices = sitk.JoinSeries([planning_ct[:, :, 0], planning_ct[:, :, 0]])
    two_slices.SetOrigin(planning_ct.GetOrigin())
    two_slices.SetSpacing((*planning_ct.GetSpacing()[:2], 3.0))
    z = planning_ct.GetOrigin()[2] + 1.5
    contour = np.array([[-50, -300, z], [-10, -300, z], [-10, -260, z]], dtype=float)
    with pytest.raises(InputError, match=r"lies between slices 0 and 1 \(at slice index 0.50\)"):
        dicom_masks.fill_contours([contour], two_slices)


def test_an_rtstruct_without_a_preamble_is_read_with_a_warning_and_holds_no_patient_name(folder, planning_ct):
    path = folder / "rtstruct" / "pydicom_rtstruct.dcm"
    with pytest.raises(pydicom.errors.InvalidDicomError):
        pydicom.dcmread(path)
    with pytest.warns(UserWarning, match="no DICOM preamble"):
        dataset = dicom_masks.dicom_mask_dataset(path)
    assert [s.name for s in dicom_masks.rtstruct_structures(dataset)] == ["patient", "Isocenter 1", "Isocenter 2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="Frame of Reference"):
            read_mask(path, reference=planning_ct, segment="patient")  # drawn on another scan


def test_masks_read_from_dicom_carry_no_patient_tag(folder, ct, planning_ct):
    names = {str(pydicom.dcmread(folder / "seg" / "seg_image_ct_binary.dcm").PatientName)}
    dataset = dicom_masks.dicom_mask_dataset(folder / "rtstruct" / "dicompyler_rtss.dcm")
    names.add(str(dataset.PatientName))
    on_plane = [
        c for c in dicom_masks.rtstruct_contours(dataset, 1) if abs(c[0, 2] - planning_ct.GetOrigin()[2]) < 0.01
    ]
    seg = read_mask(folder / "seg" / "seg_image_ct_binary.dcm", reference=ct)
    for mask in (seg, dicom_masks.fill_contours(on_plane, planning_ct)):
        keys = mask.GetMetaDataKeys()
        assert not {"0010|0010", "0010|0020"} & set(keys)
        assert not any(name and name in mask.GetMetaData(k) for k in keys for name in names)


def voxel_square(reference: sitk.Image, corner: tuple[int, int], side: int, decimals: int | None = None) -> np.ndarray:
    """A square contour (patient mm) through the centres of voxels ``corner`` to ``corner + side``, on slice 0,
    its coordinates rounded to ``decimals`` mm as a planning system writes them."""
    (x, y), z = corner, 0
    indices = [(x, y, z), (x + side, y, z), (x + side, y + side, z), (x, y + side, z)]
    points = np.array([reference.TransformContinuousIndexToPhysicalPoint(i) for i in indices], dtype=float)
    return points if decimals is None else points.round(decimals)


def test_coordinates_rounded_to_a_hundredth_of_a_millimetre_fill_the_same_voxels(planning_ct):
    exact = dicom_masks.fill_contours([voxel_square(planning_ct, (100, 120), 30)], planning_ct)
    rounded = dicom_masks.fill_contours([voxel_square(planning_ct, (100, 120), 30, decimals=2)], planning_ct)
    assert voxels(exact) == 31 * 31  # the voxels whose centres the square runs through are inside
    assert np.array_equal(sitk.GetArrayFromImage(rounded), sitk.GetArrayFromImage(exact))


def test_a_point_or_a_line_contour_marks_the_voxels_it_runs_through(planning_ct):
    point = voxel_square(planning_ct, (50, 60), 0)[:1]
    line = np.array([planning_ct.TransformContinuousIndexToPhysicalPoint(i) for i in [(50, 60, 0), (59, 60, 0)]])
    assert voxels(dicom_masks.fill_contours([point], planning_ct)) == 1
    marked = dicom_masks.fill_contours([line], planning_ct)
    assert voxels(marked) == 10 and all(marked[(x, 60, 0)] == 1 for x in range(50, 60))


def test_a_hole_whose_edge_runs_along_the_outer_edge_keeps_that_edge(planning_ct):
    """Voxels on a hole's edge belong to the structure (its contour traces the structure's own voxels): a hole
    drawn flush with the outer edge leaves that shared edge as a one-voxel wall."""
    outer, hole = voxel_square(planning_ct, (100, 100), 20), voxel_square(planning_ct, (100, 105), 10)
    filled = sitk.GetArrayFromImage(dicom_masks.fill_contours([outer, hole], planning_ct))[0]
    assert filled[106:115, 101:110].sum() == 0  # the hole's interior is empty
    assert filled[105:116, 100].all() and filled[105:116, 110].all()  # the shared edge and the hole's far edge
    assert filled.sum() == 21 * 21 - 9 * 9


def test_diagonal_edges_rounded_to_a_hundredth_of_a_millimetre_fill_the_same_voxels_on_a_fine_grid():
    """A diamond's edges run through voxel centres diagonally; on 0.25 mm voxels, 0.01 mm rounding of its
    vertices must not move a voxel in or out (the reviewer's case: 15 of 30 origins differed at 0.02 voxel)."""
    rng = np.random.default_rng(0)
    for _ in range(30):
        grid = sitk.Image(120, 120, 1, sitk.sitkInt16)
        grid.SetSpacing((0.25, 0.25, 1.0))
        grid.SetOrigin(tuple(rng.uniform(-200, 200, 2).round(4)) + (0.0,))
        corners = [(60 - 40, 60, 0), (60, 60 - 40, 0), (60 + 40, 60, 0), (60, 60 + 40, 0)]
        diamond = np.array([grid.TransformContinuousIndexToPhysicalPoint(c) for c in corners])
        exact = sitk.GetArrayFromImage(dicom_masks.fill_contours([diamond], grid))
        rounded = sitk.GetArrayFromImage(dicom_masks.fill_contours([diamond.round(2)], grid))
        assert np.array_equal(rounded, exact) and exact.sum() == 2 * 40 * 41 + 1
