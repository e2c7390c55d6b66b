"""Risk stratification: an optimal cut-off on a risk score, low/high groups, Kaplan-Meier and log-rank.

The paper picks its cut-off (0.8) on the best fusion model's risk with X-tile, which scans
every cut-point for the largest log-rank chi-square. Choosing the best of many cuts makes the
naive log-rank p-value of the chosen cut far too small, so the cut-off here is the maximally
selected log-rank statistic of R ``maxstat::maxstat.test(Surv(time, event) ~ score,
smethod = "LogRank", pmethod = "Lau92" | "Lau94", minprop, maxprop)`` (Hothorn & Lausen 2003),
reproduced exactly, whose p-value accounts for the search:

* scores: the log-rank scores of R ``exactRankTests::cscores.Surv`` (maxstat's scoring),
  a_i = event_i - sum over j with t_j <= t_i of event_j / (N - r_j + 1), where r_j is the
  largest rank among the times tied with t_j (this tie rule differs slightly from the
  Nelson-Aalen scores, and is what reproduces maxstat's published numbers);
* candidate cuts: each distinct score value x whose low group {score <= x} holds m patients
  with max(1, floor(N min_prop)) <= m <= floor(N max_prop);
* statistic per cut: |S_m - E_m| / sqrt(V_m), S_m the sum of the scores of the low group and
  E_m, V_m its exact mean and variance under permutation of the scores;
* cut-off: the first cut with the largest statistic (the largest score of the low group);
* p-value: Lausen & Schumacher (1992) ``pLausen92`` or Lausen, Sauerbrei & Schumacher (1994)
  ``pLausen94``, both as coded in maxstat 0.7-26.

tests/test_stratify.py checks all this against maxstat's own printed examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata

from helpers.vocabulary import PMethod

GROUP_ORDER = ("low", "high")


@dataclass(frozen=True)
class Cutpoint:
    """Maximally selected log-rank cut-off: the cut, its statistic, the search-adjusted p-value and every candidate."""

    cutpoint: float
    statistic: float
    p_value: float
    p_method: str
    table: pd.DataFrame


@dataclass(frozen=True)
class LogRank:
    """Log-rank test of equal survival across groups (R ``survival::survdiff``)."""

    statistic: float
    df: int
    p_value: float


def logrank_scores(time: ArrayLike, event: ArrayLike) -> np.ndarray:
    """Log-rank scores as maxstat computes them (``exactRankTests::cscores.Surv``), one per patient."""
    t, e = np.asarray(time, dtype=float), np.asarray(event, dtype=float)
    order = np.argsort(t, kind="stable")
    rank_max = rankdata(t, method="max").astype(int)  # patients with time <= t_i
    hazard = np.cumsum((e / (len(t) - rank_max + 1))[order])
    return e - hazard[rank_max - 1]


def p_lausen92(b: float, min_prop: float = 0.1, max_prop: float = 0.9) -> float:
    """P(max |Z| >= b) by Lausen & Schumacher (1992), as maxstat's ``pLausen92`` (1 for b < 1)."""
    if b < 1:
        return 1.0
    density = norm.pdf(b)
    ratio = max_prop * (1 - min_prop) / ((1 - max_prop) * min_prop)
    return max(4 * density / b + density * (b - 1 / b) * np.log(ratio), 0.0)


def p_lausen94(b: float, n: int, cut_sizes: ArrayLike) -> float:
    """P(max |Z| >= b), improved Bonferroni bound of Lausen, Sauerbrei & Schumacher (1994), maxstat's ``pLausen94``.

    ``cut_sizes``: the low-group sizes m of the candidate cuts, in increasing order.
    """
    m = np.asarray(cut_sizes, dtype=float)
    m1, m2 = m[:-1], m[1:]
    t = np.sqrt(1 - m1 * (n - m2) / ((n - m1) * m2))
    bonferroni = np.sum(np.exp(-(b**2) / 2) / np.pi * (t - (b**2 / 4 - 1) * t**3 / 6))
    return float(1 - (norm.cdf(b) - norm.cdf(-b)) + bonferroni)


def _survival_arrays(time: ArrayLike, event: ArrayLike, other: ArrayLike, name: str) -> tuple[np.ndarray, ...]:
    """(time, event, other) as arrays of one length (time and event float), refusing missing values."""
    arrays = (np.asarray(time, dtype=float), np.asarray(event, dtype=float), np.asarray(other))
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"time, event and {name} differ in length: {[len(a) for a in arrays]}")
    missing = np.isnan(arrays[0]) | np.isnan(arrays[1]) | pd.isna(arrays[2])
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} patient(s) with missing time, event or {name} "
            f"(positions {np.flatnonzero(missing)[:20].tolist()}); drop them explicitly"
        )
    return arrays


