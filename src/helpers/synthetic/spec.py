"""The in-silico cohort's specification: its sizes, seed, centres and the constants of the latent model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

GENERATOR_VERSION = "2.2"  # 2.2: scanners of published difference (noise grain, SD, HU); 2.1: large tumours centred
DAYS_PER_MONTH = 365.25 / 12

# AJCC 8th T stage: size cut-offs (greatest diameter) and the arterial contact taken as
# "involvement" of the SMA (encasement, more than half of its circumference).
T1_MAX_DIAMETER_MM = 20.0
T2_MAX_DIAMETER_MM = 40.0
ARTERIAL_INVOLVEMENT_DEG = 180.0

# Tumour size distribution: log-normal greatest diameter, truncated to these bounds.
DIAMETER_MEDIAN_MM = 32.0
DIAMETER_LOG_SD = 0.40
DIAMETER_RANGE_MM = (8.0, 62.0)

# Reference patient of the linear predictors: every term is zero for a 68-year-old with a
# T1 N0 M0, 30 mm, 70 HU, 12 HU-heterogeneous, non-necrotic, smooth tumour and no contact,
# stranding or liver lesion.
REFERENCE_AGE = 68.0
REFERENCE_DIAMETER_MM = 30.0
REFERENCE_ATTENUATION_HU = 70.0
REFERENCE_HETEROGENEITY_HU = 12.0


@dataclass(frozen=True)
class CohortSpec:
    """Everything that defines an in-silico cohort; two equal specs give identical files."""

    n_patients: int = 880
    centre_fractions: tuple[float, float] = (520 / 880, 360 / 880)
    n_reader2: int = 50
    matrix: int = 256
    n_slices: int = 24
    pixel_mm: float = 0.8
    slice_mm: float = 5.0
    seed: int = 20250101
    censor_date: str = "2024-06-01"
    diagnosis_start: str = "2013-01-01"
    diagnosis_end: str = "2023-12-31"
    # Diagnosis dates: Beta(1, accrual_decay) over the window (1: uniform; larger: more early patients).
    accrual_decay: float = 5.04
    # Table 1 marginals of the paper.
    male_fraction: float = 0.57
    age_mean: float = 68.0
    age_sd: float = 9.0
    t_stage_fractions: tuple[float, float, float, float] = (0.09, 0.47, 0.23, 0.21)
    n_stage_fractions: tuple[float, float, float] = (0.43, 0.38, 0.18)
    m1_fraction: float = 0.25
    head_fraction: float = 0.65
    # Survival: Weibull proportional hazards, times in months; the scale is the reference patient's.
    # tools/calibrate_survival.py chose scale, shape and loss rate so that observed follow-up and
    # death share match the paper's Table 1 (see book/data_insilico.md for the measured fit).
    weibull_shape: float = 1.84
    baseline_scale_months: float = 421.5
    frailty_sd: float = 0.5
    loss_to_follow_up_per_year: float = 0.03
    # Log hazard ratios of the clinical part.
    log_hr_t_stage: tuple[float, float, float, float] = (0.0, 0.4, 0.8, 1.2)
    log_hr_n_stage: tuple[float, float, float] = (0.0, 0.4, 0.8)
    log_hr_m1: float = 1.0
    log_hr_age_per_decade: float = 0.15
    # Log hazard ratios of what is visible inside the ROI.
    log_hr_size_per_doubling: float = 0.5
    log_hr_hypoattenuation_per_10hu: float = 0.6
    log_hr_heterogeneity_per_10hu: float = 0.6
    log_hr_necrosis_per_10pct: float = 0.25
    log_hr_margin_irregularity: float = 1.6
    # Log hazard ratios of what is visible only outside the ROI.
    log_hr_sma_contact_per_90deg: float = 0.3
    log_hr_smv_contact_per_90deg: float = 0.5
    log_hr_stranding: float = 2.4
    log_hr_liver_lesion_doubling: float = 0.3
    # Scanners of centres C1 and C2: a 256-slice scanner with hybrid iterative reconstruction and a 64-slice
    # one with filtered back projection. Iterative reconstruction about halves the noise SD at a routine dose
    # and shifts its power to lower frequencies (coarser grain: the noise is correlated over about a pixel);
    # scanners of different generations differ by about 10 HU in soft tissue (book/data_insilico.md).
    centre_noise_sd_hu: tuple[float, float] = (10.0, 20.0)
    centre_noise_grain_mm: tuple[float, float] = (0.8, 0.0)
    centre_blur_mm: tuple[float, float] = (0.4, 0.9)
    centre_hu_offset: tuple[float, float] = (0.0, 10.0)
    centre_pixel_scale: tuple[float, float] = (1.0, 1.0625)
    # Reader 2 draws the boundary this far (mm, SD of a smooth random shift) from reader 1;
    # 1.8 mm puts the mean ICC(2,1) over all 1,037 features of the paper's extraction near its
    # 0.81 (notebook 02 reports each run's value).
    reader2_boundary_mm: float = 1.8

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters plus the generator version (what ``spec.json`` holds)."""
        return {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
            "generator_version": GENERATOR_VERSION,
        }

    @classmethod
    def from_json(cls, path: Path) -> CohortSpec:
        """The spec a generated cohort's ``spec.json`` records (lists back to tuples); another generator
        version raises, because the same numbers would no longer mean the same cohort."""
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        version = values.pop("generator_version", None)
        if version != GENERATOR_VERSION:
            raise ValueError(f"{path}: written by generator version {version}, this is {GENERATOR_VERSION}")
        settings: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**settings)


def random_streams(spec: CohortSpec) -> tuple[np.random.SeedSequence, list[np.random.SeedSequence]]:
    """The cohort table's seed and one seed per patient image (index i -> same seed for any n)."""
    cohort, images = np.random.SeedSequence(spec.seed).spawn(2)
    return cohort, images.spawn(spec.n_patients)
