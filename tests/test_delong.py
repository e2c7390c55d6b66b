"""DeLong test of two correlated ROC curves against pROC's published results on its aSAH data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from helpers.evaluation.delong import delong_test

# pROC's data set ``aSAH`` (Turck et al., Intensive Care Medicine 2010; shipped with the R
# package pROC, GPL >= 3): 113 patients after aneurysmal subarachnoid haemorrhage, in the
# package's row order. POOR = outcome == "Poor" (41 patients), WFNS = the WFNS grade 1-5 (an
# ordered factor in R, whose integer codes pROC uses), S100B and NDKA = biomarkers. The first
# six rows agree with pROC's printed ``head(aSAH)``; the columns were transcribed from a public
# test suite that embeds them (reproduces pROC 1.19.1 to 1e-10).
POOR = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
]  # fmt: skip
S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
NDKA = [
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86, 5.18,
    8.9, 13.41, 20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47, 6.29,
    12.53, 6.54, 6.3, 80.3, 12.8, 9.8, 9.81, 9.85, 18.21, 5.03, 14.04, 21.93, 8.02,
    7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34, 41.43, 7.63, 7.06, 12.59, 13.56, 3.87,
    9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22, 11.73, 10.4, 58.83, 6.39,
    11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23, 72.57, 15.54, 10.51,
    10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44, 11.07, 19.46, 10.83, 5.37,
    11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9, 46.83, 11.68, 12.67, 9.01, 9.57,
    34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33, 13.87, 15.89, 22.43, 6.79, 13.45,
]  # fmt: skip


def test_asah_data_is_pROCs() -> None:
    """113 patients, 41 poor outcomes (pROC's ``power.roc.test(ncases = 41, ncontrols = 72)`` example),
    and pROC's published AUCs: s100b 0.7314, wfns 0.8237, ndka 0.612."""
    assert (len(POOR), sum(POOR)) == (113, 41)
    assert all(len(column) == 113 for column in (WFNS, S100B, NDKA))
    aucs = [roc_auc_score(POOR, column) for column in (S100B, WFNS, NDKA)]
    assert [round(a, 4) for a in aucs] == [0.7314, 0.8237, 0.6120]


@pytest.mark.parametrize(
    "a, b, z, p, ci",
    [
        ("wfns", "s100b", 2.20898359144091, 0.0271757822291882, (0.0104061769564846, 0.174214419249478)),
        ("wfns", "ndka", 2.79777591868904, 0.00514557970691098, (0.0634011709339876, 0.3600405634833566)),
        ("ndka", "s100b", -1.39077002573558, 0.164295175223054, (-0.2876917446341914, 0.0488706064228094)),
    ],
)
def test_delong_reproduces_proc_roc_test(a: str, b: str, z: float, p: float, ci: tuple[float, float]) -> None:
    """Reference: pROC's own test suite (tests/testthat/test-roc.test.R, "roc.test statistic and p
    are as expected with defaults"): ``roc.test(r.wfns, r.s100b)`` gives Z = 2.20898359144091,
    p = 0.0271757822291882 and the 95% CI of the AUC difference 0.0104061769564846 to
    0.174214419249478 (the documented example ``roc.test(roc1, roc2)`` of ?roc.test prints this
    as "Z = -2.209, p-value = 0.02718" with s100b first); likewise wfns vs ndka and ndka vs s100b.
    Matched to 1e-10 relative (pROC's expect_equal tolerance is 1.5e-8)."""
    columns = {"wfns": WFNS, "s100b": S100B, "ndka": NDKA}
    result = delong_test(POOR, columns[a], columns[b])
    assert result.z == pytest.approx(z, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert result.ci95 == pytest.approx(ci, rel=1e-10)
    assert result.auc_a == pytest.approx(roc_auc_score(POOR, columns[a]), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(POOR, columns[b]), abs=1e-12)


def test_delong_swapping_the_scores_flips_z_only() -> None:
    """pROC's "two.sided roc.test produces identical p values when roc curves are reversed"."""
    forward, backward = delong_test(POOR, WFNS, S100B), delong_test(POOR, S100B, WFNS)
    assert backward.z == pytest.approx(-forward.z)
    assert backward.p_value == pytest.approx(forward.p_value)


def test_delong_by_hand() -> None:
    """Hand example, y = [1, 1, 0, 0]: a = [.9, .4, .6, .1] has placements 1, .5 (positives) and
    .5, 1 (negatives), AUC .75, Var = .125/2 + .125/2 = .125; b = [.8, .7, .2, .3] separates
    perfectly (AUC 1, variance 0), and cov(a, b) = 0, so z = -.25 / sqrt(.125)."""
    result = delong_test([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], [0.8, 0.7, 0.2, 0.3])
    assert (result.auc_a, result.auc_b) == (0.75, 1.0)
    assert result.z == pytest.approx(-0.25 / np.sqrt(0.125))


def test_delong_identical_scores_and_unknown_labels() -> None:
    """Identical curves: z = 0 and p = 1 (pROC's "DeLong roc.test works when curves are
    identical"); NaN labels are left out; a one-class sample is refused."""
    same = delong_test(POOR, WFNS, WFNS)
    assert (same.z, same.p_value) == (0.0, 1.0)
    labelled = delong_test([*POOR, np.nan], [*WFNS, 99.0], [*S100B, -1.0])
    assert labelled == delong_test(POOR, WFNS, S100B)
    with pytest.raises(ValueError, match="at least 2 positives"):
        delong_test([1, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])
