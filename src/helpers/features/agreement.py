"""Inter-reader agreement of a cohort: both readers' features, one ICC per feature, or the plain statement that
the cohort does not allow one (no second reader, or fewer second readings than an ICC needs).

A real cohort often has no second delineation at all, or a handful: the chapter then says so and every feature
goes on to notebook 04, instead of stopping on an empty table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.errors import StaleInputError
from helpers.features import icc, radiomics

MIN_PATIENTS = 5  # icc_min_patients' default: ICC(2,1)'s F test has n - 1 degrees of freedom
RECOMMENDED_PATIENTS = 30  # Koo & Li (2016): at least 30 heterogeneous subjects for a reliability study


@dataclass(frozen=True)
class ReaderAgreement:
    """The ICC table of the patients with two readings (None when not assessable) and what the chapter says."""

    patients: int
    minimum: int
    table: pd.DataFrame | None  # icc.icc_per_feature's columns plus image_type and feature_class

    @property
    def assessable(self) -> bool:
        """Whether enough patients have a second reading for an ICC."""
        return self.table is not None

    @property
    def note(self) -> str:
        """One or two sentences on how many second readings there are and what follows from it."""
        if not self.assessable:
            return (
                f"Inter-reader agreement is not assessable: {self.patients} patient(s) have a second reader's mask "
                f"(mask_reader2), and an ICC needs at least {self.minimum} (icc_min_patients). Every feature goes "
                "on to notebook 04 unfiltered."
            )
        few = (
            f" Fewer than the {RECOMMENDED_PATIENTS} Koo & Li recommend for a reliability study: read the ICCs "
            "with their wide confidence intervals."
            if self.patients < RECOMMENDED_PATIENTS
            else ""
        )
        return f"{self.patients} patients delineated by both readers.{few}"

    def summary(self) -> dict[str, object]:
        """The headline numbers: patients with two readings, whether assessable, mean and median ICC (None when not
        assessable)."""
        icc_values = None if self.table is None else self.table["icc"]
        return {
            "patients": self.patients,
            "assessable": self.assessable,
            "mean_icc": None if icc_values is None else float(icc_values.mean()),
            "median_icc": None if icc_values is None else float(icc_values.median()),
        }

    def stable_features(self, threshold: float) -> list[str] | None:
        """The features kept for modelling (``icc.stable_features``); None (= all of them) when not assessable."""
        return None if self.table is None else icc.stable_features(self.table, threshold)


def second_readings(cohort: pd.DataFrame) -> pd.DataFrame:
    """The patients whose manifest gives a second reader's mask (none when the column is absent)."""
    return cohort[cohort["mask_reader2"].notna()] if "mask_reader2" in cohort else cohort.iloc[:0]


def reader_agreement(
    cohort: pd.DataFrame,
    params_file: str,
    run_dir: Path,
    *,
    form: str,
    minimum: int = MIN_PATIENTS,
    n_jobs: int = 1,
    scheduler_address: str = "",
) -> ReaderAgreement:
    """Extract both readers' masks of the patients with two readings and compute one ICC per feature, or, with
    fewer than ``minimum`` such patients, nothing: a ReaderAgreement that says so."""
    subset = second_readings(cohort)
    if len(subset) < max(minimum, 2):
        return ReaderAgreement(len(subset), max(minimum, 2), None)
    extraction = radiomics.extract_run(subset, params_file, run_dir, n_jobs=n_jobs, scheduler_address=scheduler_address)
    radiomics.raise_on_failures(extraction.failures)
    reader1 = radiomics.reader_table(extraction.features, "reader1")
    reader2 = radiomics.reader_table(extraction.features, "reader2")
    table = radiomics.with_families(icc.icc_per_feature(reader1, reader2, form=form))
    return ReaderAgreement(len(subset), max(minimum, 2), table)


def modelled_features(stable: dict, available: Sequence[str]) -> list[str]:
    """The feature columns notebooks 04 and 05 model: stable_features.json's list, or every available feature
    when its ``features`` is null (agreement not assessable). A listed feature missing from ``available`` is an
    error naming it (notebook 02 and 03 disagree: re-run both)."""
    if stable["features"] is None:
        return list(available)
    missing = sorted(set(stable["features"]) - set(available))
    if missing:
        raise StaleInputError(
            f"stable_features.json lists {len(missing)} feature(s) that features.parquet lacks, e.g. {missing[:3]}: "
            "notebooks 02 and 03 used different PyRadiomics settings; re-run both"
        )
    return list(stable["features"])
