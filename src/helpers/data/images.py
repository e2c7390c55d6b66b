"""CT images of a real cohort: NIfTI, NRRD, MHA or a DICOM series folder, checked before use.

A truncated file, a DICOM series with a missing slice or two series in one folder, NaN voxels
and 2-D images are refused with a message that names the file and the problem.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from helpers.errors import InputError

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")

# The UIDs a DICOM series carries on into its image's metadata: RTSTRUCT and SEG masks must reference them.
SERIES_UID, FRAME_OF_REFERENCE_UID = "0020|000e", "0020|0052"
SLICE_GAP_TOLERANCE = 0.01  # relative deviation of a DICOM slice gap from the series' median gap

_NIFTI_FLOATS = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 and float64 voxels


def read_image(path: Path) -> sitk.Image:
    """Read a NIfTI, NRRD or MetaImage file or a DICOM series folder; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        return _read_dicom_series(path)
    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        raise InputError(
            f"{path}: unsupported format; accepted: NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr, "
            ".seg.nrrd), MetaImage (.mha, .mhd) or a folder holding one DICOM series"
        )
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"{path}: unreadable image ({_itk_reason(error)})") from None
    if path.name.lower().endswith((".nii", ".nii.gz")):
        truncation = _nifti_truncation(path)
        if truncation:
            raise InputError(f"{path}: unreadable image ({truncation})")
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
        raise InputError(f"{path}: {bad.size} voxel value(s) are NaN or infinite (first at index {first})")


def _read_dicom_series(folder: Path) -> sitk.Image:
    """Read the single DICOM series of a folder; refuse a folder with none or several."""
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise InputError(f"{folder}: no DICOM series found in the folder")
    if len(series) > 1:
        listed = "; ".join(_describe_series(folder, uid) for uid in series)
        raise InputError(
            f"{folder}: the folder holds {len(series)} DICOM series ({listed}); keep one series per folder"
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0]))
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{folder}: unreadable DICOM series ({_itk_reason(error)})") from None
    _check_slice_gaps(folder, reader, image)
    for key in (SERIES_UID, FRAME_OF_REFERENCE_UID):
        if reader.HasMetaDataKey(0, key):
            image.SetMetaData(key, reader.GetMetaData(0, key).strip())
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
        raise InputError(
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
