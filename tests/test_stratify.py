"""Optimal cut-off, risk groups and log-rank tests against published R outputs (maxstat, survival)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_gbsg2, load_lung
from lifelines.statistics import logrank_test
from scipy.stats import norm

from helpers.evaluation.stratify import (
    assign_groups,
    km_by_group,
    logrank,
    logrank_scores,
    optimal_cutpoint,
    p_lausen92,
    p_lausen94,
)

# R package maxstat 0.7-26, data/hohnloser.txt (Hohnloser et al.: left ventricular ejection
# fraction EF and survival of 94 patients with malignant ventricular tachyarrhythmias).
_HOHNLOSER_EF = [
    11, 11, 12, 13, 13, 13, 15, 17, 20, 20, 20, 20, 20, 21, 22, 22, 22, 22, 23, 24, 24, 24, 24, 24,
    24, 24, 25, 25, 26, 26, 26, 27, 28, 30, 30, 31, 31, 32, 33, 33, 33, 33, 34, 34, 34, 34, 36, 37,
    38, 38, 38, 39, 40, 41, 41, 41, 43, 43, 43, 44, 44, 49, 50, 51, 51, 51, 52, 52, 52, 56, 56, 56,
    57, 57, 58, 58, 58, 59, 60, 60, 61, 64, 64, 64, 64, 65, 70, 70, 72, 75, 77, 77, 80, 93,
]  # fmt: skip
_HOHNLOSER_MONTH = [
    1, 5, 14, 2, 10, 39, 16, 17, 1, 1, 1, 8, 29, 22, 1, 3, 11, 15, 13, 1, 1, 3, 5, 7,
    11, 33, 3, 16, 1, 13, 23, 20, 12, 1, 1, 18, 20, 23, 9, 12, 17, 21, 1, 5, 14, 38, 6, 1,
    3, 12, 18, 8, 19, 3, 10, 15, 19, 31, 33, 23, 24, 5, 13, 4, 21, 28, 3, 16, 37, 1, 3, 33,
    23, 29, 5, 9, 36, 19, 1, 10, 7, 1, 6, 7, 14, 6, 5, 23, 36, 30, 10, 20, 7, 22,
]  # fmt: skip
_HOHNLOSER_CENS = [
    0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0,
    0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
    0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]  # fmt: skip

# R package maxstat 0.7-26, data/DLBCL.txt (Alizadeh et al. 2000, diffuse large B-cell
# lymphoma): (time in months, cens, mean gene expression MGE) of the 40 patients with a known
# survival time (the two rows with time NA are left out, as model.frame does).
_DLBCL = [
    (77.4, 0, 0.24797368421052629), (3.4, 1, -0.006894736842105214), (71.3, 1, 0.13755263157894748),
    (69.6, 0, 0.37128947368421067), (51.2, 0, 0.025710526315789479), (3.2, 1, 0.098131578947368403),
    (8.3, 1, -0.0033157894736842589), (102.4, 0, 0.21497368421052634), (89.8, 0, 0.12815789473684219),
    (88.1, 0, 0.22039473684210523), (27.1, 1, 0.11644736842105267), (4.1, 1, -0.052368421052631529),
    (23.7, 1, 0.017657894736842074), (59, 0, -0.071210526315789377), (56.6, 0, 0.16268421052631529),
    (15.5, 1, -0.06197368421052625), (2.4, 1, 0.073342105263158042), (2.9, 1, 0.1860526315789475),
    (80.4, 0, 0.087842105263157777), (4.6, 1, -0.15892105263157899), (8.2, 1, 0.040236842105263036),
    (129.9, 0, 0.028000000000000042), (32.5, 1, -0.05107894736842105), (11.8, 1, 0.13826315789473687),
    (5.1, 1, -0.012552631578947395), (90.2, 0, -0.042078947368421139), (83.8, 0, 0.26339473684210518),
    (71.3, 0, 0.29178947368421077), (12.3, 1, -0.057210526315789448), (69.1, 0, 0.16936842105263161),
    (68.8, 0, 0.0099736842105262943), (1.3, 1, 0.15063157894736842), (12.67, 1, 0.06463157894736847),
    (72.03, 0, 0.31247368421052629), (91.33, 0, 0.096289473684210522), (53.73, 0, -0.040578947368421096),
    (31.47, 1, -0.074473684210526275), (39.60, 1, 0.015631578947368486), (9.45, 1, -0.046868421052631462),
    (22.30, 1, 0.06705263157894735),
]  # fmt: skip


@pytest.fixture(scope="module")
def hohnloser() -> pd.DataFrame:
    """maxstat's hohnloser data."""
    return pd.DataFrame({"EF": _HOHNLOSER_EF, "month": _HOHNLOSER_MONTH, "cens": _HOHNLOSER_CENS})


