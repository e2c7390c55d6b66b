"""PyRadiomics' LoG and wavelet filters on the IBSI-2 phase 1 phantoms: the configurations reproduced
independently, the exact sets of conforming, deviating and unavailable tests (shared with
book/methods_ibsi.md), the page's numbers, and each deviation's cause shown by computation."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pywt
import SimpleITK as sitk
from radiomics import imageoperations
from scipy import ndimage

from helpers.features.ibsi_filters import (
    DOCUMENTED_DEVIATIONS,
    LEVEL_2,
    LOG_3D_ONLY,
    LOG_RECURSIVE,
    LOG_SCALE,
    NO_MEAN_FILTER,
    NOT_OFFERED,
    PERIODIC,
    ROTATION,
    TESTS,
    UNEXPLAINED,
    filter_comparison,
    pyradiomics_response,
    read_map,
    within_tolerance,
)

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "methods_ibsi.md"
SECTION = "## IBSI-2: the convolutional filters"
CONFORMING = {"5.a.1", "6.a.1"}
SPACING = 2.0  # mm, every phantom
AXES = (2, 1, 0)  # PyRadiomics' wavelet axes on a (z, y, x) array: sub-band letters in x, y, z order
NUMPY_PADDING = {"zero": "constant", "nearest": "edge", "periodic": "wrap", "mirror": "symmetric"}
SCIPY_PADDING = {"zero": "constant", "nearest": "nearest", "periodic": "wrap", "mirror": "reflect"}
BY_ID = {test.test_id: test for test in TESTS}
# The page's short name for each cause, in its results table and as the bold label of its explanation.
CAUSE_LABELS = {
    LOG_SCALE: "σ² scaling",
    LOG_RECURSIVE: "recursive LoG",
    LOG_3D_ONLY: "3D only",
    ROTATION: "no rotation invariance",
    LEVEL_2: "level 2 not dilated",
    PERIODIC: "periodic edge",
    NO_MEAN_FILTER: "no mean filter",
}
Map = Callable[[np.ndarray], np.ndarray]


@pytest.fixture(scope="module")
def ibsi2(shared_data: Path) -> tuple[Path, Path]:
    """The IBSI-2 phantom folder and the reference response-map folder."""
    ibsi = shared_data / "ibsi"
    return ibsi / "ibsi_2_digital_phantoms", ibsi / "ibsi_2_reference_response_maps"


@pytest.fixture(scope="module")
def comparison(ibsi2: tuple[Path, Path]) -> pd.DataFrame:
    """The comparison table, computed once for the module."""
    return filter_comparison(*ibsi2)


@pytest.fixture(scope="module")
def phantom(ibsi2: tuple[Path, Path]) -> Callable[[str], np.ndarray]:
    """A phantom's image as a float array, by name."""
    return lambda name: read_map(ibsi2[0] / name / "image.nii.gz")


@pytest.fixture(scope="module")
def reference(ibsi2: tuple[Path, Path]) -> Callable[[str], np.ndarray]:
    """A test's reference response map, by test id."""
    return lambda test_id: read_map(ibsi2[1] / f"{test_id.replace('.', '_')}-ValidCRM.nii.gz")


def fraction_within(response: np.ndarray, reference: np.ndarray) -> float:
    return float(within_tolerance(response, reference).mean())


def on_grid(array: np.ndarray, spacing: float = SPACING) -> sitk.Image:
    """An array as a SimpleITK image of cubic voxels (the phantoms' 2 mm unless told)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((spacing,) * 3)
    return image


def pyradiomics_map(test_id: str, array: np.ndarray) -> np.ndarray:
    """PyRadiomics' map of ``test_id``'s kind, on an array placed on the phantoms' 2 mm grid."""
    return pyradiomics_response(BY_ID[test_id], on_grid(array))


def pyradiomics_wavelets(array: np.ndarray, wavelet: str) -> dict[str, np.ndarray]:
    """All eight of PyRadiomics' level-1 wavelet maps of an array on the 2 mm grid, by PyRadiomics' name."""
    image = on_grid(array)
    maps = imageoperations.getWaveletImage(image, image, wavelet=wavelet, level=1)  # the mask is not read
    return {name: sitk.GetArrayFromImage(response) for response, name, _ in maps}


