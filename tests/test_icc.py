"""ICC module: Shrout & Fleiss (1979) worked example, pingouin cross-checks, per-feature table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from helpers.errors import StaleInputError
from helpers.features.agreement import ReaderAgreement, modelled_features, reader_agreement, second_readings
from helpers.features.icc import ICC_FORMS, icc_band, icc_per_feature, intraclass_correlation

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SF_TABLE2 = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
SF_PUBLISHED = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
PSYCH_PRINTED = {"ICC1": 0.166, "ICC2": 0.290, "ICC3": 0.715, "ICC1k": 0.443, "ICC2k": 0.620, "ICC3k": 0.909}
# pingouin 0.7.0 intraclass_corr on SF_TABLE2 with CI rounding off: (ICC, F, df2, p, CI low, CI high).
PINGOUIN_SF = {
    "ICC1": (0.1657417684054755, 1.7946784922394683, 18, 0.16476880834463953, -0.13293232487475096, 0.722560062328121),
    "ICC2": (
        0.28976377952755916,
        11.027247956403299,
        15,
        0.000134566516484335,
        0.018786513374712058,
        0.7610843696489527,
    ),
    "ICC3": (0.7148407148407154, 11.027247956403299, 15, 0.000134566516484335, 0.34246476503392614, 0.9458582599553597),
    "ICC1k": (
        0.44279713367926876,
        1.7946784922394683,
        18,
        0.16476880834463953,
        -0.8844421552381196,
        0.9124154203407755,
    ),
    "ICC2k": (
        0.6200505475989893,
        11.027247956403299,
        15,
        0.000134566516484335,
        0.07113681530250353,
        0.9272320401677219,
    ),
    "ICC3k": (0.9093155423770697, 11.027247956403299, 15, 0.000134566516484335, 0.6756747138163055, 0.9858916781690623),
}
PINGOUIN_TYPE = {
    "ICC1": "ICC(1,1)",
    "ICC2": "ICC(A,1)",
    "ICC3": "ICC(C,1)",
    "ICC1k": "ICC(1,k)",
    "ICC2k": "ICC(A,k)",
    "ICC3k": "ICC(C,k)",
}


def _two_readers(n_patients: int = 50, n_features: int = 8, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two readers' feature tables: a shared patient signal plus reader noise of varying size and offset."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"p{i}" for i in range(n_patients)], name="patient")
    columns = [f"feat{j}" for j in range(n_features)]
    truth = rng.normal(size=(n_patients, n_features)) * rng.uniform(1, 100, n_features)
    noise = rng.uniform(0.1, 2.0, n_features) * truth.std(axis=0)
    r1 = truth + rng.normal(size=truth.shape) * noise
    r2 = truth + rng.normal(size=truth.shape) * noise + rng.normal(size=n_features) * noise
    return pd.DataFrame(r1, index, columns), pd.DataFrame(r2, index, columns)


def _pingouin_icc(ratings: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """pingouin's six-form ICC table for an (n x k) array, unrounded, indexed by our form names."""
    pg = pytest.importorskip("pingouin", reason="pingouin is the reference implementation for this cross-check")
    monkeypatch.delitem(pg.options, "round.column.CI95", raising=False)
    n, k = ratings.shape
    long = pd.DataFrame(
        {"target": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n), "score": ratings.ravel()}
    )
    table = pg.intraclass_corr(long, targets="target", raters="rater", ratings="score").set_index("Type")
    return table.loc[[PINGOUIN_TYPE[f] for f in ICC_FORMS]].set_axis(list(ICC_FORMS))


@pytest.mark.parametrize("form", ICC_FORMS)
def test_shrout_fleiss_table2_published_and_psych_values(form: str) -> None:
    """Matches the 2-decimal values published in Shrout & Fleiss Table 2 and the 3-decimal psych::ICC print."""
    value = intraclass_correlation(SF_TABLE2, form).value
    assert round(value, 2) == SF_PUBLISHED[form]
    assert round(value, 3) == PSYCH_PRINTED[form]


def test_shrout_fleiss_table2_f_tests_and_cis() -> None:
    """F statistics, df and 95 % CIs as psych::ICC prints them for the worked example."""
    icc1, icc2, icc3 = (intraclass_correlation(SF_TABLE2, f) for f in ("ICC1", "ICC2", "ICC3"))
    assert round(icc1.f_statistic, 2) == 1.79 and (icc1.df1, icc1.df2) == (5, 18)
    assert round(icc2.f_statistic, 2) == round(icc3.f_statistic, 2) == 11.03
    assert (icc2.df1, icc2.df2) == (icc3.df1, icc3.df2) == (5, 15)
    assert tuple(round(b, 3) for b in icc2.ci95) == (0.019, 0.761)
    assert tuple(round(b, 3) for b in icc3.ci95) == (0.342, 0.946)
    assert icc2.p_value < 0.001 < 0.1 < icc1.p_value


