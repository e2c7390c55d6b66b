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
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed
from scipy import ndimage, special
from tqdm import tqdm

from helpers.stage import atomic_path

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
    ("air", "fat", "subcutaneous_fat", "muscle", "bone", "organ", "liver", "bowel", "pancreas", "tumour", "cuff",
     "vessel", "lesion"))}
_SOFT_TISSUE = ("fat", "subcutaneous_fat", "muscle", "organ", "liver", "bowel", "pancreas", "lesion")
_TUMOUR_HOST = ("fat", "organ", "liver", "bowel", "pancreas", "lesion")  # it pushes muscle and bone aside


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
    # Reader 2 draws the boundary this far (mm, SD of a smooth random shift) from reader 1;
    # 1.8 mm puts the mean ICC(2,1) over all 1,037 features of the paper's extraction near its
    # 0.81 (0.815 on the default cohort) at a mean reader Dice of 0.85.
    reader2_boundary_mm: float = 1.8

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters plus the generator version (what ``spec.json`` holds)."""
        return {**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
                "generator_version": GENERATOR_VERSION}

    @classmethod
    def from_json(cls, path: Path) -> CohortSpec:
        """The spec a generated cohort's ``spec.json`` records (lists back to tuples); another generator
        version raises, because the same numbers would no longer mean the same cohort."""
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        version = values.pop("generator_version", None)
        if version != GENERATOR_VERSION:
            raise ValueError(f"{path}: written by generator version {version}, this is {GENERATOR_VERSION}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


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
    _draw_context(table, rng)
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


def _draw_context(table: pd.DataFrame, rng: np.random.Generator) -> None:
    """What only the surroundings show: SMV contact, fat stranding, liver metastases."""
    n = len(table)
    head = (table["location"] == "head").to_numpy()
    arterial = (table["sma_contact_deg"] > 0).to_numpy()
    contact = rng.random(n) < np.where(head, np.where(arterial, 0.85, 0.6), 0.35)
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
              over: tuple[str, ...] | None = None) -> None:
        """Set HU and label inside ``mask`` of the box ``where``, only over the labels ``over`` if given."""
        if over is not None:
            mask = mask & _label_lookup(over)[self.label[where]]
        self.hu[where][mask] = value[mask] if isinstance(value, np.ndarray) else value
        self.label[where][mask] = _LABELS[label]


def _label_lookup(names: tuple[str, ...]) -> np.ndarray:
    """Boolean table over label codes: ``table[label_array]`` is True where the label is in ``names``."""
    table = np.zeros(256, bool)
    table[[_LABELS[name] for name in names]] = True
    return table


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


@dataclass(frozen=True)
class _Anatomy:
    """One patient's habitus and retroperitoneal layout (mm; x left, y posterior, z superior)."""

    body_semi: tuple[float, float]
    fat_mm: float
    offset: np.ndarray  # (3,) shift of the organs against the body outline
    pancreas: np.ndarray  # (k, 3) centreline, head (0) to tail (k-1)
    pancreas_radius: np.ndarray  # (k,) in-plane radius along the centreline
    vessel_xy: dict[str, np.ndarray]  # in-plane axis of the vertical vessels near the pancreas
    vessel_radius: dict[str, float]
    vessel_top_z: dict[str, float]  # where each vertical segment ends superiorly

    def at(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """A nominal organ position moved by this patient's offset."""
        return x + self.offset[0], y + self.offset[1], z + self.offset[2]


BODY_CENTRE_Y = 8.0
FOV_CENTRE = np.array([0.0, BODY_CENTRE_Y, -6.0])
CUFF_MM = 4.0  # thickness of tumour-like tissue around a vessel it contacts
_PANCREAS_NODES = np.array([  # x, y, z, in-plane radius: uncinate, head, neck, body, tail
    (-26, 0, -26, 12), (-32, -8, -16, 15), (-22, -22, -6, 12), (-6, -26, 2, 9),
    (18, -25, 6, 10.5), (45, -14, 9, 10), (70, 6, 12, 8.5)], float)


def _draw_anatomy(rng: np.random.Generator) -> _Anatomy:
    """Habitus (body size, subcutaneous fat) and small shifts of every organ."""
    habitus = rng.uniform(0.92, 1.08)
    offset = rng.normal(0, [3.0, 3.0, 4.0])
    nodes = _PANCREAS_NODES + np.c_[rng.normal(0, 2.0, (len(_PANCREAS_NODES), 3)), np.zeros(len(_PANCREAS_NODES))]
    arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(nodes[:, :3], axis=0), axis=1))]
    fine = np.linspace(0, arc[-1], 48)
    centreline = np.stack([np.interp(fine, arc, nodes[:, k]) for k in range(4)], axis=1)
    centreline[:, :3] += offset
    return _Anatomy(
        body_semi=(145 * habitus, 95 * habitus), fat_mm=rng.uniform(10, 28), offset=offset,
        pancreas=centreline[:, :3], pancreas_radius=centreline[:, 3] * rng.uniform(0.85, 1.15),
        vessel_xy={"sma": np.array([8.0, -3.0]) + offset[:2] + rng.normal(0, 1, 2),
                   "smv": np.array([-8.0, -8.0]) + offset[:2] + rng.normal(0, 1, 2),
                   "aorta": np.array([8.0, 17.0]) + offset[:2], "ivc": np.array([-20.0, 20.0]) + offset[:2]},
        vessel_radius={"sma": rng.uniform(3.5, 4.5), "smv": rng.uniform(5.0, 6.5), "aorta": 11.0, "ivc": 11.0},
        vessel_top_z={"sma": 22.0 + offset[2], "smv": 14.0 + offset[2]},
    )