@pytest.mark.parametrize("p_method, p_value", [("Lau92", 0.01065), ("Lau94", 0.005453)])
def test_cutpoint_reproduces_maxstat_on_hohnloser(hohnloser: pd.DataFrame, p_method: str, p_value: float) -> None:
    """Reference: maxstat 0.7-26 tests/Examples/maxstat-Ex.Rout.save, example ``hohnloser``:
    ``maxstat.test(Surv(month, cens) ~ EF, data = hohnloser, smethod = "LogRank", pmethod = "Lau92")``
    prints "M = 3.5691, p-value = 0.01065, estimated cutpoint 39"; with ``pmethod = "Lau94"``
    "M = 3.5691, p-value = 0.005453". The survival times are heavily tied, so this also pins
    exactRankTests' tie rule for the log-rank scores (Nelson-Aalen scores would give M = 3.5647).
    """
    result = optimal_cutpoint(hohnloser["month"], hohnloser["cens"], hohnloser["EF"], p_method=p_method)
    assert round(result.statistic, 4) == 3.5691
    assert result.cutpoint == 39
    assert result.p_value == pytest.approx(p_value, abs=5e-7 if p_method == "Lau94" else 5e-6)
    assert result.p_method == p_method


def test_cutpoint_reproduces_maxstat_on_dlbcl() -> None:
    """Reference: maxstat 0.7-26 tests/Examples/maxstat-Ex.Rout.save, example ``DLBCL``:
    ``maxstat.test(Surv(time, cens) ~ MGE, data = DLBCL, smethod = "LogRank")`` prints
    "M = 3.1772, estimated cutpoint 0.1860526" (continuous scores, 40 patients)."""
    time, cens, mge = map(np.array, zip(*_DLBCL))
    result = optimal_cutpoint(time, cens, mge)
    assert round(result.statistic, 4) == 3.1772
    assert round(result.cutpoint, 7) == 0.1860526


@pytest.mark.parametrize(
    "alpha, quantile, min_prop, max_prop",
    [
        (0.1, 2.784, 0.1, 0.9),
        (0.05, 3.054, 0.1, 0.9),
        (0.01, 3.588, 0.1, 0.9),
        (0.05, 2.829, 0.25, 0.75),
        (0.025, 2.828, 0.4, 0.6),
        (0.01, 3.442, 0.4, 0.9),
    ],
)
def test_lau92_reproduces_lausen_schumacher_table2(
    alpha: float, quantile: float, min_prop: float, max_prop: float
) -> None:
    """Reference: Lausen & Schumacher (1992), Table 2, as stored in maxstat (data/LausenTab2.txt) and
    checked by its ``pLausen92`` example: the tabulated 3-decimal quantile has tail probability alpha
    up to the rounding of the quantile (|dp/db| <= 0.25 here, so 5e-4 in b moves p by <= 1.25e-4)."""
    assert p_lausen92(quantile, min_prop, max_prop) == pytest.approx(alpha, abs=1.25e-4)


def test_lau94_reproduces_lausen_1994() -> None:
    """Reference: maxstat's ``pLausen94`` example, "pLausen94(2.5, 20, 0.25, 0.75)" rounds to 0.073
    (Lausen, Sauerbrei & Schumacher 1994, p. 489); the candidate sizes are m = 5, ..., 15."""
    assert round(p_lausen94(2.5, 20, np.arange(5, 16)), 3) == 0.073


def _observed_minus_expected(time: np.ndarray, event: np.ndarray, low: np.ndarray) -> tuple[float, float]:
    """Textbook two-group log-rank: O - E of the low group and its hypergeometric variance."""
    o_minus_e = variance = 0.0
    for t in np.unique(time[event == 1]):
        at_risk, at_risk_low = time >= t, (time >= t) & low
        n, n1 = at_risk.sum(), at_risk_low.sum()
        d, d1 = ((time == t) & (event == 1)).sum(), ((time == t) & (event == 1) & low).sum()
        o_minus_e += d1 - d * n1 / n
        variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / max(n - 1, 1)
    return o_minus_e, variance