def padded(response_of: Map, padding: str, width: int = 8) -> Map:
    """``response_of`` run on the image padded the IBSI way, then cropped back."""
    inner = (slice(width, -width),) * 3
    return lambda array: response_of(np.pad(array, width, mode=NUMPY_PADDING[padding]))[inner]


def rotations() -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """The 24 rotations of the cube, each as an axis permutation followed by axis flips."""
    found = []
    for order in itertools.permutations(range(3)):
        for flips in itertools.product((False, True), repeat=3):
            matrix = np.zeros((3, 3))
            for axis, (source, flip) in enumerate(zip(order, flips)):
                matrix[axis, source] = -1.0 if flip else 1.0
            if np.linalg.det(matrix) > 0:
                found.append((order, flips))
    return found


def rotation_invariant(response_of: Map) -> Map:
    """IBSI's rotation-invariant average pooling: the mean over the 24 rotations of the image, each map rotated back."""

    def pooled(array: np.ndarray) -> np.ndarray:
        total = np.zeros_like(array)
        for order, flips in rotations():
            flip_axes = [axis for axis, flip in enumerate(flips) if flip]
            response = response_of(np.flip(np.transpose(array, order), flip_axes))
            total += np.transpose(np.flip(response, flip_axes), np.argsort(order))
        return total / 24

    return pooled


def undecimated(wavelet: str, band: str, level: int) -> Map:
    """The undecimated separable wavelet map of one sub-band, level-``level`` filters dilated (periodic edge)."""
    key = band.replace("L", "a").replace("H", "d")
    return lambda array: pywt.swtn(array, wavelet, level=level, axes=AXES)[0][key]  # [0]: the coarsest level


def sampled_log(sigma_mm: float, padding: str, dims: int = 3, spacing: float = SPACING) -> Map:
    """IBSI's LoG: its kernel sampled on the voxel grid (sigma in voxels), cut off at 4 sigma, in-slice when 2D."""
    sigma = sigma_mm / spacing
    grid = np.arange(-np.ceil(4 * sigma), np.ceil(4 * sigma) + 1)
    squared = sum(axis**2 for axis in np.meshgrid(*(grid,) * dims, indexing="ij")) / sigma**2
    kernel = -(dims - squared) * np.exp(-squared / 2) / (sigma**2 * (sigma * np.sqrt(2 * np.pi)) ** dims)
    return lambda array: ndimage.convolve(array, kernel if dims == 3 else kernel[None], mode=SCIPY_PADDING[padding])


def mean_filter(padding: str, dims: int = 3) -> Map:
    """IBSI's mean filter of 15 voxels, over the volume or in-slice."""
    return lambda array: ndimage.uniform_filter(array, 15 if dims == 3 else (1, 15, 15), mode=SCIPY_PADDING[padding])


# Each test's configuration as TESTS states it in words, implemented independently of PyRadiomics.
REPRODUCTIONS: dict[str, Map] = {
    "1.a.1": mean_filter("zero"),
    "1.a.2": mean_filter("nearest"),
    "1.a.3": mean_filter("periodic"),
    "1.a.4": mean_filter("mirror"),
    "1.b.1": mean_filter("zero", dims=2),
    "2.a": sampled_log(3.0, "zero"),
    "2.b": sampled_log(5.0, "mirror"),
    "2.c": sampled_log(5.0, "mirror", dims=2),
    "5.a.1": padded(undecimated("db2", "LHL", 1), "zero"),
    "5.a.2": rotation_invariant(padded(undecimated("db2", "LHL", 1), "zero")),
    "6.a.1": undecimated("coif1", "HHL", 1),
    "6.a.2": rotation_invariant(undecimated("coif1", "HHL", 1)),
    "7.a.1": rotation_invariant(padded(undecimated("haar", "LLL", 2), "mirror")),
    "7.a.2": rotation_invariant(padded(undecimated("haar", "HHH", 2), "mirror")),
}


