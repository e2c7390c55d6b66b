"""Intraclass correlation (Shrout & Fleiss 1979) for inter-reader agreement of radiomic features.

Why our own implementation rather than wrapping ``pingouin.intraclass_corr``: the study needs
one ICC per feature for ~1,037 features, and pingouin works on one long-format feature at a
time through a full ANOVA table (~25 ms each, ~25 s per table here); it also rounds its CIs
to 2 decimals by default (it is only a test dependency here), and on a constant
feature emits a storm of RuntimeWarnings and degenerate values (ICC1 = -1, ICC1k = -inf),
and gives NaN CIs under perfect agreement, where we return the limit [1, 1].
So a single vectorised core computes the two-way ANOVA mean squares for all features at
once; the scalar function is that same core on one feature, so scalar and table cannot
drift apart. The formulas (ICCs, F tests, CIs including the Satterthwaite-type CI for the
absolute-agreement forms, McGraw & Wong 1996) are those of R ``psych::ICC`` / pingouin 0.7,
and tests/test_icc.py cross-checks the results against pingouin and against the published
Shrout & Fleiss Table 2 example.

Forms: ICC1 = one-way random, single rater; ICC2 = two-way random, absolute agreement,
single rater; ICC3 = two-way mixed, consistency, single rater; ICC1k/ICC2k/ICC3k = the same
for the mean of the k raters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import f as f_dist

from helpers.vocabulary import IccForm

ICC_FORMS: tuple[str, ...] = get_args(IccForm)
ALPHA = 0.05  # two-sided level of the reported confidence intervals (95 %)
# Koo & Li (2016) reliability bands: lower edges, each edge belonging to the upper band.
BAND_EDGES = (0.5, 0.75, 0.9)
BAND_LABELS = ("poor", "moderate", "good", "excellent")
UNDEFINED_BAND = "undefined"


@dataclass(frozen=True)
class ICCResult:
    """One ICC estimate with its 95 % CI and the F test of ICC = 0."""

    form: str
    value: float
    ci95: tuple[float, float]
    f_statistic: float
    df1: float
    df2: float
    p_value: float


@dataclass(frozen=True)
class _ICCArrays:
    """ICC statistics for m features at once (each field an array of length m)."""

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    f_statistic: np.ndarray
    df1: float
    df2: float
    p_value: np.ndarray


def _check_form(form: str) -> None:
    """Reject an unknown form, listing the valid ones."""
    if form not in ICC_FORMS:
        raise ValueError(f"unknown ICC form {form!r}; valid forms are {', '.join(ICC_FORMS)}")


def _f_bound(f_scaled: np.ndarray, k: float) -> np.ndarray:
    """Single-rater CI bound (F' - 1)/(F' + k - 1) from a scaled F; its limit 1 at F' = inf (perfect agreement)."""
    return np.where(np.isinf(f_scaled), 1.0, (f_scaled - 1.0) / (f_scaled + k - 1.0))


def _icc_arrays(x: np.ndarray, form: str) -> _ICCArrays:
    """ICC of ``form`` for a complete (m features, n targets, k raters) array, from ANOVA mean squares."""
    _, n, k = x.shape
    grand = x.mean(axis=(1, 2), keepdims=True)
    row = x.mean(axis=2, keepdims=True)  # target means
    col = x.mean(axis=1, keepdims=True)  # rater means
    msr = k * ((row - grand) ** 2).sum(axis=(1, 2)) / (n - 1)
    msc = n * ((col - grand) ** 2).sum(axis=(1, 2)) / (k - 1)
    mse = ((x - row - col + grand) ** 2).sum(axis=(1, 2)) / ((n - 1) * (k - 1))
    msw = ((x - row) ** 2).sum(axis=(1, 2)) / (n * (k - 1))
    one_way = form.startswith("ICC1")
    df1, df2 = float(n - 1), float(n * (k - 1) if one_way else (n - 1) * (k - 1))
    ms_err = msw if one_way else mse  # error term of the F test of ICC = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f_obs = msr / ms_err
        p_value = f_dist.sf(f_obs, df1, df2)
        if form in ("ICC2", "ICC2k"):
            value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
            # Satterthwaite df and CI of McGraw & Wong (1996), case 2A, as in psych::ICC; psych's
            # Fj = MSC/MSE is multiplied through by MSE so that MSE = 0 (readers equal up to an
            # offset) stays finite, and perfect agreement (MSE = MSC = 0) takes its limit df2.
            base = (n * (1 + (k - 1) * value) - k * value) * mse
            v_den = df1 * k**2 * value**2 * msc**2 + base**2
            v = np.where(v_den == 0, df2, df2 * (k * value * msc + base) ** 2 / v_den)
            f_up, f_low = f_dist.ppf(1 - ALPHA / 2, df1, v), f_dist.ppf(1 - ALPHA / 2, v, df1)
            lo = n * (msr - f_up * mse) / (f_up * (k * msc + (k * n - k - n) * mse) + n * msr)
            hi = n * (f_low * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_low * msr)
            if form == "ICC2k":  # Spearman-Brown step-up of the single-rater values
                value, lo, hi = (k * r / (1 + (k - 1) * r) for r in (value, lo, hi))
        else:  # ICC1/ICC3 and their k forms: exact F-based CI of Shrout & Fleiss (1979)
            f_lo = f_obs / f_dist.ppf(1 - ALPHA / 2, df1, df2)
            f_hi = f_obs * f_dist.ppf(1 - ALPHA / 2, df2, df1)
            if form.endswith("k"):
                value, lo, hi = (msr - ms_err) / msr, 1.0 - 1.0 / f_lo, 1.0 - 1.0 / f_hi
            else:
                value = (msr - ms_err) / (msr + (k - 1) * ms_err)
                lo, hi = _f_bound(f_lo, k), _f_bound(f_hi, k)
    # Every rater constant across targets: no between-target variance, the ICC is undefined
    # (the raw formulas would give 0/0, or -1 and -inf for ICC1/ICC1k when raters differ).
    undefined = (np.ptp(x, axis=1) == 0).all(axis=1)
    stats = [np.where(undefined, np.nan, a) for a in (value, lo, hi, f_obs, p_value)]
    return _ICCArrays(stats[0], stats[1], stats[2], stats[3], df1, df2, stats[4])