@dataclass(frozen=True)
class _TumourShape:
    """A lobulated, spiculated sphere: radius(direction) = R (1 + sum of angular cosines)."""

    radius_mm: float
    directions: np.ndarray  # (k, 3) unit vectors
    frequencies: np.ndarray  # (k,)
    phases: np.ndarray  # (k,)
    amplitudes: np.ndarray  # (k,) relative radius perturbation per term

    @classmethod
    def draw(cls, diameter_mm: float, margin_irregularity: float, rng: np.random.Generator) -> _TumourShape:
        """Low-frequency lobulation plus higher-frequency spiculation, both growing with the margin score."""
        directions = rng.standard_normal((8, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        frequencies = np.r_[rng.uniform(1.5, 3.0, 5), rng.uniform(6.0, 9.0, 3)]
        lobulation, spiculation = 0.04 + 0.22 * margin_irregularity, 0.10 * margin_irregularity
        amplitudes = np.r_[np.full(5, lobulation / np.sqrt(2.5)), np.full(3, spiculation / np.sqrt(1.5))]
        return cls(diameter_mm / 2, directions.astype(np.float32), frequencies.astype(np.float32),
                   rng.uniform(0, 2 * np.pi, 8).astype(np.float32), amplitudes.astype(np.float32))

    @property
    def reach_mm(self) -> float:
        """An upper bound of the perturbed radius."""
        return self.radius_mm * (1 + self.amplitudes.sum())

    def radius(self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """Boundary radius (mm) in the direction of each voxel."""
        scale = np.ones_like(rho)
        inv = 1 / np.maximum(rho, np.float32(1e-3))
        ux, uy, uz = dx * inv, dy * inv, dz * inv
        for (wx, wy, wz), f, p, a in zip(self.directions, self.frequencies, self.phases, self.amplitudes):
            scale += a * np.cos((ux * (f * wx) + uy * (f * wy) + uz * (f * wz)) + p)
        return np.float32(self.radius_mm) * np.maximum(scale, np.float32(0.4))


def _place_tumour(anatomy: _Anatomy, row: dict[str, Any], shape: _TumourShape,
                  rng: np.random.Generator) -> np.ndarray:
    """Tumour centre near its site on the pancreas, its boundary abutting each vessel it contacts
    (through the cuff of tumour-like tissue) and a fat plane away from a vessel it does not contact.

    A 1 mm grid search around the site: the nearest point that meets every distance rule.
    """
    low, high = (0.04, 0.3) if row["location"] == "head" else (0.55, 0.92)
    site = anatomy.pancreas[int(rng.uniform(low, high) * (len(anatomy.pancreas) - 1))]
    offsets = np.arange(-70.0, 70.5, 1.0)
    grid = np.stack(np.meshgrid(site[0] + offsets, site[1] + offsets), axis=-1).reshape(-1, 2)
    contact = {"sma": row["sma_contact_deg"], "smv": row["smv_contact_deg"], "aorta": 0.0, "ivc": 0.0}
    violation = np.zeros(len(grid))
    for vessel, degrees in contact.items():
        towards = anatomy.vessel_xy[vessel] - grid
        distance = np.linalg.norm(towards, axis=1)
        if degrees > 0:
            unit = (towards / np.maximum(distance, 1e-6)[:, None]).astype(np.float32)
            flat, unit_length = np.zeros(len(unit), np.float32), np.ones(len(unit), np.float32)
            facing = shape.radius(unit[:, 0], unit[:, 1], flat, unit_length)  # boundary on the vessel's side
            touch = facing + anatomy.vessel_radius[vessel] + CUFF_MM - 1.0
            violation += np.maximum(np.abs(distance - touch) - 0.75, 0)
        else:
            clear = shape.radius_mm * (1 + shape.amplitudes.sum() / 2) + anatomy.vessel_radius[vessel] + 1.5
            violation += np.maximum(clear - distance, 0)
    cost = 1000 * violation + np.linalg.norm(grid - site[:2], axis=1)
    return np.r_[grid[np.argmin(cost)], site[2]]


_BODY_EXPONENT = 2.4  # superellipse: a flattened oval like an abdominal cross-section
_WALL_MM = 10.0
_ENDLESS = 1e4  # semi-axis along z of structures that run through the whole volume


def _paint_body(canvas: _Canvas, anatomy: _Anatomy) -> None:
    """Skin outline, subcutaneous fat, abdominal wall and visceral fat (the same on every slice)."""
    x, y = canvas.x[None, :], canvas.y[:, None] - BODY_CENTRE_Y - anatomy.offset[1] / 2
    a, b = anatomy.body_semi

    def inside(inset: float) -> np.ndarray:
        return np.abs(x / (a - inset)) ** _BODY_EXPONENT + np.abs(y / (b - inset)) ** _BODY_EXPONENT < 1

    hu = np.full(inside(0).shape, TISSUE_HU["air"], np.float32)
    label = np.zeros(hu.shape, np.uint8)
    for inset, name, tissue in ((0, "subcutaneous_fat", "fat"), (anatomy.fat_mm, "muscle", "muscle"),
                                (anatomy.fat_mm + _WALL_MM, "fat", "visceral_fat")):
        region = inside(inset)
        hu[region], label[region] = TISSUE_HU[tissue], _LABELS[name]
    canvas.hu[:] = hu
    canvas.label[:] = label


def _paint_spine_and_muscles(canvas: _Canvas, anatomy: _Anatomy) -> None:
    """Vertebral body with discs, posterior arch and canal, paraspinal and psoas muscles."""
    at, hu = anatomy.at, TISSUE_HU
    for side in (-1, 1):
        _ellipsoid(canvas, at(30 * side, 80, 0), (20, 14, _ENDLESS), "muscle", hu["muscle"])
        _ellipsoid(canvas, at(30 * side, 42, -75), (12, 15, 75), "muscle", hu["muscle"])
    _ellipsoid(canvas, at(0, 45, 0), (20, 16, _ENDLESS), "bone", hu["cortical_bone"])
    _ellipsoid(canvas, at(0, 45, 0), (17.5, 13.5, _ENDLESS), "bone", hu["cancellous_bone"])
    for disc_z in np.arange(-120, 121, 36):
        _ellipsoid(canvas, at(0, 45, disc_z), (20, 16, 4), "bone", hu["muscle"] + 40)
    _ellipsoid(canvas, at(0, 70, 0), (13, 12, _ENDLESS), "bone", 0.7 * hu["cortical_bone"])
    _ellipsoid(canvas, at(0, 86, 0), (3.5, 10, _ENDLESS), "bone", 0.7 * hu["cortical_bone"])
    _ellipsoid(canvas, at(0, 69, 0), (8, 8.5, _ENDLESS), "bone", hu["csf"])


def _paint_organs(canvas: _Canvas, anatomy: _Anatomy, rng: np.random.Generator) -> None:
    """Kidneys, pancreas, duodenum, stomach, liver, gallbladder, spleen and bowel loops.

    Organs fill only fat (kidneys also the abdominal wall, the gallbladder the liver), so the
    order below is the order of precedence.
    """
    at, hu, fat = anatomy.at, TISSUE_HU, ("fat",)
    for side, z in ((1, -22), (-1, -32)):
        _ellipsoid(canvas, at(64 * side, 55, z), (22, 26, 45), "organ", hu["kidney"], ("fat", "muscle"))
        _ellipsoid(canvas, at(54 * side, 53, z), (6, 10, 16), "fat", hu["fat"] + 40, ("organ",))
    _paint_pancreas(canvas, anatomy, rng)
    duodenum = [at(-55, -10, 5), at(-57, -5, -20), at(-45, 5, -38), at(-12, 2, -44)]
    _tube(canvas, duodenum, 10, "bowel", hu["bowel"], fat)
    _tube(canvas, duodenum, 6, "bowel", hu["fluid"], ("bowel",))
    _ellipsoid(canvas, at(50, -40, 32), (38, 28, 32), "bowel", hu["bowel"], fat)
    _ellipsoid(canvas, at(50, -40, 32), (34, 24, 28), "bowel", hu["fluid"], ("bowel",))
    _ellipsoid(canvas, at(50, -54, 32), (26, 9, 20), "bowel", hu["air"], ("bowel",))
    _ellipsoid(canvas, at(-88, 0, 32), (62, 78, 62), "liver", hu["liver"], fat)
    _ellipsoid(canvas, at(-30, -58, 38), (48, 20, 26), "liver", hu["liver"], fat)
    _ellipsoid(canvas, at(-52, -42, -2), (14, 16, 22), "organ", hu["fluid"], ("fat", "liver"))
    _ellipsoid(canvas, at(82, 48, 30), (24, 42, 45), "organ", hu["spleen"], fat)
    for _ in range(7):
        centre = at(rng.uniform(-70, 90), rng.uniform(-80, -25), rng.uniform(-70, 0))
        radius = rng.uniform(9, 16)
        _ellipsoid(canvas, centre, (radius, radius, 1.6 * radius), "bowel", hu["bowel"], fat)
        lumen = hu["air"] if rng.random() < 0.3 else hu["fluid"]
        _ellipsoid(canvas, centre, (radius - 3, radius - 3, 1.6 * radius - 3), "bowel", lumen, ("bowel",))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_voxels: tuple[float, ...]) -> np.ndarray:
    """A Gaussian random field with unit standard deviation (float32)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_voxels, truncate=2.5)
    return field / max(float(field.std()), 1e-6)


def _sigma_voxels(canvas: _Canvas, sigma_mm: float) -> tuple[float, float, float]:
    """A physical smoothing length in voxels along (z, y, x)."""
    return (sigma_mm / (canvas.z[1] - canvas.z[0]) if len(canvas.z) > 1 else 0.0,
            sigma_mm / (canvas.y[1] - canvas.y[0]), sigma_mm / (canvas.x[1] - canvas.x[0]))


def _paint_pancreas(canvas: _Canvas, anatomy: _Anatomy, rng: np.random.Generator) -> None:
    """Union of ellipsoids along the centreline with a lobulated outline and fatty clefts."""
    points, radii = anatomy.pancreas, anatomy.pancreas_radius
    reach = np.array([1.0, 1.0, 1.3]) * radii.max() * 1.3
    low, high = points.min(axis=0) - reach, points.max(axis=0) + reach
    region = canvas.box((low + high) / 2, (high - low) / 2)
    if region is None:
        return
    where, _ = region
    distance = np.full(canvas.hu[where].shape, np.inf, np.float32)
    for point, radius in zip(points, radii):
        sub = canvas.box(point, np.array([1.0, 1.0, 1.3]) * radius * 1.3)
        if sub is None:
            continue
        sub_where, (dz, dy, dx) = sub
        local = tuple(slice(s.start - w.start, s.stop - w.start) for s, w in zip(sub_where, where))
        d = (dx / radius) ** 2 + (dy / radius) ** 2 + (dz / (1.3 * radius)) ** 2
        distance[local] = np.minimum(distance[local], d)
    lobules = _smooth_noise(rng, distance.shape, _sigma_voxels(canvas, 3.0))
    canvas.paint(where, distance < 1 + 0.15 * lobules, "pancreas", TISSUE_HU["pancreas"] + 8 * lobules, ("fat",))


def _paint_liver_lesions(canvas: _Canvas, count: int, rng: np.random.Generator) -> None:
    """Hypodense metastases (4-12 mm radius) centred on random liver voxels."""
    liver = np.flatnonzero(canvas.label == _LABELS["liver"])
    if count == 0 or liver.size == 0:
        return
    for index in rng.choice(liver, size=count):
        k, j, i = np.unravel_index(index, canvas.label.shape)
        radius = rng.uniform(4, 12)
        _ellipsoid(canvas, (canvas.x[i], canvas.y[j], canvas.z[k]), (radius, radius, radius), "lesion",
                   TISSUE_HU["liver_lesion"] + rng.normal(0, 6), ("liver",))


def _paint_tumour(canvas: _Canvas, row: dict[str, Any], shape: _TumourShape, centre: np.ndarray,
                  rng: np.random.Generator) -> tuple[tuple[slice, ...], np.ndarray]:
    """Hypo-attenuating textured tumour with a necrotic core, then the fat stranding around it.

    Returns the box it was drawn in and the distance (mm) of each box voxel from the true
    boundary (negative inside), which reader 2's outline perturbs.
    """
    where, (dz, dy, dx) = canvas.box(centre, np.full(3, shape.reach_mm + 3.0))
    rho = np.sqrt(dx**2 + dy**2 + dz**2)
    boundary = shape.radius(dx, dy, dz, rho)
    level = rho - boundary
    texture = _smooth_noise(rng, rho.shape, _sigma_voxels(canvas, 2.5))
    viable = row["attenuation"] + row["heterogeneity"] * texture
    core = row["necrosis_fraction"] ** (1 / 3)
    necrotic = np.clip((core - rho / boundary) / 0.12 + 0.5, 0, 1) if core > 0 else 0.0
    tumour_hu = viable * (1 - necrotic) + (TISSUE_HU["necrosis"] + 4 * texture) * necrotic
    canvas.paint(where, level < 0, "tumour", tumour_hu, _TUMOUR_HOST)
    _paint_stranding(canvas, row["stranding"], shape.radius_mm, centre, rng)
    return where, level


def _paint_stranding(canvas: _Canvas, stranding: float, radius_mm: float, centre: np.ndarray,
                     rng: np.random.Generator) -> None:
    """Hazy fat with radiating streaks, fading with distance from the tumour (fat voxels only)."""
    reach = 6.0 + 16.0 * stranding
    region = canvas.box(centre, np.full(3, radius_mm * 1.3 + reach))
    if region is None:
        return
    where, (dz, dy, dx) = region
    distance = np.sqrt(dx**2 + dy**2 + dz**2) - radius_mm
    shell = (distance < reach) & (canvas.label[where] == _LABELS["fat"])
    streaks = np.cos(rng.integers(5, 10) * np.arctan2(dy, dx) + rng.uniform(0, 2 * np.pi) + 0.05 * dz)
    haze = stranding * np.clip(1 - distance / reach, 0, 1) * (40 + 100 * np.maximum(streaks, 0) ** 6)
    canvas.hu[where][shell] += haze[shell]


def _paint_vessel_contact(canvas: _Canvas, anatomy: _Anatomy, row: dict[str, Any], radius_mm: float,
                          centre: np.ndarray) -> None:
    """Tumour-like soft tissue wrapped round the SMA/SMV over the contact angle (outside the ROI)."""
    for vessel in ("sma", "smv"):
        degrees = row[f"{vessel}_contact_deg"]
        z_low = centre[2] - max(0.8 * radius_mm, 3.0)
        z_high = min(centre[2] + max(0.8 * radius_mm, 3.0), anatomy.vessel_top_z[vessel])
        if degrees <= 0 or z_high <= z_low:
            continue
        axis, outer = anatomy.vessel_xy[vessel], anatomy.vessel_radius[vessel] + CUFF_MM + 1.5
        region = canvas.box(np.r_[axis, (z_low + z_high) / 2], np.array([outer, outer, (z_high - z_low) / 2]))
        if region is None:
            continue
        where, (dz, dy, dx) = region
        towards = np.arctan2(centre[1] - axis[1], centre[0] - axis[0])
        off_axis = np.abs(np.angle(np.exp(1j * (np.arctan2(dy, dx) - towards))))
        ring = (dx**2 + dy**2 < outer**2) & (off_axis <= np.deg2rad(degrees) / 2)
        canvas.paint(where, np.broadcast_to(ring, canvas.hu[where].shape), "cuff", row["attenuation"],
                     ("fat", "pancreas", "bowel", "organ"))


def _paint_vessels(canvas: _Canvas, anatomy: _Anatomy) -> None:
    """Aorta, IVC, celiac trunk, SMA, SMV, portal and splenic veins (portal-venous enhancement)."""
    at, hu = anatomy.at, TISSUE_HU
    over = (*_SOFT_TISSUE, "tumour", "cuff", "air")
    (ax, ay), (ix, iy) = anatomy.vessel_xy["aorta"], anatomy.vessel_xy["ivc"]
    _ellipsoid(canvas, (ax, ay, 0), (anatomy.vessel_radius["aorta"],) * 2 + (_ENDLESS,), "vessel", hu["aorta"], over)
    _ellipsoid(canvas, (ix, iy, 0), (12, 9, _ENDLESS), "vessel", hu["ivc"], over)
    _tube(canvas, [at(8, 8, 36), at(8, -14, 40)], 3.5, "vessel", hu["sma"], over)
    (sx, sy), (vx, vy) = anatomy.vessel_xy["sma"], anatomy.vessel_xy["smv"]
    sma_top, smv_top = anatomy.vessel_top_z["sma"], anatomy.vessel_top_z["smv"]
    _tube(canvas, [(sx, sy, -_ENDLESS), (sx, sy, sma_top), at(8, 8, sma_top + 6)], anatomy.vessel_radius["sma"],
          "vessel", hu["sma"], over)
    _tube(canvas, [(vx, vy, -_ENDLESS), (vx, vy, smv_top), at(-35, -5, 40)], anatomy.vessel_radius["smv"],
          "vessel", hu["portal_vein"], over)
    _tube(canvas, [(vx, vy, smv_top), at(20, -8, 12), at(55, 2, 12), at(78, 22, 14)], 4.5, "vessel",
          hu["portal_vein"] - 10, over)


def _field_of_view(spec: CohortSpec, centre_index: int, tumour: np.ndarray,
                   reach_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin and spacing (x, y, z) of the scan, moved from the default centre just enough to hold the tumour."""
    pixel = spec.pixel_mm * spec.centre_pixel_scale[centre_index]
    spacing = np.array([pixel, pixel, spec.slice_mm])
    half = (np.array([spec.matrix, spec.matrix, spec.n_slices]) - 1) / 2 * spacing
    # in-plane, the tumour must fit in the reconstruction circle, not only in the square
    margin = reach_mm + np.array([2.0, 2.0, 0.0])
    room = np.array([half[0] / np.sqrt(2), half[1] / np.sqrt(2), half[2]])
    centre = np.clip(FOV_CENTRE, tumour + margin - room, tumour - margin + room)
    return centre - half, spacing


def _reconstruction_circle(matrix: int) -> np.ndarray:
    """In-plane mask of the scanner's reconstruction circle; voxels outside hold padding."""
    r = np.arange(matrix) - (matrix - 1) / 2
    return r[None, :] ** 2 + r[:, None] ** 2 <= (matrix / 2) ** 2


_SLICE_PROFILE_SIGMA = 0.3  # slices: partial volume of a 5 mm slice with its neighbours


def _scan(canvas: _Canvas, spec: CohortSpec, centre_index: int, rng: np.random.Generator) -> np.ndarray:
    """The centre's scanner: blur (sharpness and slice profile), HU offset, noise, padding; int16 HU."""
    blur = spec.centre_blur_mm[centre_index] / (canvas.x[1] - canvas.x[0])
    hu = ndimage.gaussian_filter(canvas.hu, (_SLICE_PROFILE_SIGMA, blur, blur))
    hu += spec.centre_hu_offset[centre_index]
    hu += spec.centre_noise_sd_hu[centre_index] * rng.standard_normal(hu.shape, dtype=np.float32)
    hu[:, ~_reconstruction_circle(spec.matrix)] = TISSUE_HU["padding"]
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def _reader2_mask(canvas: _Canvas, where: tuple[slice, ...], level: np.ndarray, boundary_mm: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Reader 2's outline: reader 1's boundary moved by a smooth random shift (mm) plus a bias."""
    shift = boundary_mm * (_smooth_noise(rng, level.shape, _sigma_voxels(canvas, 4.0)) + rng.normal(0, 0.5))
    outline = (level < shift) & _label_lookup((*_SOFT_TISSUE, "tumour", "cuff"))[canvas.label[where]]
    mask = np.zeros(canvas.label.shape, bool)
    mask[where] = outline
    return mask


@dataclass(frozen=True)
class _Volumes:
    """One synthetic patient: CT (int16 HU), reader masks and the grid they share."""

    ct: np.ndarray
    reader1: np.ndarray
    reader2: np.ndarray | None
    origin: np.ndarray
    spacing: np.ndarray


def _synthesise(spec: CohortSpec, row: dict[str, Any], seeds: list[np.random.SeedSequence]) -> _Volumes:
    """Draw one patient's CT and masks from its latent row (seeds: image stream, reader-2 stream)."""
    rng = np.random.default_rng(seeds[0])
    centre_index = 0 if row["centre"] == "C1" else 1
    anatomy = _draw_anatomy(rng)
    shape = _TumourShape.draw(row["diameter_mm"], row["margin_irregularity"], rng)
    centre = _place_tumour(anatomy, row, shape, rng)
    origin, spacing = _field_of_view(spec, centre_index, centre, shape.reach_mm)
    canvas = _Canvas.blank(origin, spacing, (spec.matrix, spec.matrix, spec.n_slices))
    _paint_body(canvas, anatomy)
    _paint_spine_and_muscles(canvas, anatomy)
    _paint_organs(canvas, anatomy, rng)
    _paint_liver_lesions(canvas, int(row["liver_lesions"]), rng)
    where, level = _paint_tumour(canvas, row, shape, centre, rng)
    _paint_vessel_contact(canvas, anatomy, row, shape.radius_mm, centre)
    _paint_vessels(canvas, anatomy)
    circle = _reconstruction_circle(spec.matrix)
    reader1 = (canvas.label == _LABELS["tumour"]) & circle
    reader2 = None
    if row["has_reader2"]:
        reader_rng = np.random.default_rng(seeds[1])
        reader2 = _reader2_mask(canvas, where, level, spec.reader2_boundary_mm, reader_rng) & circle
    return _Volumes(_scan(canvas, spec, centre_index, rng), reader1, reader2, origin, spacing)


# --------------------------------------------------------------------------- files


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks."""
    return 2.0 * np.logical_and(a, b).sum() / max(int(a.sum() + b.sum()), 1)


def _write_nifti(array: np.ndarray, volumes: _Volumes, path: Path) -> None:
    """Compressed NIfTI with the scan's geometry, written under a temporary name then renamed."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in volumes.spacing))
    image.SetOrigin(tuple(float(o) for o in volumes.origin))
    with atomic_path(path, suffix=".partial.nii.gz") as partial:
        sitk.WriteImage(image, str(partial), useCompression=True)


def _write_patient(out_dir: Path, spec: CohortSpec, row: dict[str, Any],
                   seeds: list[np.random.SeedSequence]) -> dict[str, Any]:
    """Synthesise and write one patient's files; return what the images measured."""
    volumes = _synthesise(spec, row, seeds)
    pid = row["patient_id"]
    _write_nifti(volumes.ct, volumes, out_dir / "images" / f"{pid}_ct.nii.gz")
    _write_nifti(volumes.reader1.astype(np.uint8), volumes, out_dir / "masks" / f"{pid}_reader1.nii.gz")
    agreement = np.nan
    if volumes.reader2 is not None:
        _write_nifti(volumes.reader2.astype(np.uint8), volumes, out_dir / "masks" / f"{pid}_reader2.nii.gz")
        agreement = _dice(volumes.reader1, volumes.reader2)
    voxel_ml = float(np.prod(volumes.spacing)) / 1000
    return {"patient_id": pid, "tumour_volume_ml": float(volumes.reader1.sum()) * voxel_ml, "reader_dice": agreement}


MANIFEST_COLUMNS = ("patient_id", "image", "mask", "mask_reader2", "age", "gender", "T", "N", "M",
                    "time_months", "event", "centre", "diagnosis_date")
TRUTH_COLUMNS = ("patient_id", "centre", "location", "has_reader2", "lp_clinical", "lp_roi", "lp_context",
                 "lp_total", "frailty", "true_event_time_months", "censor_time_months", "diameter_mm",
                 "attenuation", "heterogeneity", "necrosis_fraction", "margin_irregularity", "sma_contact_deg",
                 "smv_contact_deg", "vessel_encasement_deg", "stranding", "liver_lesions", "tumour_volume_ml",
                 "reader_dice")


def generate_cohort(out_dir: Path, spec: CohortSpec, n_jobs: int = -1, progress: bool = True) -> Path:
    """Write the cohort to out_dir and return the manifest path.

    Skips generation when out_dir/spec.json matches the spec (regenerated only when
    parameters change); writes atomically (temp name then rename) so an interrupted run
    never leaves a half-written file that is taken as complete. ``spec.json`` is written
    last, so its presence marks a complete cohort.
    """
    out_dir = Path(out_dir)
    manifest_path, spec_path = out_dir / "manifest.csv", out_dir / "spec.json"
    if _is_complete(out_dir, spec):
        return manifest_path
    spec_path.unlink(missing_ok=True)
    _remove_volumes(out_dir)
    for folder in ("images", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    table = simulate_clinical(spec)
    _, seeds = _streams(spec)
    jobs = (delayed(_write_patient)(out_dir, spec, row, seed.spawn(2))
            for row, seed in zip(table.to_dict("records"), seeds))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    measured = pd.DataFrame(list(tqdm(results, total=len(table), disable=not progress, unit="patient",
                                      desc="in-silico CT")))
    table = table.merge(measured, on="patient_id", validate="one_to_one")
    _write_atomically(manifest_path, lambda p: _manifest(table).to_csv(p, index=False))
    _write_atomically(out_dir / "truth.parquet", lambda p: table[list(TRUTH_COLUMNS)].to_parquet(p, index=False))
    _write_atomically(spec_path, lambda p: p.write_text(json.dumps(spec.to_dict(), indent=2, sort_keys=True)))
    return manifest_path


def _is_complete(out_dir: Path, spec: CohortSpec) -> bool:
    """True when out_dir holds a finished cohort generated from exactly this spec."""
    try:
        written = json.loads((out_dir / "spec.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return written == spec.to_dict() and (out_dir / "manifest.csv").exists() and (out_dir / "truth.parquet").exists()


def _remove_volumes(out_dir: Path) -> None:
    """Delete volumes of an earlier (other-spec or interrupted) generation, and nothing else."""
    for pattern in ("images/SYN-*_ct.nii.gz", "masks/SYN-*_reader[12].nii.gz", "*/.SYN-*.partial.nii.gz"):
        for path in out_dir.glob(pattern):
            path.unlink()


def _write_atomically(path: Path, write: Any) -> None:
    """Call ``write(temporary_path)`` and rename the result onto ``path``."""
    with atomic_path(path) as partial:
        write(partial)


def _manifest(table: pd.DataFrame) -> pd.DataFrame:
    """The real-cohort manifest format, paths relative to the manifest's folder."""
    ids = table["patient_id"]
    return pd.DataFrame({
        "patient_id": ids,
        "image": "images/" + ids + "_ct.nii.gz",
        "mask": "masks/" + ids + "_reader1.nii.gz",
        "mask_reader2": np.where(table["has_reader2"], "masks/" + ids + "_reader2.nii.gz", ""),
        **{column: table[column] for column in MANIFEST_COLUMNS[4:]},
    })[list(MANIFEST_COLUMNS)]