def optimal_cutpoint(
    time: ArrayLike,
    event: ArrayLike,
    score: ArrayLike,
    min_prop: float = 0.1,
    max_prop: float = 0.9,
    p_method: PMethod = "Lau92",
) -> Cutpoint:
    """Maximally selected log-rank cut-off of ``score`` (R maxstat, LogRank scores); high risk = score > cutpoint."""
    if not 0 < min_prop < max_prop < 1:
        raise ValueError(f"need 0 < min_prop < max_prop < 1; got {min_prop}, {max_prop}")
    if p_method not in ("Lau92", "Lau94"):
        raise ValueError(f"p_method must be 'Lau92' or 'Lau94', not {p_method!r}")
    t, e, x = _survival_arrays(time, event, score, "score")
    x = x.astype(float)
    n = len(x)
    order = np.argsort(x, kind="stable")
    y, x_sorted = logrank_scores(t, e)[order], x[order]
    first = np.flatnonzero(np.r_[True, x_sorted[1:] != x_sorted[:-1]])  # patients below each distinct value
    m = first[(first >= max(1, np.floor(n * min_prop))) & (first <= np.floor(n * max_prop))]
    if len(m) == 0:
        raise ValueError(
            f"no cut-point leaves between {min_prop:.0%} and {max_prop:.0%} of {n} patients in the low group"
        )
    total = y.sum()
    expected = m / n * total
    variance = m * (n - m) / (n**2 * (n - 1)) * (n * np.sum(y**2) - total**2)
    stats = np.abs(np.cumsum(y)[m - 1] - expected) / np.sqrt(variance)
    best = int(np.argmax(stats))  # the first of equal maxima, as maxstat
    statistic = float(stats[best])
    p_value = p_lausen92(statistic, min_prop, max_prop) if p_method == "Lau92" else p_lausen94(statistic, n, m)
    table = pd.DataFrame({"cutpoint": x_sorted[m - 1], "n_low": m, "n_high": n - m, "statistic": stats})
    return Cutpoint(
        cutpoint=float(x_sorted[m[best] - 1]),
        statistic=statistic,
        p_value=float(p_value),
        p_method=p_method,
        table=table,
    )


def assign_groups(score: pd.Series, cutpoint: float) -> pd.Series:
    """ "high" where score > cutpoint, "low" otherwise (maxstat: the cut-point belongs to the low group)."""
    if score.isna().any():
        raise ValueError(f"missing scores for {score.index[score.isna()].tolist()[:20]}")
    return pd.Series(np.where(score > cutpoint, "high", "low"), index=score.index, name="risk_group")


def logrank(time: ArrayLike, event: ArrayLike, group: ArrayLike) -> LogRank:
    """Log-rank chi-square across the groups, with k - 1 degrees of freedom (same statistic as ``survdiff``)."""
    t, e, labels = _survival_arrays(time, event, group, "group")
    result = multivariate_logrank_test(t, labels, e)
    return LogRank(
        statistic=float(result.test_statistic), df=int(result.degrees_of_freedom), p_value=float(result.p_value)
    )


def km_by_group(time: ArrayLike, event: ArrayLike, group: ArrayLike) -> dict[str, KaplanMeierFitter]:
    """A fitted Kaplan-Meier curve with 95% CI per group ("low" before "high", other labels sorted)."""
    t, e, labels = _survival_arrays(time, event, group, "group")
    labels = labels.astype(str)
    present = set(labels)
    order = [g for g in GROUP_ORDER if g in present] + sorted(present - set(GROUP_ORDER))
    return {g: KaplanMeierFitter(label=g).fit(t[labels == g], e[labels == g]) for g in order}


def group_tests(patients: pd.DataFrame) -> pd.DataFrame:
    """Per split: group sizes, median survival per group and the log-rank test (``risk_group`` column).

    Columns: split, n_low, n_high, median_months_low, median_months_high, chi_square, p_value.
    """
    rows = []
    for split in ("train", "test"):
        part = patients[patients["split"] == split]
        test = logrank(part["time_months"], part["event"], part["risk_group"])
        curves = km_by_group(part["time_months"], part["event"], part["risk_group"])
        rows.append(
            {
                "split": split,
                **{f"n_{g}": int((part["risk_group"] == g).sum()) for g in GROUP_ORDER},
                **{f"median_months_{g}": float(curves[g].median_survival_time_) for g in GROUP_ORDER if g in curves},
                "chi_square": test.statistic,
                "p_value": test.p_value,
            }
        )
    return pd.DataFrame(rows)
