"""The clinical table and survival of the in-silico cohort, drawn from the documented latent model.

Every patient is an independent draw from one population: categories are cut at thresholds of
that population (learned once per spec from a large reference draw, not from the cohort being
drawn), and the Weibull scale is an absolute constant, so a 500-patient external cohort and the
880-patient run come from the same distribution. The true linear predictor has clinical, ROI,
context and frailty parts (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special

from helpers.synthetic.spec import (
    ARTERIAL_INVOLVEMENT_DEG,
    DAYS_PER_MONTH,
    DIAMETER_LOG_SD,
    DIAMETER_MEDIAN_MM,
    DIAMETER_RANGE_MM,
    REFERENCE_AGE,
    REFERENCE_ATTENUATION_HU,
    REFERENCE_DIAMETER_MM,
    REFERENCE_HETEROGENEITY_HU,
    T1_MAX_DIAMETER_MM,
    T2_MAX_DIAMETER_MM,
    CohortSpec,
    random_streams,
)


def simulate_clinical(spec: CohortSpec) -> pd.DataFrame:
    """Draw the cohort's latent, clinical and survival table (no images).

    ``generate_cohort`` draws its images from this same table, so its marginals and oracle
    can be checked in milliseconds without writing a single volume. Columns: patient_id, centre,
    has_reader2, gender, age, sma_contact_deg, diameter_mm, T, N, M, location, attenuation, heterogeneity,
    necrosis_fraction, margin_irregularity, smv_contact_deg, vessel_encasement_deg, stranding, liver_lesions,
    lp_clinical, lp_roi, lp_context, lp_total, frailty, diagnosis_date, true_event_time_months,
    censor_time_months, event, time_months.
    """
    rng = np.random.default_rng(random_streams(spec)[0])
    n = spec.n_patients
    table = pd.DataFrame({"patient_id": [f"SYN-{i + 1:04d}" for i in range(n)]})
    table["centre"] = np.where(rng.random(n) < spec.centre_fractions[0] / sum(spec.centre_fractions), "C1", "C2")
    table["has_reader2"] = np.isin(np.arange(n), rng.choice(n, size=min(spec.n_reader2, n), replace=False))
    table["gender"] = np.where(rng.random(n) < spec.male_fraction, "male", "female")
    table["age"] = np.clip(np.round(rng.normal(spec.age_mean, spec.age_sd, n)), 35, 90).astype(int)
    aggressiveness = rng.standard_normal(n)
    _draw_tumour_stage(table, aggressiveness, spec, rng, population_cuts(spec))
    _draw_tumour_appearance(table, aggressiveness, spec, rng)
    _draw_context(table, rng)
    _add_linear_predictors(table, spec)
    _draw_survival(table, spec, rng)
    return table


REFERENCE_DRAWS = 200_000
REFERENCE_SEED = 20250612


@dataclass
class Cuts:
    """Category thresholds of the population's latent scores, by name (T4, size class, N, M).

    While ``learning``, a call records the quantiles of ``fractions`` in the scores it is given
    (the reference draw); afterwards it only applies them, so a cohort's categories never depend on
    the other patients drawn with it.
    """

    thresholds: dict[str, np.ndarray] = field(default_factory=dict)
    learning: bool = True

    def __call__(self, name: str, score: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
        """Category index per patient: scores below the population's ``fractions[0]`` quantile get 0, and so on."""
        if self.learning:
            shares = np.cumsum(np.asarray(fractions, float) / np.sum(fractions))[:-1]
            self.thresholds[name] = np.quantile(score, shares)
        return np.searchsorted(self.thresholds[name], score, side="right")


def population_cuts(spec: CohortSpec) -> Cuts:
    """The thresholds that give the spec's T, N and M shares in the population (200,000 reference draws)."""
    return _cuts_for(spec.t_stage_fractions, spec.n_stage_fractions, spec.m1_fraction)


@lru_cache(maxsize=8)
def _cuts_for(
    t_fractions: tuple[float, float, float, float], n_fractions: tuple[float, float, float], m1_fraction: float
) -> Cuts:
    """Learn the cuts on a fixed reference draw (cached: the same shares always give the same cuts)."""
    reference = replace(
        CohortSpec(), t_stage_fractions=t_fractions, n_stage_fractions=n_fractions, m1_fraction=m1_fraction
    )
    rng = np.random.default_rng(REFERENCE_SEED)
    cuts = Cuts()
    table = pd.DataFrame(index=range(REFERENCE_DRAWS))
    _draw_tumour_stage(table, rng.standard_normal(REFERENCE_DRAWS), reference, rng, cuts)
    cuts.learning = False
    return cuts


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