def haar_level_2_variants(band: str) -> dict[str, Map]:
    """7.a's map with each of PyRadiomics' three departures put right in turn, as the page's table lists them."""
    test_id = "7.a.1" if band == "LLL" else "7.a.2"
    pyradiomics = partial(pyradiomics_map, test_id)
    ibsi = undecimated("haar", band, 2)
    return {
        "PyRadiomics as it is": pyradiomics,
        "PyRadiomics with mirror padding and rotation-invariant pooling": rotation_invariant(
            padded(pyradiomics, "mirror")
        ),
        "dilated level 2, rotation-invariant pooling, periodic edge": rotation_invariant(ibsi),
        "dilated level 2, mirror padding, no pooling": padded(ibsi, "mirror"),
        "dilated level 2, mirror padding, rotation-invariant pooling": rotation_invariant(padded(ibsi, "mirror")),
    }


@pytest.fixture(scope="module")
def haar_fractions(phantom, reference) -> dict[str, tuple[float, float]]:
    """Fraction of voxels within 1 % for each 7.a variant: (7.a.1, 7.a.2)."""
    checkerboard = phantom("checkerboard")
    variants = {band: haar_level_2_variants(band) for band in ("LLL", "HHH")}
    return {
        name: tuple(
            fraction_within(variants[band][name](checkerboard), reference(test_id))
            for band, test_id in (("LLL", "7.a.1"), ("HHH", "7.a.2"))
        )
        for name in variants["LLL"]
    }


def section() -> str:
    """The page's IBSI-2 section, whitespace runs made single spaces (prose is wrapped anywhere)."""
    page = PAGE.read_text(encoding="utf-8")
    assert SECTION in page
    return " ".join(page[page.index(SECTION) :].split())


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


def table_row(row: pd.Series) -> str:
    """The row of the page's results table for one test, formatted as the page shows it."""
    offered = bool(row["pyradiomics_image_type"])
    difference = row["max_abs_difference"]
    cells = [
        row["test_id"],
        row["filter"],
        row["phantom"],
        row["configuration"],
        f"`{row['pyradiomics_image_type']}`" if offered else "none",
        percent(row["fraction_within"]) if offered else "—",
        f"{round((1 - row['fraction_within']) * row['voxels']):,}" if offered else "—",
        ("< 0.001" if difference < 1e-3 else f"{difference:.4g}") if offered else "—",
        f"{row['reference_range']:.4g}",
        ("yes" if row["conforms"] else "no") if offered else "not offered",
        ", ".join(CAUSE_LABELS[cause] for cause in row["reason"].split("; ")) if row["reason"] else "—",
    ]
    return "| " + " | ".join(cells) + " |"


def test_every_phase_1_reference_map_has_a_row(comparison, ibsi2):
    files = {path.name.removesuffix("-ValidCRM.nii.gz").replace("_", ".") for path in ibsi2[1].glob("*.nii.gz")}
    assert list(comparison["test_id"]) == [test.test_id for test in TESTS] and set(comparison["test_id"]) == files
    assert (comparison["voxels"] == 64**3).all() and (comparison["reference_range"] > 0).all()
    offered = comparison["pyradiomics_image_type"] != ""
    assert comparison.loc[offered, ["fraction_within", "max_abs_difference"]].notna().all().all()
    assert comparison.loc[~offered, "fraction_within"].isna().all()


@pytest.mark.parametrize("test_id", list(REPRODUCTIONS))
def test_the_stated_configuration_reproduces_the_reference_map(test_id, phantom, reference):
    assert fraction_within(REPRODUCTIONS[test_id](phantom(BY_ID[test_id].phantom)), reference(test_id)) == 1.0


def test_seven_a_one_is_the_rotation_invariant_map(haar_fractions):
    # Z-Rad reads 7.a.1 without rotation invariance; that map is far from the reference.
    assert haar_fractions["dilated level 2, mirror padding, no pooling"][0] < 0.1


def test_conforming_deviating_and_unavailable_tests_are_the_documented_ones(comparison):
    offered = comparison["pyradiomics_image_type"] != ""
    assert set(comparison.loc[comparison["conforms"], "test_id"]) == CONFORMING
    assert set(comparison.loc[offered & ~comparison["conforms"], "test_id"]) == set(DOCUMENTED_DEVIATIONS)
    assert set(comparison.loc[~offered, "test_id"]) == set(NOT_OFFERED)
    assert (comparison.loc[comparison["conforms"], "reason"] == "").all()
    assert not (comparison["reason"] == UNEXPLAINED).any()


