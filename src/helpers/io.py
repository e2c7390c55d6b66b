"""Real-cohort input: the manifest CSV, image and mask reading, and pseudonymisation.

A manifest has one row per patient. ``read_manifest`` normalises it and checks every row,
and every image and mask it points at. It then raises one ``ManifestError`` that lists
all the problems, so a bad cohort is fixed in one pass and no patient is dropped silently.
The manifest format is documented in ``book/data_manifest.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed
from tqdm import tqdm

REQUIRED_CLINICAL = ("age", "gender", "T", "N", "M", "time_months", "event")
IMAGE_COLUMNS = ("image", "mask", "mask_reader2")
OPTIONAL_COLUMNS = ("centre", "split", "mask_label", "segment")
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
AGE_RANGE_YEARS = (18.0, 110.0)
SLICE_GAP_TOLERANCE = 0.01  # relative deviation of a DICOM slice gap from the series' median gap
DAYS_PER_MONTH = 365.25 / 12
DEFAULT_CENTRE = "all"
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "none", "null"})
MANIFEST_LEVEL = "(manifest)"
_STAGE_RANGE = {"T": range(1, 5), "N": range(0, 3), "M": range(0, 2)}
_STAGE_PATTERN = re.compile(r"(?:y?[cpr])?([TNM])?([0-9X])[a-d]?", re.IGNORECASE)
_GENDERS = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}
_SEGMENT_KEY = re.compile(r"Segment(\d+)_(Name|LabelValue|Layer)")
_NIFTI_FLOATS = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 and float64 voxels


@dataclass(frozen=True)
class Problem:
    """One defect of a manifest: which patient, which column or file, and what is wrong."""

    patient_id: str
    field: str
    message: str

    def __str__(self) -> str:
        """Render as one 'patient: field: message' line so that a report can be scanned."""
        return f"{self.patient_id}: {self.field}: {self.message}"


class ManifestError(ValueError):
    """A manifest failed validation; ``problems`` holds every defect, one line each in str()."""

    def __init__(self, problems: Sequence[Problem], source: str = "manifest") -> None:
        """Keep the problems and their source so the message can list them all."""
        super().__init__(list(problems), source)
        self.problems = list(problems)
        self.source = source

    def __str__(self) -> str:
        """List every problem, one line each, so a whole cohort is fixed in one pass."""
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Segment:
    """One segment of a 3D Slicer segmentation, as its header describes it."""

    name: str
    label: int
    layer: int


# ----------------------------------------------------------------------------- images


def read_image(path: Path) -> sitk.Image:
    """Read a NIfTI, NRRD or MetaImage file or a DICOM series folder; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        return _read_dicom_series(path)
    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError(
            f"{path}: unsupported format; accepted: NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr, "
            ".seg.nrrd), MetaImage (.mha, .mhd) or a folder holding one DICOM series"
        )
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path}: unreadable image ({_itk_reason(error)})") from None
    if path.name.lower().endswith((".nii", ".nii.gz")):
        truncation = _nifti_truncation(path)
        if truncation:
            raise ValueError(f"{path}: unreadable image ({truncation})")
    _check_finite(image, path)
    return image


def _check_finite(image: sitk.Image, path: Path) -> None:
    """Refuse NaN or infinite voxels: they become NaN features, or 0 HU where ITK reads a NIfTI file."""
    nifti = path.name.lower().endswith((".nii", ".nii.gz"))
    # ITK's NIfTI reader silently replaces non-finite values with 0: look at the stored values.
    stored = _nifti_float_voxels(path) if nifti else sitk.GetArrayViewFromImage(image).ravel()
    if stored is None or stored.dtype.kind != "f":
        return
    bad = np.flatnonzero(~np.isfinite(stored))
    if bad.size:
        # x runs fastest in both; NIfTI stores a vector's components volume after volume, ITK side by side.
        voxel = bad[0] % int(np.prod(image.GetSize())) if nifti else bad[0] // image.GetNumberOfComponentsPerPixel()
        first = tuple(int(i) for i in np.unravel_index(voxel, image.GetSize(), order="F"))
        raise ValueError(f"{path}: {bad.size} voxel value(s) are NaN or infinite (first at index {first})")


