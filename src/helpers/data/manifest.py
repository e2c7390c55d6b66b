"""Real-cohort input: the manifest CSV, one row a patient, validated row by row and file by file.

A manifest has one row per patient. ``read_manifest`` normalises it and checks every row,
and every image and mask it points at. It then raises one ``ManifestError`` that lists
all the problems, so a bad cohort is fixed in one pass and no patient is dropped silently.
The manifest format is documented in ``book/data_manifest.md``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm import tqdm

from helpers.data.images import read_image
from helpers.data.masks import given_or_none, is_dicom_mask, on_image_grid, read_mask, select_roi, slicer_segments
from helpers.errors import BookError

REQUIRED_CLINICAL = ("age", "gender", "T", "N", "M", "time_months", "event")
IMAGE_COLUMNS = ("image", "mask", "mask_reader2")
OPTIONAL_COLUMNS = ("centre", "split", "mask_label", "segment")

AGE_RANGE_YEARS = (18.0, 110.0)

DAYS_PER_MONTH = 365.25 / 12
DEFAULT_CENTRE = "all"
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "none", "null"})
MANIFEST_LEVEL = "(manifest)"
_STAGE_RANGE = {"T": range(1, 5), "N": range(0, 3), "M": range(0, 2)}
_STAGE_PATTERN = re.compile(r"(?:y?[cpr])?([TNM])?([0-9X])[a-d]?", re.IGNORECASE)
_GENDERS = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}


@dataclass(frozen=True)
class Problem:
    """One defect of a manifest: which patient, which column or file, and what is wrong."""

    patient_id: str
    field: str
    message: str

    def __str__(self) -> str:
        """Render as one 'patient: field: message' line so that a report can be scanned."""
        return f"{self.patient_id}: {self.field}: {self.message}"


class ManifestError(BookError, ValueError):
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
                problems.append(
                    Problem(
                        patient_id,
                        "image",
                        (
                            f"{files['image']}: expected a 3D single-channel volume, got {image.GetDimension()}D "
                            f"with {image.GetNumberOfComponentsPerPixel()} component(s)"
                        ),
                    )
                )
                image = None
    for column in ("mask", "mask_reader2"):
        if column not in files:
            continue
        if is_dicom_mask(Path(files[column])):
            if image is not None:  # else the image's own problem is reported
                try:
                    read_mask(Path(files[column]), label=label, segment=segment, reference=image)
                except (OSError, ValueError) as error:
                    problems.append(Problem(patient_id, column, str(error)))
            continue
        try:
            raw = read_image(Path(files[column]))
        except (OSError, ValueError) as error:
            problems.append(Problem(patient_id, column, str(error)))
            continue
        try:
            mask = select_roi(raw, label, segment)
        except ValueError as error:
            problems.append(Problem(patient_id, column, f"{files[column]}: {error}"))
            mask = raw
        if image is not None:
            try:
                on_image_grid(mask, image, tolerance, extent_may_differ=bool(slicer_segments(raw)))
            except ValueError as error:
                problems.append(Problem(patient_id, column, f"{files[column]}: {error}"))
    return problems


Located = list[tuple[int, Problem]]  # (CSV line, problem): problems are reported in file order


def _column_problems(table: pd.DataFrame, has_images: bool) -> Located:
    """Required columns that are missing, and a manifest without rows."""
    required = ["patient_id", *REQUIRED_CLINICAL, *(["image", "mask"] if has_images else [])]
    problems = [
        (0, Problem(MANIFEST_LEVEL, column, "required column is missing")) for column in required if column not in table
    ]
    if table.empty:
        problems.append((0, Problem(MANIFEST_LEVEL, "rows", "the manifest has no patient rows")))
    return problems


def _parsers(folder: Path) -> dict[str, Callable[[str], object]]:
    """The parser of each known column; relative image paths are taken from the manifest's folder."""
    to_path = _path_parser(folder)
    stage = {letter: _stage_parser(letter) for letter in "TNM"}
    return {
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


def _parse_row(
    line: int,
    record: dict[str, str],
    parsers: dict[str, Callable[[str], object]],
    may_be_empty: set[str],
    extra: list[str],
) -> tuple[dict[str, object], Located]:
    """One CSV row as typed values (NA where missing) and its problems."""
    row: dict[str, object] = {"patient_id": record.get("patient_id") or pd.NA}
    patient_id = record.get("patient_id") or f"line {line}"
    problems: Located = []
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
                    problems.append((line, Problem(patient_id, column, f"missing value ('{text}' = not assessable)")))
        row[column] = pd.NA if value is None else value
    row.update({column: record[column] or pd.NA for column in extra})
    return row, problems


def _duplicate_ids(rows: list[dict[str, object]]) -> Located:
    """One problem per patient id that appears on several lines, naming them."""
    lines_of: dict[str, list[int]] = {}
    for line, row in enumerate(rows, start=2):
        if isinstance(row["patient_id"], str):
            lines_of.setdefault(row["patient_id"], []).append(line)
    return [
        (lines[0], Problem(patient_id, "patient_id", f"duplicate id on CSV lines {', '.join(map(str, lines))}"))
        for patient_id, lines in lines_of.items()
        if len(lines) > 1
    ]


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
    Cells of ``allow_missing`` columns may be empty: they stay NA, counted in ``df.attrs["missing"]``.
    Returns one row per patient, columns ``patient_id``; ``image``, ``mask``, ``mask_reader2``
    (absolute paths, NA where absent); ``age``, ``gender``, ``T``, ``N``, ``M``, ``time_months``,
    ``event``; ``centre`` ("all" when the manifest has none), ``split``, ``mask_label``, ``segment``
    (NA where not given); then any extra columns, as text.
    """
    path = Path(path)
    not_clinical = sorted(set(allow_missing) - set(REQUIRED_CLINICAL))
    if not_clinical:
        raise ValueError(f"allow_missing accepts only {REQUIRED_CLINICAL}; got {not_clinical}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.columns = [str(column).strip() for column in table.columns]
    problems = _column_problems(table, any(column in table for column in IMAGE_COLUMNS))
    parsers = _parsers(path.parent.absolute())
    # A column that is present must be filled, except these (and those allowed missing).
    may_be_empty = {"mask_reader2", "mask_label", "segment", *allow_missing}
    extra = [column for column in table if column not in parsers and column != "patient_id"]

    rows, cases = [], []
    for line, raw in enumerate(table.to_dict("records"), start=2):
        record = {column: str(value).strip() for column, value in raw.items()}
        row, found = _parse_row(line, record, parsers, may_be_empty, extra)
        problems += found
        files = {c: row[c] for c in IMAGE_COLUMNS if isinstance(row.get(c), str)}
        if check_images and files:
            patient_id = record.get("patient_id") or f"line {line}"
            cases.append(
                (
                    line,
                    (
                        patient_id,
                        files,
                        given_or_none(row.get("mask_label")),
                        given_or_none(row.get("segment")),
                        geometry_tolerance_mm,
                    ),
                )
            )
        rows.append(row)
    checked = Parallel(n_jobs=n_jobs)(
        delayed(_check_case)(*case)
        for _, case in tqdm(cases, desc="checking images", unit="patient", disable=not cases)
    )
    problems += [(line, problem) for (line, _), found in zip(cases, checked) for problem in found]
    problems += _duplicate_ids(rows)
    if problems:
        ordered = [problem for _, problem in sorted(problems, key=lambda item: item[0])]
        raise ManifestError(ordered, source=str(path))
    return _normalised_frame(rows, extra, path, allow_missing)


def _normalised_frame(rows: list[dict], extra: list[str], source: Path, allow_missing: Sequence[str]) -> pd.DataFrame:
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