def _complete_ratings(ratings: pd.DataFrame, what: str) -> np.ndarray:
    """Ratings as float, raising on NaN/inf rows (naming them) instead of silently dropping them."""
    values = ratings.to_numpy(dtype=float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        rows = ratings.index[bad].tolist()
        raise ValueError(
            f"missing or non-finite ratings in {what} row(s) {rows[:20]}"
            f"{' ...' if len(rows) > 20 else ''}; drop or impute them explicitly"
        )
    return values


def intraclass_correlation(ratings: ArrayLike, form: str = "ICC2") -> ICCResult:
    """(n targets x k raters) array -> Shrout & Fleiss (1979) ICC of the given form with 95% CI and F test."""
    _check_form(form)
    frame = pd.DataFrame(ratings)  # keeps a DataFrame's row labels for the NaN message
    if frame.ndim != 2 or frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"ratings must be (n targets >= 2) x (k raters >= 2); got shape {frame.shape}")
    res = _icc_arrays(_complete_ratings(frame, "ratings")[None, :, :], form)
    return ICCResult(
        form=form,
        value=float(res.value[0]),
        ci95=(float(res.ci_low[0]), float(res.ci_high[0])),
        f_statistic=float(res.f_statistic[0]),
        df1=res.df1,
        df2=res.df2,
        p_value=float(res.p_value[0]),
    )


def icc_band(icc: ArrayLike) -> np.ndarray:
    """Koo & Li (2016) band per ICC (poor/moderate/good/excellent; NaN -> "undefined")."""
    values = np.asarray(icc, dtype=float)
    bands = np.asarray(BAND_LABELS, dtype=object)[np.searchsorted(BAND_EDGES, values, side="right")]
    return np.where(np.isnan(values), UNDEFINED_BAND, bands)


def icc_per_feature(reader1: pd.DataFrame, reader2: pd.DataFrame, form: str = "ICC2") -> pd.DataFrame:
    """Rows = patients (same index in both), columns = features -> one ICC row per feature with CI and Koo & Li band.

    Columns: feature, icc, ci_low, ci_high, band; rows in ``reader1``'s column order.
    """
    _check_form(form)
    for name, frame in (("reader1", reader1), ("reader2", reader2)):
        if not frame.index.is_unique or not frame.columns.is_unique:
            raise ValueError(f"{name} must have a unique patient index and unique feature columns")
    differences = {
        "patients only in reader1": reader1.index.difference(reader2.index),
        "patients only in reader2": reader2.index.difference(reader1.index),
        "features only in reader1": reader1.columns.difference(reader2.columns),
        "features only in reader2": reader2.columns.difference(reader1.columns),
    }
    if any(len(labels) for labels in differences.values()):
        raise ValueError(
            "readers differ: "
            + "; ".join(f"{what} {labels.tolist()[:20]}" for what, labels in differences.items() if len(labels))
        )
    if len(reader1.index) < 2:
        raise ValueError(f"need at least 2 patients; got {len(reader1.index)}")
    reader2 = reader2.loc[reader1.index, reader1.columns]
    a = _complete_ratings(reader1, "reader1")
    b = _complete_ratings(reader2, "reader2")
    res = _icc_arrays(np.stack([a.T, b.T], axis=2), form)  # (features, patients, 2 readers)
    return pd.DataFrame(
        {
            "feature": reader1.columns,
            "icc": res.value,
            "ci_low": res.ci_low,
            "ci_high": res.ci_high,
            "band": icc_band(res.value),
        }
    )


def band_shares(table: pd.DataFrame) -> pd.DataFrame:
    """Features per Koo & Li band (excellent first) and their share of all features, in %.

    Columns: band (every band, then "undefined"), features, share_pct.
    """
    order = [*BAND_LABELS[::-1], UNDEFINED_BAND]
    counts = table["band"].value_counts().reindex(order, fill_value=0)
    return pd.DataFrame(
        {"band": order, "features": counts.to_numpy(), "share_pct": 100.0 * counts.to_numpy() / max(len(table), 1)}
    )


def stable_features(table: pd.DataFrame, threshold: float) -> list[str]:
    """Features kept for modelling: all when ``threshold`` is 0, else those with ICC >= it."""
    if threshold <= 0:
        return table["feature"].tolist()
    return table.loc[table["icc"] >= threshold, "feature"].tolist()