def test_page_states_the_same_sets_and_the_computed_table(comparison):
    text = section()
    for _, row in comparison.iterrows():
        assert table_row(row) in text, table_row(row)
    assert f"**Conform: {', '.join(sorted(CONFORMING))}.**" in text
    for settings in set(comparison["pyradiomics_settings"]) - {""}:
        assert f"`{settings}`" in text
    assert not any("; " in cause for cause in CAUSE_LABELS)  # a reason joins its causes with "; "
    for label in CAUSE_LABELS.values():
        assert f"**{label}.**" in text  # each cause explained once, under its label


def test_log_is_the_ibsi_response_times_sigma_over_spacing_squared(phantom, reference):
    checkerboard = phantom("checkerboard")
    raw = pyradiomics_map("2.b", checkerboard)
    itk = sitk.LaplacianRecursiveGaussianImageFilter()
    itk.SetSigma(5.0)
    itk.SetNormalizeAcrossScale(False)
    in_mm = sitk.GetArrayFromImage(itk.Execute(on_grid(checkerboard)))
    np.testing.assert_allclose(raw, 5.0**2 * in_mm, atol=1e-6 * np.abs(raw).max())  # NormalizeAcrossScale = x sigma²
    assert fraction_within(raw / (5.0 / SPACING) ** 2, reference("2.b")) == 1.0  # ...and 2.b then conforms
    impulse = pyradiomics_map("2.a", phantom("impulse")) / (3.0 / SPACING) ** 2
    outside = np.argwhere(~within_tolerance(impulse, reference("2.a")))
    assert outside.tolist() == [[31, 31, 31]]  # 2.a: only the impulse's own voxel, see the next test
    text = section()
    assert "(5 / 2)² = 6.25" in text and "(3 / 2)² = 2.25" in text
    assert f"{(5 / 3) ** 2:.2f}" in text  # the study's sigma 5 mm at 3 mm voxels


def test_the_recursive_log_overshoots_the_kernel_centre(phantom, reference):
    text = section()
    impulse = phantom("impulse")
    ibsi = reference("2.a")
    scaled = pyradiomics_map("2.a", impulse) / (3.0 / SPACING) ** 2
    overshoot = abs(scaled[31, 31, 31] - ibsi[31, 31, 31]) / (ibsi.max() - ibsi.min())
    assert 0.01 < overshoot < 0.02 and scaled[31, 31, 31] < ibsi[31, 31, 31]
    assert f"overshoots the centre by {percent(overshoot)} of the range" in text
    # the same at the study's sigmas on its 3 mm grid: an impulse, PyRadiomics against the sampled IBSI kernel
    grid = np.zeros((33, 33, 33))
    grid[16, 16, 16] = 1.0
    image = on_grid(grid, spacing=3.0)
    for sigma_mm in (3.0, 5.0):
        test = BY_ID["2.a"] if sigma_mm == 3.0 else BY_ID["2.b"]
        pyr = pyradiomics_response(test, image) / (sigma_mm / 3.0) ** 2
        ibsi = sampled_log(sigma_mm, "zero", spacing=3.0)(grid)
        error = np.abs(pyr - ibsi).max() / (ibsi.max() - ibsi.min())
        assert 0.01 < error < 0.02
        assert f"σ {sigma_mm:g} mm: {percent(error)}" in text


def test_pyradiomics_log_extends_the_edge_value(phantom):
    checkerboard = phantom("checkerboard")
    as_is = pyradiomics_map("2.b", checkerboard)
    span = as_is.max() - as_is.min()
    nearest = padded(partial(pyradiomics_map, "2.b"), "nearest", width=24)(checkerboard)
    mirror = padded(partial(pyradiomics_map, "2.b"), "mirror", width=24)(checkerboard)
    assert np.abs(as_is - nearest).max() <= 1e-6 * span  # ITK's recursive filters assume the edge value beyond
    difference = np.abs(as_is - mirror).max() / span
    assert difference > 1e-3
    assert f"by at most {percent(difference)} of the range" in section()


