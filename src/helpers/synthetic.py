"""In-silico pancreatic-cancer cohort with a known ground truth.

The generator stands in for the cohort of Dou et al. (BMC Cancer 2025): 880 patients from
two centres with portal-venous CT, a tumour mask per reader, TNM stage and survival. Every
patient is drawn from a documented latent model, so the true risk of each patient is known
and every analysis can be compared with the best achievable one (the oracle).

The true log hazard has three visible parts and one hidden part:

* ``lp_clinical`` - AJCC 8th T, N, M and age;
* ``lp_roi`` - what lies inside the tumour mask: size, hypo-attenuation, heterogeneity,
  necrosis and margin irregularity;
* ``lp_context`` - what lies only outside the mask: SMA/SMV contact, peripancreatic fat
  stranding and liver metastases;
* ``frailty`` - irreducible patient-level noise that no model can see.

The clinical table is drawn jointly for the cohort (categorical marginals are imposed by
ranks, so every seed reproduces the paper's Table 1); each image is then drawn from its
patient's latent row and a random stream that depends only on (seed, patient index), so the
files do not depend on the number of worker processes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed
from scipy import ndimage, special
from tqdm.auto import tqdm

GENERATOR_VERSION = "1.0"
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

# Attenuation (portal venous, before the scanner's offset) of the background anatomy, HU.
TISSUE_HU = {
    "air": -1000.0, "fat": -100.0, "visceral_fat": -95.0, "muscle": 50.0, "liver": 110.0,
    "spleen": 115.0, "kidney": 160.0, "bowel": 40.0, "fluid": 12.0, "pancreas": 100.0,
    "cancellous_bone": 250.0, "cortical_bone": 650.0, "csf": 15.0, "aorta": 180.0,
    "sma": 185.0, "ivc": 135.0, "portal_vein": 170.0, "liver_lesion": 45.0,
    "necrosis": 18.0, "padding": -1024.0,
}
_LABELS = {name: code for code, name in enumerate(
    ("air", "fat", "muscle", "organ", "bone", "pancreas", "tumour", "cuff", "vessel", "lesion"))}
_TUMOUR_PAINTABLE = ("fat", "muscle", "organ", "pancreas")


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
    # Table 1 marginals of the paper.
    male_fraction: float = 0.57
    age_mean: float = 68.0
    age_sd: float = 9.0
    t_stage_fractions: tuple[float, float, float, float] = (0.09, 0.47, 0.23, 0.21)
    n_stage_fractions: tuple[float, float, float] = (0.43, 0.38, 0.18)
    m1_fraction: float = 0.25
    head_fraction: float = 0.65
    # Survival: Weibull proportional hazards, times in months.
    weibull_shape: float = 1.2
    median_survival_months: float = 12.0
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
    # Scanners of centres C1 and C2.
    centre_noise_sd_hu: tuple[float, float] = (12.0, 18.0)
    centre_blur_mm: tuple[float, float] = (0.4, 0.9)
    centre_hu_offset: tuple[float, float] = (0.0, 8.0)
    centre_pixel_scale: tuple[float, float] = (1.0, 1.0625)
    # Reader 2 draws the boundary this far (mm, SD of a smooth random shift) from reader 1.
    reader2_boundary_mm: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters plus the generator version (what ``spec.json`` holds)."""
        return {**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
                "generator_version": GENERATOR_VERSION}


# --------------------------------------------------------------------------- clinical table


def simulate_clinical(spec: CohortSpec) -> pd.DataFrame:
    """Draw the cohort's latent, clinical and survival table (no images).

    ``generate_cohort`` draws its images from this same table, so its marginals and oracle
    can be checked in milliseconds without writing a single volume.
    """
    rng = np.random.default_rng(_streams(spec)[0])
    n = spec.n_patients
    table = pd.DataFrame({"patient_id": [f"SYN-{i + 1:04d}" for i in range(n)]})
    table["centre"] = np.array(["C1", "C2"])[_rank_categories(rng.random(n), spec.centre_fractions)]
    table["has_reader2"] = np.isin(np.arange(n), rng.choice(n, size=min(spec.n_reader2, n), replace=False))
    table["gender"] = np.array(["female", "male"])[
        _rank_categories(rng.random(n), (1 - spec.male_fraction, spec.male_fraction))]
    table["age"] = np.clip(np.round(rng.normal(spec.age_mean, spec.age_sd, n)), 35, 90).astype(int)
    aggressiveness = rng.standard_normal(n)
    _draw_tumour_stage(table, aggressiveness, spec, rng)
    _draw_tumour_appearance(table, aggressiveness, spec, rng)
    _draw_context(table, spec, rng)
    _add_linear_predictors(table, spec)
    _draw_survival(table, spec, rng)
    return table