def _draw_tumour_stage(
    table: pd.DataFrame, aggressiveness: np.ndarray, spec: CohortSpec, rng: np.random.Generator, cuts: Cuts
) -> None:
    """Arterial contact, diameter, T (AJCC rule), N and M, all driven by aggressiveness."""
    n = len(table)
    t4_share = spec.t_stage_fractions[3]
    arterial = cuts("arterial", _correlated(rng, aggressiveness, 0.5), (1 - t4_share, t4_share)) == 1
    sma = np.where(
        arterial,
        ARTERIAL_INVOLVEMENT_DEG + 1 + 179 * rng.beta(1.5, 1.5, n),
        np.where(rng.random(n) < 0.6, 0.0, 175 * rng.beta(1.2, 2.0, n)),
    )
    size_class = np.full(n, 3)  # T4 tumours: size class 3 = "any size"
    non_t4 = ~arterial
    size_class[non_t4] = cuts("size", _correlated(rng, aggressiveness, 0.6)[non_t4], spec.t_stage_fractions[:3])
    low_mm, high_mm = DIAMETER_RANGE_MM
    bounds = np.array(
        [
            [low_mm, T1_MAX_DIAMETER_MM],
            [T1_MAX_DIAMETER_MM, T2_MAX_DIAMETER_MM],
            [T2_MAX_DIAMETER_MM, high_mm],
            [12.0, high_mm],
        ]
    )
    diameter = _truncated_lognormal(rng, bounds[size_class, 0], bounds[size_class, 1])
    t_stage = ajcc_t_stage(diameter, sma)
    log_size = (np.log(diameter) - np.log(DIAMETER_MEDIAN_MM)) / DIAMETER_LOG_SD  # population constants
    n_score = 0.45 * aggressiveness + 0.3 * log_size + 0.75 * rng.standard_normal(n)
    n_stage = cuts("N", n_score, spec.n_stage_fractions)
    m_score = 0.35 * aggressiveness + 0.3 * (t_stage - 2.5) + 0.2 * n_stage + 0.8 * rng.standard_normal(n)
    m1 = cuts("M", m_score, (1 - spec.m1_fraction, spec.m1_fraction))
    table["sma_contact_deg"] = sma
    table["diameter_mm"] = diameter
    table["T"] = [f"T{t}" for t in t_stage]
    table["N"] = [f"N{k}" for k in n_stage]
    table["M"] = [f"M{k}" for k in m1]


def _draw_tumour_appearance(
    table: pd.DataFrame, aggressiveness: np.ndarray, spec: CohortSpec, rng: np.random.Generator
) -> None:
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
    table["lp_clinical"] = (
        np.asarray(spec.log_hr_t_stage)[t_index]
        + np.asarray(spec.log_hr_n_stage)[n_index]
        + spec.log_hr_m1 * (table["M"] == "M1")
        + spec.log_hr_age_per_decade * (table["age"] - REFERENCE_AGE) / 10
    )
    table["lp_roi"] = (
        spec.log_hr_size_per_doubling * np.log2(table["diameter_mm"] / REFERENCE_DIAMETER_MM)
        + spec.log_hr_hypoattenuation_per_10hu * (REFERENCE_ATTENUATION_HU - table["attenuation"]) / 10
        + spec.log_hr_heterogeneity_per_10hu * (table["heterogeneity"] - REFERENCE_HETEROGENEITY_HU) / 10
        + spec.log_hr_necrosis_per_10pct * table["necrosis_fraction"] * 10
        + spec.log_hr_margin_irregularity * table["margin_irregularity"]
    )
    table["lp_context"] = (
        spec.log_hr_sma_contact_per_90deg * table["sma_contact_deg"] / 90
        + spec.log_hr_smv_contact_per_90deg * table["smv_contact_deg"] / 90
        + spec.log_hr_stranding * table["stranding"]
        + spec.log_hr_liver_lesion_doubling * np.log2(1 + table["liver_lesions"])
    )
    table["lp_total"] = table["lp_clinical"] + table["lp_roi"] + table["lp_context"]


def _draw_survival(table: pd.DataFrame, spec: CohortSpec, rng: np.random.Generator) -> None:
    """Weibull PH event times with frailty; administrative and random censoring.

    S(t | x) = exp(-(t / scale)^shape * exp(lp + frailty)) with the absolute ``baseline_scale_months``
    of the reference patient, so every cohort drawn from a spec shares one survival distribution.
    """
    n = len(table)
    table["frailty"] = rng.normal(0.0, spec.frailty_sd, n)
    hazard = np.exp(table["lp_total"] + table["frailty"]).to_numpy()
    event_time = spec.baseline_scale_months * (rng.exponential(size=n) / hazard) ** (1 / spec.weibull_shape)
    start, end, censor = (date.fromisoformat(d) for d in (spec.diagnosis_start, spec.diagnosis_end, spec.censor_date))
    window = 1 - (1 - rng.random(n)) ** (1 / spec.accrual_decay)  # Beta(1, decay): 1 = uniform accrual
    diagnosed = np.datetime64(start) + np.floor(window * ((end - start).days + 1)).astype("timedelta64[D]")
    administrative = (np.datetime64(censor) - diagnosed).astype(float) / DAYS_PER_MONTH
    lost = rng.exponential(12 / spec.loss_to_follow_up_per_year, n)
    censor_time = np.minimum(administrative, lost)
    table["diagnosis_date"] = pd.to_datetime(diagnosed).strftime("%Y-%m-%d")
    table["true_event_time_months"] = event_time
    table["censor_time_months"] = censor_time
    table["event"] = (event_time <= censor_time).astype(int)
    table["time_months"] = np.maximum(np.round(np.minimum(event_time, censor_time), 2), 0.01)