def _read_dicom_series(folder: Path) -> sitk.Image:
    """Read the single DICOM series of a folder; refuse a folder with none or several."""
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise ValueError(f"{folder}: no DICOM series found in the folder")
    if len(series) > 1:
        listed = "; ".join(_describe_series(folder, uid) for uid in series)
        raise ValueError(
            f"{folder}: the folder holds {len(series)} DICOM series ({listed}); "
            "keep one series per folder"
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0]))
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise ValueError(f"{folder}: unreadable DICOM series ({_itk_reason(error)})") from None
    _check_slice_gaps(folder, reader, image)
    return image


def _check_slice_gaps(folder: Path, reader: sitk.ImageSeriesReader, image: sitk.Image) -> None:
    """Refuse unevenly spaced slices: ITK only warns and stretches the spacing over the gap."""
    files = reader.GetFileNames()
    if len(files) < 3 or not all(reader.HasMetaDataKey(i, "0020|0032") for i in range(len(files))):
        return
    normal = np.reshape(image.GetDirection(), (3, 3))[:, 2]
    positions = [[float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")] for i in range(len(files))]
    gaps = np.abs(np.diff(np.asarray(positions) @ normal))
    usual = float(np.median(gaps))
    irregular = np.flatnonzero(np.abs(gaps - usual) > SLICE_GAP_TOLERANCE * usual)
    if irregular.size:
        i = irregular[0]
        raise ValueError(
            f"{folder}: DICOM slices are unevenly spaced: {gaps[i]:.4g} mm between {Path(files[i]).name} and "
            f"{Path(files[i + 1]).name}, {usual:.4g} mm elsewhere ({irregular.size} irregular gap(s)); "
            "a slice is missing or duplicated"
        )


def _describe_series(folder: Path, uid: str) -> str:
    """Name a DICOM series by UID, file count and description, for the several-series error."""
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    reader.ReadImageInformation()
    description = reader.GetMetaData("0008|103e").strip() if reader.HasMetaDataKey("0008|103e") else ""
    return f"{uid}: {len(files)} files" + (f", '{description}'" if description else "")


def _itk_reason(error: RuntimeError) -> str:
    """Shorten an ITK exception to its informative lines (it opens with a C++ source location)."""
    lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    lines = [re.sub(r"^(sitk::ERROR|ITK ERROR): (\w+\(0x[0-9a-f]+\): )?", "", line) for line in lines]
    # "Reason: ..." is a stale errno that ITK appends to file errors ("No such file" for a short file).
    lines = [line for line in lines if not line.startswith("Reason:")]
    if not lines:
        return str(error).strip()
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"


def _nifti_truncation(path: Path) -> str | None:
    """Say why a NIfTI file holds fewer voxel bytes than its header promises (ITK reads it anyway)."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                header = stream.read(540)
            if _gzip_isize(path) == _nifti_data_end(header) % 2**32:
                return None  # the gzip trailer records exactly the promised size: complete
            with gzip.open(path, "rb") as stream:  # decompress it all to say what is wrong
                size = sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 24), b""))
        else:
            with open(path, "rb") as stream:
                header = stream.read(540)
            size = path.stat().st_size
    except EOFError:
        return "compressed data ends early: the file is truncated"
    except (OSError, zlib.error) as error:
        return f"corrupt compressed data: {error}"
    expected = _nifti_data_end(header)
    if size < expected:
        return f"the header promises {expected} bytes, the file holds {size}: truncated"
    return None


def _gzip_isize(path: Path) -> int:
    """Uncompressed size modulo 2**32 that a gzip member records in its last four bytes."""
    with open(path, "rb") as stream:
        stream.seek(-4, os.SEEK_END)
        return int.from_bytes(stream.read(4), "little")


def _nifti_layout(header: bytes) -> tuple[str, int, int, int, int] | None:
    """(byte order, datatype code, voxel data offset, voxel count, bits per voxel) of a NIfTI-1/2 header."""
    for endian in "<>":
        sizeof_hdr = int(np.frombuffer(header, f"{endian}i4", 1, 0)[0])
        if sizeof_hdr == 348:
            datatype = int(np.frombuffer(header, f"{endian}i2", 1, 70)[0])
            dims = np.frombuffer(header, f"{endian}i2", 8, 40).astype(np.int64)
            bitpix = int(np.frombuffer(header, f"{endian}i2", 1, 72)[0])
            offset = int(np.frombuffer(header, f"{endian}f4", 1, 108)[0])
        elif sizeof_hdr == 540:
            datatype = int(np.frombuffer(header, f"{endian}i2", 1, 12)[0])
            bitpix = int(np.frombuffer(header, f"{endian}i2", 1, 14)[0])
            dims = np.frombuffer(header, f"{endian}i8", 8, 16).astype(np.int64)
            offset = int(np.frombuffer(header, f"{endian}i8", 1, 168)[0])
        else:
            continue
        return endian, datatype, offset, int(np.prod(dims[1 : 1 + dims[0]])), bitpix
    return None  # not a NIfTI header ITK recognised by sizeof_hdr


def _nifti_data_end(header: bytes) -> int:
    """Byte offset where a NIfTI-1/2 file's voxel data must end, from its header (0: not NIfTI)."""
    layout = _nifti_layout(header)
    if layout is None:
        return 0  # nothing to compare against
    _, _, offset, count, bitpix = layout
    return offset + count * bitpix // 8


def _nifti_float_voxels(path: Path) -> np.ndarray | None:
    """The voxel values a float32/float64 NIfTI file stores, x fastest (None for other data types)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        layout = _nifti_layout(stream.read(540))
        if layout is None or layout[1] not in _NIFTI_FLOATS:
            return None
        endian, datatype, offset, count, _ = layout
        dtype = np.dtype(endian + _NIFTI_FLOATS[datatype])
        stream.seek(offset)
        return np.frombuffer(stream.read(count * dtype.itemsize), dtype)


# ----------------------------------------------------------------------------- masks


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
    raw = read_image(path)
    try:
        mask = _select_roi(raw, _given(label), _given(segment))
        if reference is not None:
            mask = _on_grid(mask, reference, tolerance_mm, extent_may_differ=bool(_segments(raw)))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return mask


def _given(value: object) -> object | None:
    """Map a missing manifest cell (None or NA) to None."""
    return None if value is None or pd.isna(value) else value


def _segments(image: sitk.Image) -> list[_Segment]:
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
            raise ValueError(f"segment '{segment}' not found; segments: {listed}")
        if len(matches) > 1:
            raise ValueError(f"several segments are named '{segment}'; segments: {listed}")
        if label is not None and matches[0].label != label:
            raise ValueError(f"segment '{segment}' has label {matches[0].label}, not mask_label {label}")
        return matches[0]
    if label is not None:
        matches = [s for s in segments if s.label == label]
        if not matches:
            raise ValueError(f"label {label} not found; segments: {listed}")
        if len(matches) > 1:
            raise ValueError(f"label {label} is used by several segments ({listed}); choose one with segment")
        return matches[0]
    if len(segments) > 1:
        raise ValueError(f"{len(segments)} segments ({listed}); choose one with segment or mask_label")
    return segments[0]


def _select_roi(raw: sitk.Image, label: int | None, segment: str | None) -> sitk.Image:
    """Reduce a label image or Slicer segmentation to the chosen ROI as a binary uint8 image."""
    segments = _segments(raw)
    layer = None
    if segments:
        chosen = _choose_segment(segments, None if label is None else int(label), segment)
        layer, label = chosen.layer, chosen.label
    elif segment is not None:
        raise ValueError(f"segment '{segment}' requested but the mask has no 3D Slicer segment metadata")
    components = raw.GetNumberOfComponentsPerPixel()
    if components > 1 and layer is None:
        raise ValueError(f"the mask has {components} components per voxel; expected a label image")
    if layer is not None and not 0 <= layer < components:
        raise ValueError(f"layer {layer} requested but the mask has {components} layer(s)")
    scalar = sitk.VectorIndexSelectionCast(raw, layer) if components > 1 else raw
    voxels = sitk.GetArrayViewFromImage(scalar)
    values = np.unique(voxels[voxels != 0])
    if values.size == 0:
        raise ValueError("the mask is empty (no non-zero voxel)")
    if not np.all(values == np.round(values)):
        raise ValueError("the mask has non-integer values (resampled with linear interpolation?)")
    found = ", ".join(f"{v:g}" for v in values)
    if label is None:
        if values.size > 1:
            raise ValueError(f"the mask is not binary: labels {found}; choose one with mask_label")
        label = values[0]
    elif label not in values:
        raise ValueError(f"label {label} not in the mask; labels found: {found}")
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


def _on_grid(mask: sitk.Image, image: sitk.Image, tolerance: float, extent_may_differ: bool) -> sitk.Image:
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
        raise ValueError("geometry mismatch with the image: " + "; ".join(differences))
    if same_extent:
        placed = sitk.Image(mask)
        placed.CopyInformation(image)
        return placed
    placed = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    kept, stored = (np.count_nonzero(sitk.GetArrayViewFromImage(m)) for m in (placed, mask))
    if kept != stored:
        raise ValueError("geometry mismatch with the image: the segmentation extends beyond the image")
    return placed


# ----------------------------------------------------------------------------- manifest


def _parse_age(text: str) -> float:
    """Age in years, within the adult range the study covers."""
    age = _parse_number(text)
    low, high = AGE_RANGE_YEARS
    if not low <= age <= high:
        raise ValueError(f"out of range: {text} (expected {low:g} to {high:g} years)")
    return age


def _parse_number(text: str) -> float:
    """A finite number, with the offending text in the error."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: '{text}'") from None
    if not np.isfinite(value):
        raise ValueError(f"not a finite number: '{text}'")
    return value


def _parse_time(text: str) -> float:
    """Survival or follow-up time in months; zero is valid, negative is not."""
    time = _parse_number(text)
    if time < 0:
        raise ValueError(f"negative time: {text}")
    return time


def _parse_event(text: str) -> int:
    """Event indicator: 1 death, 0 censored."""
    if text in {"0", "1", "0.0", "1.0"}:
        return int(float(text))
    raise ValueError(f"must be 0 or 1, got '{text}'")


def _parse_gender(text: str) -> str:
    """Gender normalised to 'male' / 'female'."""
    try:
        return _GENDERS[text.lower()]
    except KeyError:
        raise ValueError(f"not recognised: '{text}' (expected male/female or M/F)") from None


def _stage_parser(letter: str) -> Callable[[str], str | None]:
    """Parser of one TNM category: 'T3', '3', 'pT3b' -> 'T3'; 'TX' -> None (missing)."""
    allowed = _STAGE_RANGE[letter]

    def parse(text: str) -> str | None:
        match = _STAGE_PATTERN.fullmatch(text)
        if match and (match.group(1) or letter).upper() == letter:
            if match.group(2).upper() == "X":
                return None
            if int(match.group(2)) in allowed:
                return f"{letter}{match.group(2)}"
        raise ValueError(
            f"not recognised: '{text}' (expected {letter}{allowed[0]} to {letter}{allowed[-1]}; "
            f"{letter}X or empty = missing)"
        )

    return parse


def _parse_split(text: str) -> str:
    """Split assignment: 'train' or 'test'."""
    if text.lower() in {"train", "test"}:
        return text.lower()
    raise ValueError(f"must be train or test, got '{text}'")


def _parse_label(text: str) -> int:
    """A positive integer label value of a multi-label mask."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value == np.round(value) and value >= 1):
        raise ValueError(f"must be a positive integer, got '{text}'")
    return int(value)


def _path_parser(base: Path) -> Callable[[str], str]:
    """Parser turning a manifest path (relative to the manifest's folder, or absolute) absolute."""
    return lambda text: os.path.normpath(os.path.join(base, os.path.expanduser(text)))


def _check_case(
    patient_id: str,
    files: dict[str, str],
    label: int | None,
    segment: str | None,
    tolerance: float,
) -> list[Problem]:
    """Read one patient's image and masks and return every problem found (empty list if fine)."""
    problems = []
    image = None
    if "image" in files:
        try:
            image = read_image(Path(files["image"]))
        except (OSError, ValueError) as error:
            problems.append(Problem(patient_id, "image", str(error)))
        else:
            if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
                problems.append(Problem(patient_id, "image", (
                    f"{files['image']}: expected a 3D single-channel volume, got {image.GetDimension()}D "
                    f"with {image.GetNumberOfComponentsPerPixel()} component(s)"
                )))
                image = None
    for column in ("mask", "mask_reader2"):
        if column not in files:
            continue
        try:
            raw = read_image(Path(files[column]))
        except (OSError, ValueError) as error:
            problems.append(Problem(patient_id, column, str(error)))
            continue
        try:
            mask = _select_roi(raw, label, segment)
        except ValueError as error:
            problems.append(Problem(patient_id, column, f"{files[column]}: {error}"))
            mask = raw
        if image is not None:
            try:
                _on_grid(mask, image, tolerance, extent_may_differ=bool(_segments(raw)))
            except ValueError as error:
                problems.append(Problem(patient_id, column, f"{files[column]}: {error}"))
    return problems


def read_manifest(
    path: Path,
    *,
    check_images: bool = True,
    geometry_tolerance_mm: float = 1e-3,
    allow_missing: Sequence[str] = (),
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Read, normalise and validate; raise ManifestError listing every problem.

    Images and masks are checked in ``n_jobs`` processes (-1: all cores) after the table.
    """
    # Cells of allow_missing columns may be empty: they stay NA, counted in df.attrs["missing"].
    path = Path(path)
    not_clinical = sorted(set(allow_missing) - set(REQUIRED_CLINICAL))
    if not_clinical:
        raise ValueError(f"allow_missing accepts only {REQUIRED_CLINICAL}; got {not_clinical}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.columns = [str(column).strip() for column in table.columns]
    has_images = any(column in table for column in IMAGE_COLUMNS)
    required = ["patient_id", *REQUIRED_CLINICAL, *(["image", "mask"] if has_images else [])]
    problems: list[tuple[int, Problem]] = [
        (0, Problem(MANIFEST_LEVEL, column, "required column is missing"))
        for column in required
        if column not in table
    ]
    if table.empty:
        problems.append((0, Problem(MANIFEST_LEVEL, "rows", "the manifest has no patient rows")))

    to_path = _path_parser(path.parent.absolute())
    stage = {letter: _stage_parser(letter) for letter in "TNM"}
    parsers: dict[str, Callable[[str], object]] = {
        "image": to_path,
        "mask": to_path,
        "mask_reader2": to_path,
        "age": _parse_age,
        "gender": _parse_gender,
        "T": stage["T"],
        "N": stage["N"],
        "M": stage["M"],
        "time_months": _parse_time,
        "event": _parse_event,
        "centre": str,
        "split": _parse_split,
        "mask_label": _parse_label,
        "segment": str,
    }
    # A column that is present must be filled, except these (and those allowed missing).
    may_be_empty = {"mask_reader2", "mask_label", "segment", *allow_missing}
    extra = [column for column in table if column not in parsers and column != "patient_id"]

    rows = []
    cases: list[tuple[int, tuple]] = []
    for line, record in enumerate(table.to_dict("records"), start=2):
        record = {column: str(value).strip() for column, value in record.items()}
        row: dict[str, object] = {"patient_id": record.get("patient_id") or pd.NA}
        patient_id = record.get("patient_id") or f"line {line}"
        if record.get("patient_id") == "":
            problems.append((line, Problem(patient_id, "patient_id", "missing patient id")))
        for column, parse in parsers.items():
            if column not in record:
                continue
            text = record[column]
            value = None
            if text.lower() in MISSING_TOKENS:
                if column not in may_be_empty:
                    problems.append((line, Problem(patient_id, column, "missing value")))
            else:
                try:
                    value = parse(text)
                except ValueError as error:
                    problems.append((line, Problem(patient_id, column, str(error))))
                else:
                    if value is None and column not in may_be_empty:  # a stage given as TX/NX/MX
                        message = f"missing value ('{text}' = not assessable)"
                        problems.append((line, Problem(patient_id, column, message)))
            row[column] = pd.NA if value is None else value
        row.update({column: record[column] or pd.NA for column in extra})
        files = {c: row[c] for c in IMAGE_COLUMNS if isinstance(row.get(c), str)}
        if check_images and files:
            cases.append((line, (patient_id, files, _given(row.get("mask_label")), _given(row.get("segment")),
                                 geometry_tolerance_mm)))
        rows.append(row)
    checked = Parallel(n_jobs=n_jobs)(delayed(_check_case)(*case) for _, case in tqdm(
        cases, desc="checking images", unit="patient", disable=not cases))
    problems += [(line, problem) for (line, _), found in zip(cases, checked) for problem in found]

    lines_of: dict[str, list[int]] = {}
    for line, row in enumerate(rows, start=2):
        if isinstance(row["patient_id"], str):
            lines_of.setdefault(row["patient_id"], []).append(line)
    for patient_id, lines in lines_of.items():
        if len(lines) > 1:
            message = f"duplicate id on CSV lines {', '.join(map(str, lines))}"
            problems.append((lines[0], Problem(patient_id, "patient_id", message)))
    if problems:
        ordered = [problem for _, problem in sorted(problems, key=lambda item: item[0])]
        raise ManifestError(ordered, source=str(path))
    return _normalised_frame(rows, extra, path, allow_missing)


def _normalised_frame(
    rows: list[dict], extra: list[str], source: Path, allow_missing: Sequence[str]
) -> pd.DataFrame:
    """Assemble validated rows into the documented columns and dtypes."""
    columns = ["patient_id", *IMAGE_COLUMNS, *REQUIRED_CLINICAL, *OPTIONAL_COLUMNS, *extra]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    frame = frame.astype({c: object for c in columns}).where(frame.notna(), pd.NA)
    if not any("centre" in row for row in rows):
        frame["centre"] = DEFAULT_CENTRE
    frame["age"] = pd.to_numeric(frame["age"]).astype(float)
    frame["time_months"] = pd.to_numeric(frame["time_months"]).astype(float)
    frame["event"] = frame["event"].astype("Int64" if frame["event"].isna().any() else "int64")
    frame["mask_label"] = frame["mask_label"].astype("Int64")
    frame.attrs["source"] = str(source)
    frame.attrs["missing"] = {column: int(frame[column].isna().sum()) for column in allow_missing}
    return frame


# ----------------------------------------------------------------------------- cohort tools


def pseudonymise(ids: Sequence[str], *, salt: str, prefix: str = "PT") -> dict[str, str]:
    """Map ids to stable keyed pseudonyms 'PT-xxxxxxxx' (HMAC-SHA256, secret salt); refuse collisions."""
    if not salt:
        raise ValueError("salt must be a non-empty secret: without one, anyone can recompute the pseudonyms")
    key = salt.encode()
    digest = {str(pid): hmac.new(key, str(pid).encode(), hashlib.sha256).hexdigest() for pid in ids}
    mapping = {pid: f"{prefix}-{hexdigest[:8]}" for pid, hexdigest in digest.items()}
    owners: dict[str, str] = {}
    for pid, code in mapping.items():
        if code in owners:
            pair = f"'{owners[code]}' and '{pid}'"
            raise ValueError(f"pseudonym collision: {pair} both map to {code}; use another salt")
        owners[code] = pid
    return mapping


def tcga_paad_manifest(src: Path, dst: Path) -> Path:
    """Write the shared TCGA-PAAD patient table as a clinical-only manifest (OS in months)."""
    table = pd.read_csv(src, dtype=str, keep_default_na=False)
    manifest = pd.DataFrame({
        "patient_id": table["patient_id"],
        "age": table["age_years"],
        "gender": table["sex"],
        # Staging is copied verbatim: read_manifest maps TX/NX/MX to missing and N1b to N1.
        "T": table["ajcc_T"],
        "N": table["ajcc_N"],
        "M": table["ajcc_M"],
        "time_months": pd.to_numeric(table["os_days"], errors="coerce") / DAYS_PER_MONTH,
        "event": table["os_event"],
    })
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(dst, index=False)
    return dst