def _streams(spec: CohortSpec) -> tuple[np.random.SeedSequence, list[np.random.SeedSequence]]:
    """The cohort table's seed and one seed per patient image (index i -> same seed for any n)."""
    cohort, images = np.random.SeedSequence(spec.seed).spawn(2)
    return cohort, images.spawn(spec.n_patients)


def _rank_categories(score: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
    """Category index per patient: the lowest-scoring share ``fractions[0]`` get 0, and so on.

    Cutting ranks (not thresholds) makes the category counts exact for every seed.
    """
    shares = np.asarray(fractions, float) / np.sum(fractions)
    bounds = np.round(np.cumsum(shares) * len(score)).astype(int)
    categories = np.empty(len(score), int)
    categories[np.argsort(score, kind="stable")] = np.searchsorted(bounds, np.arange(len(score)), side="right")
    return categories


def _correlated(rng: np.random.Generator, driver: np.ndarray, weight: float) -> np.ndarray:
    """A standard-normal score with correlation ``weight`` to the standard-normal ``driver``."""
    return weight * driver + np.sqrt(1 - weight**2) * rng.standard_normal(len(driver))


def ajcc_t_stage(diameter_mm: np.ndarray, sma_contact_deg: np.ndarray) -> np.ndarray:
    """AJCC 8th T stage (1-4) from greatest diameter and SMA contact (T4 regardless of size)."""
    size_stage = np.where(diameter_mm <= T1_MAX_DIAMETER_MM, 1, np.where(diameter_mm <= T2_MAX_DIAMETER_MM, 2, 3))
    return np.where(np.asarray(sma_contact_deg) > ARTERIAL_INVOLVEMENT_DEG, 4, size_stage)


def _truncated_lognormal(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Diameters from the cohort's log-normal, each truncated to its own [low, high]."""
    def cdf(d: np.ndarray) -> np.ndarray:
        return special.ndtr((np.log(d) - np.log(DIAMETER_MEDIAN_MM)) / DIAMETER_LOG_SD)
    u = rng.uniform(cdf(low), cdf(high))
    return np.exp(np.log(DIAMETER_MEDIAN_MM) + DIAMETER_LOG_SD * special.ndtri(u))


def _draw_tumour_stage(table: pd.DataFrame, aggressiveness: np.ndarray, spec: CohortSpec,
                       rng: np.random.Generator) -> None:
    """Arterial contact, diameter, T (AJCC rule), N and M, all driven by aggressiveness."""
    n = len(table)
    t4_share = spec.t_stage_fractions[3]
    arterial = _rank_categories(_correlated(rng, aggressiveness, 0.5), (1 - t4_share, t4_share)) == 1
    sma = np.where(arterial, ARTERIAL_INVOLVEMENT_DEG + 1 + 179 * rng.beta(1.5, 1.5, n),
                   np.where(rng.random(n) < 0.6, 0.0, 175 * rng.beta(1.2, 2.0, n)))
    size_class = np.full(n, 3)  # T4 tumours: size class 3 = "any size"
    non_t4 = ~arterial
    size_class[non_t4] = _rank_categories(_correlated(rng, aggressiveness, 0.6)[non_t4], spec.t_stage_fractions[:3])
    low_mm, high_mm = DIAMETER_RANGE_MM
    bounds = np.array([[low_mm, T1_MAX_DIAMETER_MM], [T1_MAX_DIAMETER_MM, T2_MAX_DIAMETER_MM],
                       [T2_MAX_DIAMETER_MM, high_mm], [12.0, high_mm]])
    diameter = _truncated_lognormal(rng, bounds[size_class, 0], bounds[size_class, 1])
    t_stage = ajcc_t_stage(diameter, sma)
    log_size = (np.log(diameter) - np.log(diameter).mean()) / np.log(diameter).std()
    n_score = 0.45 * aggressiveness + 0.3 * log_size + 0.75 * rng.standard_normal(n)
    n_stage = _rank_categories(n_score, spec.n_stage_fractions)
    m_score = 0.35 * aggressiveness + 0.3 * (t_stage - 2.5) + 0.2 * n_stage + 0.8 * rng.standard_normal(n)
    m1 = _rank_categories(m_score, (1 - spec.m1_fraction, spec.m1_fraction))
    table["sma_contact_deg"] = sma
    table["diameter_mm"] = diameter
    table["T"] = [f"T{t}" for t in t_stage]
    table["N"] = [f"N{k}" for k in n_stage]
    table["M"] = [f"M{k}" for k in m1]


def _draw_tumour_appearance(table: pd.DataFrame, aggressiveness: np.ndarray, spec: CohortSpec,
                            rng: np.random.Generator) -> None:
    """What the ROI shows: attenuation, texture heterogeneity, necrosis and margin."""
    n = len(table)
    table["location"] = np.where(rng.random(n) < spec.head_fraction, "head", "body_tail")
    table["attenuation"] = np.clip(REFERENCE_ATTENUATION_HU - 12 * _correlated(rng, aggressiveness, 0.3), 35, 100)
    table["heterogeneity"] = 4 + 16 * rng.beta(2, 2, n)
    size_factor = np.clip((table["diameter_mm"].to_numpy() - 10) / 30, 0, 1)
    table["necrosis_fraction"] = 0.5 * rng.beta(1.3, 3.0, n) * size_factor
    table["margin_irregularity"] = rng.beta(2.0, 2.5, n)


def _draw_context(table: pd.DataFrame, spec: CohortSpec, rng: np.random.Generator) -> None:
    """What only the surroundings show: SMV contact, fat stranding, liver metastases."""
    n = len(table)
    head = (table["location"] == "head").to_numpy()
    contact = rng.random(n) < np.where(head, 0.65, 0.35)
    table["smv_contact_deg"] = np.where(contact, 360 * rng.beta(1.3, 2.0, n), 0.0)
    table["vessel_encasement_deg"] = table[["sma_contact_deg", "smv_contact_deg"]].max(axis=1)
    table["stranding"] = rng.beta(1.5, 2.5, n)
    m1 = (table["M"] == "M1").to_numpy()
    table["liver_lesions"] = np.where(m1, 1 + np.minimum(rng.poisson(2.0, n), 9), 0)


def _add_linear_predictors(table: pd.DataFrame, spec: CohortSpec) -> None:
    """The true log hazard ratios against the reference patient, by part."""
    t_index = table["T"].str[1].astype(int).to_numpy() - 1
    n_index = table["N"].str[1].astype(int).to_numpy()
    table["lp_clinical"] = (np.asarray(spec.log_hr_t_stage)[t_index] + np.asarray(spec.log_hr_n_stage)[n_index]
                            + spec.log_hr_m1 * (table["M"] == "M1")
                            + spec.log_hr_age_per_decade * (table["age"] - REFERENCE_AGE) / 10)
    table["lp_roi"] = (spec.log_hr_size_per_doubling * np.log2(table["diameter_mm"] / REFERENCE_DIAMETER_MM)
                       + spec.log_hr_hypoattenuation_per_10hu * (REFERENCE_ATTENUATION_HU - table["attenuation"]) / 10
                       + spec.log_hr_heterogeneity_per_10hu * (table["heterogeneity"] - REFERENCE_HETEROGENEITY_HU) / 10
                       + spec.log_hr_necrosis_per_10pct * table["necrosis_fraction"] * 10
                       + spec.log_hr_margin_irregularity * table["margin_irregularity"])
    table["lp_context"] = (spec.log_hr_sma_contact_per_90deg * table["sma_contact_deg"] / 90
                           + spec.log_hr_smv_contact_per_90deg * table["smv_contact_deg"] / 90
                           + spec.log_hr_stranding * table["stranding"]
                           + spec.log_hr_liver_lesion_doubling * np.log2(1 + table["liver_lesions"]))
    table["lp_total"] = table["lp_clinical"] + table["lp_roi"] + table["lp_context"]


def _draw_survival(table: pd.DataFrame, spec: CohortSpec, rng: np.random.Generator) -> None:
    """Weibull PH event times with frailty; administrative and random censoring.

    The Weibull scale is set so that the cohort's median true survival is
    ``median_survival_months`` (a number a reader can compare with the literature).
    """
    n = len(table)
    table["frailty"] = rng.normal(0.0, spec.frailty_sd, n)
    hazard = np.exp(table["lp_total"] + table["frailty"]).to_numpy()
    unscaled = (rng.exponential(size=n) / hazard) ** (1 / spec.weibull_shape)
    event_time = unscaled * spec.median_survival_months / np.median(unscaled)
    start, end, censor = (date.fromisoformat(d) for d in (spec.diagnosis_start, spec.diagnosis_end, spec.censor_date))
    diagnosed = np.datetime64(start) + rng.integers(0, (end - start).days + 1, n).astype("timedelta64[D]")
    administrative = (np.datetime64(censor) - diagnosed).astype(float) / DAYS_PER_MONTH
    lost = rng.exponential(12 / spec.loss_to_follow_up_per_year, n)
    censor_time = np.minimum(administrative, lost)
    table["diagnosis_date"] = pd.to_datetime(diagnosed).strftime("%Y-%m-%d")
    table["true_event_time_months"] = event_time
    table["censor_time_months"] = censor_time
    table["event"] = (event_time <= censor_time).astype(int)
    table["time_months"] = np.maximum(np.round(np.minimum(event_time, censor_time), 2), 0.01)


def oracle_scores(truth: pd.DataFrame) -> pd.DataFrame:
    """The true risk scores (linear predictors without frailty) per patient, truth's index kept.

    ``full`` is the Bayes-optimal ranking at every horizon under proportional hazards; the
    partial scores show what a model seeing only one kind of information could reach.
    """
    return pd.DataFrame({"full": truth["lp_total"], "clinical": truth["lp_clinical"],
                         "roi": truth["lp_roi"], "context": truth["lp_context"]}, index=truth.index)


# --------------------------------------------------------------------------- image synthesis


@dataclass
class _Canvas:
    """A CT volume being painted: HU and structure labels on a grid with mm coordinates."""

    x: np.ndarray  # (nx,) towards the patient's left
    y: np.ndarray  # (ny,) towards posterior
    z: np.ndarray  # (nz,) towards superior
    hu: np.ndarray  # (nz, ny, nx) float32
    label: np.ndarray  # (nz, ny, nx) uint8, codes of ``_LABELS``

    @classmethod
    def blank(cls, origin: np.ndarray, spacing: np.ndarray, shape: tuple[int, int, int]) -> _Canvas:
        """Air everywhere on a grid with the given origin and spacing (x, y, z order)."""
        x, y, z = (origin[i] + spacing[i] * np.arange(shape[i]) for i in range(3))
        size = (shape[2], shape[1], shape[0])
        return cls(x, y, z, np.full(size, TISSUE_HU["air"], np.float32), np.zeros(size, np.uint8))

    def box(self, centre: np.ndarray, half: np.ndarray) -> tuple[tuple[slice, ...], list[np.ndarray]] | None:
        """Index box of ``centre +- half`` (mm, x/y/z) and its coordinates relative to ``centre``.

        Coordinates come back as broadcastable (z, y, x) arrays; None if the box misses the grid.
        """
        slices, offsets = [], []
        for axis, coords in enumerate((self.z, self.y, self.x)):
            c, h = centre[2 - axis], half[2 - axis]
            lo, hi = np.searchsorted(coords, [c - h, c + h])
            if hi <= lo:
                return None
            slices.append(slice(lo, hi))
            shape = [1, 1, 1]
            shape[axis] = hi - lo
            offsets.append((coords[lo:hi] - c).astype(np.float32).reshape(shape))
        return tuple(slices), offsets

    def paint(self, where: tuple[slice, ...], mask: np.ndarray, label: str, value: float | np.ndarray,
              over: tuple[str, ...] | None = None) -> np.ndarray:
        """Set HU and label inside ``mask`` (restricted to labels ``over``); return what was painted."""
        if over is not None:
            mask = mask & np.isin(self.label[where], [_LABELS[name] for name in over])
        self.hu[where][mask] = value[mask] if isinstance(value, np.ndarray) else value
        self.label[where][mask] = _LABELS[label]
        return mask


def _ellipsoid(canvas: _Canvas, centre: tuple[float, ...], semi: tuple[float, ...], label: str, value: float,
               over: tuple[str, ...] | None = None) -> None:
    """Paint a solid axis-aligned ellipsoid (mm)."""
    centre_a, semi_a = np.asarray(centre, float), np.asarray(semi, float)
    region = canvas.box(centre_a, semi_a)
    if region is not None:
        where, (dz, dy, dx) = region
        inside = (dx / semi_a[0]) ** 2 + (dy / semi_a[1]) ** 2 + (dz / semi_a[2]) ** 2 < 1
        canvas.paint(where, inside, label, value, over)


def _tube(canvas: _Canvas, points: list[tuple[float, float, float]], radius: float, label: str, value: float,
          over: tuple[str, ...] | None = None) -> None:
    """Paint a tube of constant radius along a polyline (segment-distance capsules)."""
    for a, b in zip(points[:-1], points[1:]):
        a_, b_ = np.asarray(a, np.float32), np.asarray(b, np.float32)
        region = canvas.box((a_ + b_) / 2, np.abs(b_ - a_) / 2 + radius)
        if region is None:
            continue
        where, (dz, dy, dx) = region
        axis = b_ - a_
        rel = (dx + axis[0] / 2, dy + axis[1] / 2, dz + axis[2] / 2)  # coordinates relative to a
        t = np.clip((rel[0] * axis[0] + rel[1] * axis[1] + rel[2] * axis[2]) / float(axis @ axis), 0, 1)
        dist2 = (rel[0] - t * axis[0]) ** 2 + (rel[1] - t * axis[1]) ** 2 + (rel[2] - t * axis[2]) ** 2
        canvas.paint(where, dist2 < radius**2, label, value, over)