def test_the_2d_log_is_not_available(phantom, reference):
    checkerboard = phantom("checkerboard")
    np.testing.assert_array_equal(pyradiomics_map("2.c", checkerboard), pyradiomics_map("2.b", checkerboard))
    scaled = pyradiomics_map("2.c", checkerboard) / (5.0 / SPACING) ** 2
    fraction = fraction_within(scaled, reference("2.c"))
    assert fraction < 0.5
    assert f"2.c: {percent(fraction)}" in section()


def test_wavelet_sub_band_letters_follow_the_ibsi_order(phantom, reference):
    maps = pyradiomics_wavelets(phantom("impulse"), "db2")
    matching = {name for name, response in maps.items() if fraction_within(response, reference("5.a.1")) == 1.0}
    assert matching == {"wavelet-LHL"}  # the impulse tells the axes apart: LLH and HLL do not match


def test_rotation_invariant_pooling_is_all_level_1_lacks(phantom, reference):
    for test_id in ("5.a.2", "6.a.2"):
        pooled = rotation_invariant(partial(pyradiomics_map, test_id))
        assert fraction_within(pooled(phantom(BY_ID[test_id].phantom)), reference(test_id)) == 1.0


def test_pyradiomics_wavelets_wrap_around_the_edge(phantom):
    checkerboard = phantom("checkerboard")
    wavelet = partial(pyradiomics_map, "6.a.1")
    as_is = wavelet(checkerboard)
    assert np.abs(as_is - padded(wavelet, "periodic")(checkerboard)).max() < 1e-9 * np.abs(as_is).max()
    assert np.abs(as_is - padded(wavelet, "mirror")(checkerboard)).max() > 0.01 * (as_is.max() - as_is.min())
    # 5.a's impulse and 6.a's sphere stay clear of the edges: no padding changes PyRadiomics' map of them
    for test_id in ("5.a.1", "6.a.1"):
        image = phantom(BY_ID[test_id].phantom)
        as_is = pyradiomics_map(test_id, image)
        for padding in ("zero", "mirror"):
            other = padded(partial(pyradiomics_map, test_id), padding)(image)
            assert np.abs(as_is - other).max() < 1e-9 * np.abs(as_is).max(), (test_id, padding)


def test_a_level_1_coiflet_reaches_three_voxels(phantom):
    for name, response in pyradiomics_wavelets(phantom("impulse"), "coif1").items():
        assert np.abs(np.argwhere(np.abs(response) > 1e-12) - 31).max() == 3, name  # the impulse is voxel 31
    assert "reaches at most 3 voxels from its source, less than the margin of 5" in section()


def test_pyradiomics_level_2_reapplies_the_level_1_filters(phantom):
    checkerboard = phantom("checkerboard")
    first = pywt.swtn(checkerboard, "haar", level=1, axes=AXES)[0]
    second = pywt.swtn(first["aaa"], "haar", level=1, axes=AXES)[0]
    np.testing.assert_allclose(pyradiomics_map("7.a.1", checkerboard), second["aaa"], atol=1e-9)
    np.testing.assert_allclose(pyradiomics_map("7.a.2", checkerboard), second["ddd"], atol=1e-9)
    dilated = undecimated("haar", "LLL", 2)(checkerboard)
    assert np.abs(dilated - second["aaa"]).max() > 100


def test_each_pyradiomics_departure_alone_breaks_seven_a(haar_fractions):
    assert haar_fractions["dilated level 2, mirror padding, rotation-invariant pooling"] == (1.0, 1.0)
    for name, fractions in haar_fractions.items():
        if name != "dilated level 2, mirror padding, rotation-invariant pooling":
            assert max(fractions) < 0.9, name
    text = section()
    for name, (first, second) in haar_fractions.items():
        assert f"| {name} | {percent(first)} | {percent(second)} |" in text


def test_matching_rule():
    reference = np.array([0.0, 50.0, 100.0])
    assert within_tolerance(np.array([1.0, 49.0, 101.0]), reference).all()  # 1 % of the range 100, inclusive
    assert not within_tolerance(np.array([1.01, 50.0, 100.0]), reference)[0]
    assert within_tolerance(np.array([0.0, 50.0, 100.0]) * 3, reference).tolist() == [True, False, False]