@pytest.mark.parametrize("form", ICC_FORMS)
def test_shrout_fleiss_table2_full_precision_vs_recorded_pingouin(form: str) -> None:
    """Agrees to 1e-9 with pingouin 0.7.0's unrounded output recorded above (runs without pingouin)."""
    value, f_stat, df2, p, lo, hi = PINGOUIN_SF[form]
    r = intraclass_correlation(SF_TABLE2, form)
    assert (r.form, r.df1, r.df2) == (form, 5, df2)
    np.testing.assert_allclose([r.value, r.f_statistic, r.p_value, *r.ci95], [value, f_stat, p, lo, hi], rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scalar_matches_live_pingouin_on_random_ratings(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """All six forms, F, p and CIs equal pingouin's on random 3- and 2-rater data and on Table 2."""
    rng = np.random.default_rng(seed)
    for ratings in (
        rng.normal(size=(12, 1)) + rng.normal(size=(12, 3)),
        rng.normal(size=(30, 1)) * 5 + rng.normal(size=(30, 2)) + [0.0, 1.0],
        SF_TABLE2,
    ):
        ref = _pingouin_icc(ratings, monkeypatch)
        for form in ICC_FORMS:
            r = intraclass_correlation(ratings, form)
            expected = [ref.at[form, c] for c in ("ICC", "F", "df1", "df2", "pval")] + list(ref.at[form, "CI95"])
            np.testing.assert_allclose(
                [r.value, r.f_statistic, r.df1, r.df2, r.p_value, *r.ci95],
                expected,
                rtol=1e-9,
                atol=1e-12,
                err_msg=form,
            )


@pytest.mark.parametrize("form", ICC_FORMS)
def test_per_feature_equals_scalar_function(form: str) -> None:
    """Each row of the vectorised table equals the scalar ICC of that feature's (patients x 2) ratings."""
    r1, r2 = _two_readers()
    table = icc_per_feature(r1, r2, form)
    assert list(table.columns) == ["feature", "icc", "ci_low", "ci_high", "band"]
    assert table["feature"].tolist() == r1.columns.tolist()
    for _, row in table.iterrows():
        scalar = intraclass_correlation(np.column_stack([r1[row.feature], r2[row.feature]]), form)
        np.testing.assert_allclose([row.icc, row.ci_low, row.ci_high], [scalar.value, *scalar.ci95], rtol=1e-10)
        assert row.band == icc_band(scalar.value)
    assert table["icc"].between(-1, 1).all() and (table["ci_low"] <= table["icc"]).all()
    assert (table["icc"] <= table["ci_high"]).all()


def test_per_feature_icc2_equals_pingouin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default ICC2 table equals pingouin's ICC(A,1) and its CI feature by feature."""
    r1, r2 = _two_readers(n_features=6, seed=3)
    table = icc_per_feature(r1, r2).set_index("feature")
    for feature in r1.columns:
        ref = _pingouin_icc(np.column_stack([r1[feature], r2[feature]]), monkeypatch).loc["ICC2"]
        np.testing.assert_allclose(
            table.loc[feature, ["icc", "ci_low", "ci_high"]].to_numpy(float), [ref["ICC"], *ref["CI95"]], rtol=1e-9
        )


def test_per_feature_aligns_reader2_by_labels() -> None:
    """Shuffled patient rows and feature columns in reader2 give the same table (matched by label, not position)."""
    r1, r2 = _two_readers(seed=4)
    shuffled = r2.sample(frac=1.0, random_state=0)[r2.columns[::-1]]
    pd.testing.assert_frame_equal(icc_per_feature(r1, shuffled), icc_per_feature(r1, r2))


def test_perfect_agreement_gives_one() -> None:
    """Identical readers give ICC 1 with CI [1, 1] in every form and the 'excellent' band."""
    r1, _ = _two_readers(seed=5)
    for form in ICC_FORMS:
        table = icc_per_feature(r1, r1.copy(), form)
        np.testing.assert_allclose(table[["icc", "ci_low", "ci_high"]].to_numpy(), 1.0)
        assert (table["band"] == "excellent").all()
        assert intraclass_correlation(np.column_stack([r1["feat0"]] * 3), form).value == pytest.approx(1.0)


def test_constant_feature_is_undefined_without_warnings() -> None:
    """Features constant within each reader (equal or offset) give NaN and 'undefined', and emit no warnings."""
    r1, r2 = _two_readers(seed=6)
    r1["same"], r2["same"] = 3.7, 3.7
    r1["offset"], r2["offset"] = 1.0, 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for form in ICC_FORMS:
            table = icc_per_feature(r1, r2, form).set_index("feature")
            undefined = table.loc[["same", "offset"]]
            assert undefined[["icc", "ci_low", "ci_high"]].isna().all().all()
            assert (undefined["band"] == "undefined").all()
            assert table.drop(["same", "offset"])["icc"].notna().all()
            scalar = intraclass_correlation([[5.0, 6.0]] * 4, form)
            assert np.isnan([scalar.value, *scalar.ci95, scalar.f_statistic, scalar.p_value]).all()


def test_koo_li_band_boundaries_belong_to_upper_band() -> None:
    """0.5, 0.75 and 0.9 fall in the upper band; NaN is 'undefined'."""
    values = [-0.3, 0.4999, 0.5, 0.7499, 0.75, 0.8999, 0.9, 1.0, np.nan]
    assert icc_band(values).tolist() == [
        "poor",
        "poor",
        "moderate",
        "moderate",
        "good",
        "good",
        "excellent",
        "excellent",
        "undefined",
    ]


def test_nan_rating_raises_naming_the_row() -> None:
    """A missing rating is an error that names the row, in both the scalar and the per-feature function."""
    ratings = SF_TABLE2.copy()
    ratings[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"row\(s\) \[3\]"):
        intraclass_correlation(ratings)
    labelled = pd.DataFrame(ratings, index=[f"t{i}" for i in range(6)])
    with pytest.raises(ValueError, match=r"\['t3'\]"):
        intraclass_correlation(labelled, "ICC3")
    r1, r2 = _two_readers(seed=7)
    r2.loc["p17", "feat2"] = np.nan
    with pytest.raises(ValueError, match=r"reader2 row\(s\) \['p17'\]"):
        icc_per_feature(r1, r2)


def test_unknown_form_raises_listing_valid_forms() -> None:
    """A misspelt form is rejected with the list of valid forms, by both functions."""
    r1, r2 = _two_readers(n_features=2)
    listing = "ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k"
    with pytest.raises(ValueError, match=f"'ICC\\(2,1\\)'.*{listing}"):
        intraclass_correlation(SF_TABLE2, "ICC(2,1)")
    with pytest.raises(ValueError, match=listing):
        icc_per_feature(r1, r2, "icc2")


def test_mismatched_or_malformed_inputs_raise() -> None:
    """Readers must cover the same patients and features; ratings need >= 2 targets and >= 2 raters."""
    r1, r2 = _two_readers(n_features=3)
    with pytest.raises(ValueError, match=r"patients only in reader1 \['p0'\]"):
        icc_per_feature(r1, r2.drop(index="p0"))
    with pytest.raises(ValueError, match=r"^readers differ: features only in reader2 \[.extra.\]$"):
        icc_per_feature(r1, r2.assign(extra=1.0))
    with pytest.raises(ValueError, match="shape"):
        intraclass_correlation(np.ones((5, 1)))


def test_full_study_size_table() -> None:
    """1,037 features x 50 patients: one finite ICC per feature, in reader 1's order."""
    r1, r2 = _two_readers(n_features=1037, seed=8)
    table = icc_per_feature(r1, r2)
    assert len(table) == 1037 and table["icc"].notna().all()
    assert table["feature"].tolist() == list(r1.columns)


# ----------------------------------------------------------------------------- a cohort's agreement (notebook 02)


def test_a_cohort_without_a_second_reader_has_no_assessable_agreement_and_keeps_every_feature(tmp_path):
    cohort = pd.DataFrame({"patient_id": ["A", "B", "C"], "mask": ["a.nii", "b.nii", "c.nii"]})
    agreement = reader_agreement(cohort, "unused.yaml", tmp_path, form="ICC2")  # nothing is extracted
    assert not agreement.assessable and agreement.patients == 0 and agreement.table is None
    assert "0 patient(s) have a second reader's mask" in agreement.note and "at least 5" in agreement.note
    assert agreement.summary() == {"patients": 0, "assessable": False, "mean_icc": None, "median_icc": None}
    assert agreement.stable_features(0.75) is None
    assert modelled_features({"features": None}, ["f1", "f2"]) == ["f1", "f2"]


def test_too_few_second_readings_say_how_many_there_are_and_are_needed(tmp_path):
    cohort = pd.DataFrame({"patient_id": list("ABCD"), "mask_reader2": ["a", "b", pd.NA, pd.NA]})
    assert len(second_readings(cohort)) == 2
    agreement = reader_agreement(cohort, "unused.yaml", tmp_path, form="ICC2", minimum=3)
    assert "2 patient(s) have a second reader's mask" in agreement.note and "at least 3 (icc_min_patients)" in (
        agreement.note
    )
    one = cohort.assign(mask_reader2=["a", pd.NA, pd.NA, pd.NA])
    assert reader_agreement(one, "unused.yaml", tmp_path, form="ICC2", minimum=0).minimum == 2  # the ICC's own floor


def test_an_assessable_agreement_filters_by_threshold_and_warns_below_thirty_patients():
    table = pd.DataFrame({"feature": ["f1", "f2", "f3"], "icc": [0.95, 0.6, np.nan]})
    few = ReaderAgreement(12, 5, table)
    assert few.assessable and "12 patients delineated by both readers" in few.note and "30" in few.note
    assert few.stable_features(0.75) == ["f1"] and few.stable_features(0.0) == ["f1", "f2", "f3"]
    assert few.summary()["mean_icc"] == pytest.approx(0.775)
    assert "30" not in ReaderAgreement(50, 5, table).note


def test_modelled_features_refuse_a_feature_that_extraction_did_not_produce():
    assert modelled_features({"features": ["f2"]}, ["f1", "f2"]) == ["f2"]
    with pytest.raises(StaleInputError, match="features.parquet lacks.*'f9'.*re-run both"):
        modelled_features({"features": ["f2", "f9"]}, ["f1", "f2"])