def test_each_cut_standardises_the_logrank_o_minus_e() -> None:
    """Independent check on R's ``lung`` data (lifelines), times made distinct by a tiny offset:
    at every candidate cut of age, the score sum of the low group minus its permutation mean is
    O - E of the two-group log-rank test (the textbook O - E, whose chi-square (O - E)^2 / V with
    the hypergeometric V equals lifelines' ``logrank_test``), and the statistic is |O - E| over
    the permutation standard deviation of the score sum (maxstat's, not the hypergeometric one)."""
    lung = load_lung()
    time = lung["time"].to_numpy(float) + np.arange(len(lung)) * 1e-4
    event, age = lung["status"].to_numpy(), lung["age"].to_numpy()
    result = optimal_cutpoint(time, event, age)
    scores = logrank_scores(time, event)
    n = len(scores)
    for cut, m, stat in zip(result.table["cutpoint"], result.table["n_low"], result.table["statistic"]):
        low = age <= cut
        o_minus_e, v_hypergeometric = _observed_minus_expected(time, event, low)
        chisq = logrank_test(time[low], time[~low], event[low], event[~low]).test_statistic
        assert o_minus_e**2 / v_hypergeometric == pytest.approx(chisq, rel=1e-9)
        assert scores[low].sum() - m / n * scores.sum() == pytest.approx(o_minus_e, abs=1e-9)
        v_permutation = m * (n - m) / (n * (n - 1)) * np.sum((scores - scores.mean()) ** 2)
        assert stat == pytest.approx(abs(o_minus_e) / np.sqrt(v_permutation), rel=1e-12)


def test_cut_search_stays_within_min_and_max_prop(hohnloser: pd.DataFrame) -> None:
    """Every candidate leaves between floor(N min_prop) and floor(N max_prop) patients in the low
    group (score <= cut), and the candidates are exactly the distinct scores that do."""
    n = len(hohnloser)
    result = optimal_cutpoint(hohnloser["month"], hohnloser["cens"], hohnloser["EF"], min_prop=0.25, max_prop=0.6)
    table = result.table
    assert table["n_low"].between(np.floor(n * 0.25), np.floor(n * 0.6)).all()
    sizes = {x: int((hohnloser["EF"] <= x).sum()) for x in hohnloser["EF"].unique()}
    assert sorted(table["cutpoint"]) == sorted(x for x, m in sizes.items() if 23 <= m <= 56)
    assert (table["n_low"] == table["cutpoint"].map(sizes)).all()
    assert result.cutpoint in set(table["cutpoint"])
    with pytest.raises(ValueError, match="min_prop"):
        optimal_cutpoint(hohnloser["month"], hohnloser["cens"], hohnloser["EF"], min_prop=0.0)


@pytest.mark.parametrize("p_method", ["Lau92", "Lau94"])
def test_adjusted_p_exceeds_the_naive_p_of_the_chosen_cut(hohnloser: pd.DataFrame, p_method: str) -> None:
    """Selecting the best of many cuts: the search-adjusted p-value is larger than the naive
    two-sided normal p-value of the selected cut, 2 (1 - Phi(M))."""
    result = optimal_cutpoint(hohnloser["month"], hohnloser["cens"], hohnloser["EF"], p_method=p_method)
    assert result.p_value > 2 * norm.sf(result.statistic)


def test_logrank_reproduces_survdiff_on_lung_by_sex() -> None:
    """Reference: R survival ``survdiff(Surv(time, status) ~ sex, data = lung)`` prints
    "Chisq= 10.3 on 1 degrees of freedom, p= 0.00131" (expected 91.6 and 73.4 deaths; the
    score test of ``coxph`` on the same data prints 10.33). lifelines ships the same lung data."""
    lung = load_lung()
    result = logrank(lung["time"], lung["status"], lung["sex"])
    assert round(result.statistic, 2) == 10.33
    assert result.df == 1
    assert round(result.p_value, 5) == 0.00131


def test_logrank_reproduces_survdiff_on_gbsg2_by_hormone_therapy() -> None:
    """Reference: R ``survdiff(Surv(time, cens) ~ horTh, data = GBSG2)`` (TH.data) prints
    (O-E)^2/V = 8.56 and "Chisq= 8.6 on 1 degrees of freedom, p= 0.003"."""
    gbsg2 = load_gbsg2()
    result = logrank(gbsg2["time"], gbsg2["cens"], gbsg2["horTh"])
    assert round(result.statistic, 2) == 8.56
    assert round(result.p_value, 3) == 0.003


def test_groups_and_kaplan_meier() -> None:
    """score > cut-point is "high" (the cut-point itself is low, as in maxstat); one fitted
    Kaplan-Meier curve with CI per group, low first; missing values are refused."""
    score = pd.Series([0.2, 0.8, 0.81, 0.5], index=["a", "b", "c", "d"])
    groups = assign_groups(score, 0.8)
    assert groups.tolist() == ["low", "low", "high", "low"]
    assert groups.index.equals(score.index)
    curves = km_by_group([5, 8, 2, 9], [1, 0, 1, 1], groups)
    assert list(curves) == ["low", "high"]
    assert curves["low"].confidence_interval_.shape[1] == 2
    assert curves["high"].survival_function_.iloc[-1, 0] == 0.0
    with pytest.raises(ValueError, match="missing"):
        assign_groups(pd.Series([0.1, np.nan]), 0.5)
    with pytest.raises(ValueError, match="missing"):
        logrank([1, 2, np.nan], [1, 0, 1], ["low", "high", "low"])
