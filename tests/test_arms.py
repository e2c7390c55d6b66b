"""Both arms in every run: cross-fitted ensembles, node size tuned inside each fit, what each arm stacks on,
the rigorous arm's out-of-fold fusion predictions and its cut-off search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sksurv.util import Surv

from helpers.data.outcomes import horizon_labels
from helpers.evaluation import stratify
from helpers.evaluation.binary import arm_thresholds, horizon_metrics, youden_threshold, youden_thresholds
from helpers.models import rsf
from helpers.models.crossfit import crossfit_ensemble
from helpers.models.fusion import FUSION_MODELS, arm_inputs, fit_fusion, out_of_fold_fusion
from helpers.study.stratification import stratify_arm
from helpers.vocabulary import HORIZONS_MONTHS, PREDICTION_COLUMNS


def _survival(n: int, seed: int = 0, prefix: str = "p") -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), index=[f"{prefix}{i:03d}" for i in range(n)], columns=list("abcd"))
    death, censor = rng.exponential(18.0 * np.exp(-1.2 * X["a"].to_numpy())), rng.uniform(6.0, 60.0, n)
    return X, Surv.from_arrays(death <= censor, np.minimum(death, censor))


def _long(ids: pd.Index, value: float) -> pd.DataFrame:
    return pd.DataFrame(
        [{"patient_id": p, "horizon_months": h, "probability": value} for p in ids for h in HORIZONS_MONTHS]
    )


def test_crossfit_ensemble_predicts_each_patient_of_X_once_out_of_fold_and_others_by_the_fold_mean():
    X, y = _survival(60)
    others = pd.DataFrame(index=["t1", "t2"], columns=X.columns, data=0.0)
    fits: list[set[str]] = []

    def fit_predict(train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        fits.append(set(train_X.index))
        assert not set(train_X.index) & set(others.index)
        return _long(test_X.index, float(len(fits)) / 10)  # fold k's model predicts k / 10

    predicted = crossfit_ensemble(X, y, fit_predict, others, n_folds=3, random_state=0)
    assert list(predicted.columns) == [*PREDICTION_COLUMNS, "fold"] and len(fits) == 3
    held_out = predicted[predicted["fold"] >= 0]
    for fold, seen in enumerate(fits):
        rows = held_out[held_out["fold"] == fold]
        assert set(rows["patient_id"]).isdisjoint(seen) and np.allclose(rows["probability"], (fold + 1) / 10)
    assert (
        held_out.groupby("patient_id").size().eq(len(HORIZONS_MONTHS)).all() and held_out["patient_id"].nunique() == 60
    )
    mean = predicted[predicted["fold"] == -1]
    assert set(mean["patient_id"]) == {"t1", "t2"} and np.allclose(mean["probability"], 0.2)
    with pytest.raises(ValueError, match="overlap"):
        crossfit_ensemble(X, y, fit_predict, X.head(2), n_folds=3, random_state=0)


def test_the_radiomics_chain_tunes_its_node_size_on_the_data_it_is_fitted_to(monkeypatch):
    X, y = _survival(90, seed=1)
    tuned_on: list[set[str]] = []
    original = rsf.tune_node_size

    def spy(components: pd.DataFrame, *args: object, **kwargs: object) -> rsf.NodeSizeTuning:
        tuned_on.append(set(components.index))
        return original(components, *args, **kwargs)

    monkeypatch.setattr(rsf, "tune_node_size", spy)
    chain = rsf.radiomics_chain({"n_folds": 3, "random_state": 0}, (3, 10), n_estimators=10, random_state=0)
    train, test = X.index[:60], X.index[60:]
    predicted = chain(X.loc[train], y[:60], X.loc[test])
    assert tuned_on == [set(train)] and set(predicted["patient_id"]) == set(test)
    single = rsf.radiomics_chain({"n_folds": 3, "random_state": 0}, (5,), n_estimators=10, random_state=0)
    single(X.loc[train], y[:60], X.loc[test])
    assert len(tuned_on) == 1  # one node size: nothing to tune
    with pytest.raises(ValueError, match="at least one node size"):
        rsf.radiomics_chain({}, ())


def _base(cohort: pd.DataFrame) -> dict[str, pd.DataFrame]:
    ids, split = cohort["patient_id"], cohort.set_index("patient_id")["split"]

    def frame(value: float, rows: pd.Index) -> pd.DataFrame:
        long = _long(rows, value)
        return long.assign(split=long["patient_id"].map(split))

    train = pd.Index(ids[cohort["split"] == "train"])
    return {
        "radiomics": frame(0.1, pd.Index(ids)),
        "radiomics_oof": frame(0.2, train).assign(fold=0),
        "densenet": frame(0.3, pd.Index(ids)),
        "densenet_crossfit": pd.concat([frame(0.4, train), frame(0.5, pd.Index(ids[cohort["split"] == "test"]))]),
    }


def test_each_arm_reports_and_stacks_on_its_own_base_predictions():
    cohort = pd.DataFrame({"patient_id": [f"p{i}" for i in range(6)], "split": ["train"] * 4 + ["test"] * 2})
    base = _base(cohort)
    shown, inputs = arm_inputs("paper", base)
    assert shown["densenet"] is base["densenet"] and np.allclose(inputs["radiomics"]["probability"], 0.1)
    shown, inputs = arm_inputs("rigorous", base)
    assert shown["densenet"] is base["densenet_crossfit"]
    split = cohort.set_index("patient_id")["split"]
    by_split = {name: frame.assign(split=frame["patient_id"].map(split)) for name, frame in inputs.items()}
    assert by_split["radiomics"].groupby("split")["probability"].first().to_dict() == {"train": 0.2, "test": 0.1}
    assert by_split["densenet"].groupby("split")["probability"].first().to_dict() == {"train": 0.4, "test": 0.5}
    with pytest.raises(ValueError, match="densenet_crossfit"):
        arm_inputs("rigorous", {k: v for k, v in base.items() if k != "densenet_crossfit"})


def test_out_of_fold_fusion_predicts_known_patients_by_models_that_never_saw_them():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(80, 3)), index=[f"p{i}" for i in range(80)], columns=list("xyz"))
    y = pd.Series((X["x"] + rng.normal(0, 1, 80) > 0).astype(float), index=X.index)
    y.iloc[:5] = np.nan  # censored before the horizon: never fitted on
    with pytest.warns(UserWarning, match="left out 5"):
        models = fit_fusion(X, y, "rigorous", random_state=0)
    oof = out_of_fold_fusion(models, X, y, random_state=0)
    assert list(oof.columns) == ["patient_id", "model", "probability"] and len(oof) == 80 * len(FUSION_MODELS)
    lr = oof[oof["model"] == "logistic_regression"].set_index("patient_id")["probability"]
    final = models["logistic_regression"]
    assert np.allclose(lr.iloc[:5], final.predict_proba(X.iloc[:5])[:, 1])  # unknown labels: the final model
    known = y.notna()
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(X[known], y[known])
    train, test = next(folds)
    refit = clone(final.best_estimator_).fit(X[known].iloc[train], y[known].iloc[train].astype(int))
    assert np.allclose(lr[known].iloc[test], refit.predict_proba(X[known].iloc[test])[:, 1])
    assert not np.allclose(lr[known], final.predict_proba(X[known])[:, 1])


def test_the_rigorous_cut_off_is_searched_on_out_of_fold_training_risk_and_reports_the_corrected_p():
    X, y = _survival(300, seed=3)
    cohort = pd.DataFrame(
        {"split": np.where(np.arange(300) < 200, "train", "test"), "time_months": y["time"], "event": y["event"]},
        index=X.index,
    )
    risk = pd.Series(X["a"].to_numpy(), index=X.index)
    oof = pd.Series(X["a"].to_numpy() + np.random.default_rng(4).normal(0, 0.5, 300), index=X.index)[:200]
    paper = stratify_arm("paper", cohort, risk, None, min_prop=0.1, max_prop=0.9, p_method="Lau92")
    rigorous = stratify_arm("rigorous", cohort, risk, oof, min_prop=0.1, max_prop=0.9, p_method="Lau92")
    expected = stratify.optimal_cutpoint(cohort["time_months"][:200], cohort["event"][:200], oof).cutpoint
    assert rigorous.cut.cutpoint == expected and len(rigorous.searched) == 200
    assert paper.cut.cutpoint == stratify.optimal_cutpoint(cohort["time_months"], cohort["event"], risk).cutpoint
    reported = rigorous.tests.set_index("split")
    assert reported.loc["train", "p_reported"] == rigorous.cut.p_value
    assert reported.loc["test", "p_reported"] == reported.loc["test", "p_value"]
    assert reported.loc["test", "p_reported_kind"] == "naive, unseen"
    assert (paper.tests["p_reported"] == paper.tests["p_value"]).all()
    with pytest.raises(ValueError, match="out-of-fold"):
        stratify_arm("rigorous", cohort, risk, None, min_prop=0.1, max_prop=0.9, p_method="Lau92")
    with pytest.raises(ValueError, match="p000"):
        stratify_arm("rigorous", cohort, risk, oof.drop("p000"), min_prop=0.1, max_prop=0.9, p_method="Lau92")


def test_accuracy_is_taken_at_one_half_in_the_paper_arm_and_at_the_out_of_fold_youden_cut_off_otherwise():
    rng = np.random.default_rng(5)
    n = 200
    cohort = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "split": np.where(np.arange(n) < 140, "train", "test"),
            "time_months": rng.uniform(1, 60, n),
            "event": rng.integers(0, 2, n),
        }
    )
    died = ((cohort["event"] == 1) & (cohort["time_months"] <= 12)).to_numpy()
    final = pd.DataFrame(
        {"patient_id": cohort["patient_id"], "horizon_months": 12, "probability": 0.3 + 0.4 * died}
    ).assign(split=cohort["split"])
    oof = final[final["split"] == "train"].assign(
        probability=lambda f: f["probability"] * 0.5 + rng.uniform(0, 0.2, 140)
    )
    assert arm_thresholds("paper", None, cohort, "known_status") == dict.fromkeys(HORIZONS_MONTHS, 0.5)
    rigorous = arm_thresholds("rigorous", oof, cohort, "known_status")
    train_labels = horizon_labels(cohort["time_months"][:140], cohort["event"][:140], 12, "known_status")
    assert rigorous[12] == youden_threshold(oof["probability"].to_numpy(), train_labels.to_numpy())
    assert rigorous[12] != youden_thresholds(final, cohort, "known_status")[12]  # not the in-sample cut-off
    table = horizon_metrics(final, cohort, "known_status", {12: 0.5})
    assert (table["threshold"] == 0.5).all()
    labels = horizon_labels(cohort["time_months"], cohort["event"], 12, "known_status")
    test = (cohort["split"] == "test") & labels.notna()
    expected = np.mean((final.loc[test, "probability"] >= 0.5) == labels[test])
    assert table.set_index("split").loc["test", "accuracy"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="out-of-fold"):
        arm_thresholds("rigorous", None, cohort, "known_status")


def test_training_predictions_of_the_forest_are_out_of_bag_like_randomforestsrc():
    X, y = _survival(120, seed=6)
    train, others = X.iloc[:90], X.iloc[90:]
    forest = rsf.fit_rsf(train, y[:90], 5, n_estimators=30, splitting="exhaustive", random_state=0)
    predicted = rsf.forest_predictions(forest, train, X)
    assert list(predicted["patient_id"].unique()) == list(X.index)
    first = X.index[0]
    trees = [t for t, in_bag in zip(forest.estimators_, forest.estimators_samples_) if 0 not in in_bag]
    curves = np.mean(
        [t.predict_survival_function(train.iloc[:1].to_numpy(np.float32), return_array=True)[0] for t in trees], axis=0
    )
    at_24 = curves[np.searchsorted(forest.unique_times_, 24.0, side="right") - 1]
    row = predicted[(predicted["patient_id"] == first) & (predicted["horizon_months"] == 24)]
    assert row["probability"].item() == pytest.approx(1 - at_24)
    new = predicted[predicted["patient_id"].isin(others.index)].reset_index(drop=True)
    pd.testing.assert_frame_equal(new, rsf.death_probabilities(forest, others))
    in_sample = rsf.death_probabilities(forest, train)
    assert not np.allclose(
        predicted[predicted["patient_id"].isin(train.index)]["probability"], in_sample["probability"]
    )
