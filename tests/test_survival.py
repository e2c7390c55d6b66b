"""Survival module: OOB node-size tuning, horizon probabilities, known signal, Youden rule, cross-fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from sksurv.metrics import cumulative_dynamic_auc
from sksurv.util import Surv

from helpers.data.outcomes import horizon_labels
from helpers.evaluation.binary import auc_known
from helpers.evaluation.survival import cumulative_dynamic_auc_at, harrell_c
from helpers.features.selection import RadiomicsReducer
from helpers.models.crossfit import out_of_fold_predictions
from helpers.models.rsf import death_probabilities, fit_rsf, tune_node_size
from helpers.vocabulary import HORIZONS_MONTHS, PREDICTION_COLUMNS

SMALL_FOREST = {"n_estimators": 30, "random_state": 0, "n_jobs": 1}
Split = tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]  # X_train, X_test, y_train, y_test


def _cohort(n: int = 300, n_features: int = 5, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Exponential times in months with hazard exp(1.5 x1) / 18 (x1 the only signal), uniform censoring 6-60 months."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(size=(n, n_features)),
        index=[f"p{i:03d}" for i in range(n)],
        columns=[f"x{j + 1}" for j in range(n_features)],
    )
    death = rng.exponential(18.0 * np.exp(-1.5 * X["x1"].to_numpy()))
    censor = rng.uniform(6.0, 60.0, n)
    return X, Surv.from_arrays(death <= censor, np.minimum(death, censor))


def _split(X: pd.DataFrame, y: np.ndarray) -> Split:
    """2:1 split stratified on the event, as the cohort's train/test split."""
    train, test = train_test_split(np.arange(len(X)), test_size=1 / 3, random_state=0, stratify=y["event"])
    return X.iloc[train], X.iloc[test], y[train], y[test]


@pytest.fixture(scope="module")
def split() -> Split:
    """The simulated cohort (n=300) split 200/100."""
    return _split(*_cohort())


@pytest.fixture(scope="module")
def forest_predictions(split: Split) -> pd.DataFrame:
    """Test-split death probabilities of a 100-tree forest fitted on the training split."""
    X_train, X_test, y_train, _ = split
    model = fit_rsf(X_train, y_train, node_size=10, n_estimators=100, random_state=0, n_jobs=1)
    return death_probabilities(model, X_test)


def test_node_size_tuning_picks_the_oob_minimum(split: Split) -> None:
    """best = the node size with the smallest OOB error = 1 - Harrell's C, for both splitting rules."""
    X_train, _, y_train, _ = split
    for splitting in ("exhaustive", "random"):
        tuning = tune_node_size(X_train, y_train, (3, 10, 30), splitting=splitting, **SMALL_FOREST)
        table = tuning.table
        assert list(table.columns) == ["node_size", "oob_error"] and list(table["node_size"]) == [3, 10, 30]
        assert table["oob_error"].between(0, 0.5).all()  # a real signal: OOB C above 0.5
        assert tuning.best == table.loc[table["oob_error"].idxmin(), "node_size"]


def test_node_size_tuning_gives_the_oob_error_of_the_full_forest(split: Split) -> None:
    """Tuning fits in low-memory mode; its OOB errors equal, to the last bit, those of forests that keep every curve."""
    from sksurv.ensemble import ExtraSurvivalTrees, RandomSurvivalForest

    X_train, _, y_train, _ = split
    for splitting, forest in (("exhaustive", RandomSurvivalForest), ("random", ExtraSurvivalTrees)):
        tuning = tune_node_size(X_train, y_train, (1, 5), splitting=splitting, **SMALL_FOREST)
        full = [
            1.0
            - forest(
                n_estimators=30,
                min_samples_leaf=size,
                min_samples_split=2 * size,
                bootstrap=True,
                oob_score=True,
                random_state=0,
                n_jobs=1,
            )
            .fit(X_train, y_train)
            .oob_score_
            for size in (1, 5)
        ]
        assert tuning.table["oob_error"].tolist() == full


def test_node_size_ties_go_to_the_larger_node_size(split: Split) -> None:
    """A node size repeated in the grid ties with itself; beyond that, equal errors pick the largest size."""
    X_train, _, y_train, _ = split
    tuning = tune_node_size(X_train, y_train, (150, 200), **SMALL_FOREST)  # both leave only the root: same forest
    assert tuning.table["oob_error"].nunique() == 1
    assert tuning.best == 200


def test_horizon_probabilities_in_unit_interval_and_non_decreasing(forest_predictions: pd.DataFrame) -> None:
    """One row per patient and horizon; 1 - S(t) in [0, 1] and non-decreasing from 12 to 36 months."""
    assert list(forest_predictions.columns) == PREDICTION_COLUMNS
    assert len(forest_predictions) == 100 * len(HORIZONS_MONTHS)
    assert forest_predictions["probability"].between(0, 1).all()
    wide = forest_predictions.pivot(index="patient_id", columns="horizon_months", values="probability")
    assert list(wide.columns) == list(HORIZONS_MONTHS)
    assert (np.diff(wide.to_numpy(), axis=1) >= 0).all()


def test_horizons_outside_the_observed_times_take_the_edge_values(split: Split) -> None:
    """Before the first time: probability 0; after the last time: the value at the last time."""
    X_train, X_test, y_train, _ = split
    model = fit_rsf(X_train, y_train, node_size=10, **SMALL_FOREST)
    last = model.unique_times_[-1]
    probs = death_probabilities(model, X_test.iloc[:5], horizons=(0, last, 10 * last))
    wide = probs.pivot(index="patient_id", columns="horizon_months", values="probability")
    assert (wide[0] == 0).all()
    pd.testing.assert_series_equal(wide[10 * last], wide[last], check_names=False)


def test_known_signal_test_auc_at_12_months(split: Split, forest_predictions: pd.DataFrame) -> None:
    """Hazard exp(1.5 x1): the forest's test AUC for death by 12 months exceeds 0.75."""
    _, X_test, _, y_test = split
    time = pd.Series(y_test["time"], index=X_test.index)
    event = pd.Series(y_test["event"], index=X_test.index)
    at_12 = forest_predictions[forest_predictions["horizon_months"] == 12].set_index("patient_id")["probability"]
    labels = horizon_labels(time, event, 12, "known_status")
    auc = auc_known(labels, at_12.loc[X_test.index])
    assert auc > 0.75, auc


def test_harrell_c_and_cumulative_dynamic_auc(split: Split, forest_predictions: pd.DataFrame) -> None:
    """The true risk x1 is concordant; a horizon beyond the test follow-up is moved below its end and reported."""
    _, X_test, y_train, y_test = split
    assert harrell_c(y_test["time"], y_test["event"], X_test["x1"]) > 0.7
    assert harrell_c(y_test["time"], y_test["event"], -X_test["x1"]) < 0.3
    wide = forest_predictions.pivot(index="patient_id", columns="horizon_months", values="probability")
    wide = wide.loc[X_test.index]
    horizons = (*HORIZONS_MONTHS, 1000)
    table = cumulative_dynamic_auc_at(
        y_train["time"], y_train["event"], y_test["time"], y_test["event"], X_test["x1"], horizons
    )
    assert list(table["horizon_months"]) == list(horizons)
    assert (table["time"].iloc[:3] == HORIZONS_MONTHS).all() and table["time"].iloc[3] < y_test["time"].max()
    assert (table["auc"] > 0.7).all()
    per_horizon = cumulative_dynamic_auc_at(
        y_train["time"], y_train["event"], y_test["time"], y_test["event"], wide.to_numpy()
    )
    assert (per_horizon["auc"] > 0.7).all()


def test_out_of_fold_predictions_never_use_their_own_fold() -> None:
    """Each fold's model saw none of the patients it predicts; every patient once per horizon."""
    X, y = _cohort(n=120)
    seen: list[set[str]] = []

    def fit_predict(train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        seen.append(set(train_X.index))
        return death_probabilities(fit_rsf(train_X, train_y, node_size=10, n_estimators=20, random_state=0), test_X)

    oof = out_of_fold_predictions(X, y, fit_predict, n_folds=4, random_state=0)
    assert list(oof.columns) == [*PREDICTION_COLUMNS, "fold"]
    assert len(seen) == 4
    for fold, train_ids in enumerate(seen):
        predicted = set(oof.loc[oof["fold"] == fold, "patient_id"])
        assert predicted and predicted.isdisjoint(train_ids)
        assert predicted | train_ids == set(X.index)
    counts = oof.groupby(["patient_id", "horizon_months"]).size()
    assert len(counts) == len(X) * len(HORIZONS_MONTHS) and (counts == 1).all()
    assert list(oof["patient_id"].unique()) == list(X.index)  # X's order


def test_out_of_fold_rejects_predictions_for_the_wrong_patients() -> None:
    """A fit_predict that predicts its training rows is refused."""
    X, y = _cohort(n=60)

    def leaky(train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        return death_probabilities(fit_rsf(train_X, train_y, node_size=10, n_estimators=5, random_state=0), train_X)

    with pytest.raises(ValueError, match="held-out patient"):
        out_of_fold_predictions(X, y, leaky, n_folds=3, random_state=0)


def test_out_of_fold_wraps_the_whole_reducer_and_forest_chain() -> None:
    """The 04 + 05 chain (PCA-LASSO reducer, then forest) cross-fitted: probabilities for every patient."""
    rng = np.random.default_rng(4)
    latent = rng.normal(size=(150, 2))
    X = pd.DataFrame(
        latent @ rng.normal(size=(2, 20)) + 0.5 * rng.normal(size=(150, 20)), index=[f"q{i}" for i in range(150)]
    )
    X.columns = [f"f{j}" for j in range(20)]
    death, censor = rng.exponential(18.0 * np.exp(-1.5 * latent[:, 0])), rng.uniform(6.0, 60.0, 150)
    y = Surv.from_arrays(death <= censor, np.minimum(death, censor))

    def chain(train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        reducer = RadiomicsReducer(n_folds=5, random_state=0).fit(train_X, train_y)
        model = fit_rsf(reducer.transform(train_X), train_y, node_size=10, n_estimators=20, random_state=0)
        return death_probabilities(model, reducer.transform(test_X))

    oof = out_of_fold_predictions(X, y, chain, n_folds=3, random_state=0)
    assert len(oof) == 150 * len(HORIZONS_MONTHS) and oof["probability"].between(0, 1).all()


def test_deterministic_given_random_state(split: Split) -> None:
    """Same random_state, same predictions, for both splitting rules (also with 2 jobs)."""
    X_train, X_test, y_train, _ = split
    for splitting in ("exhaustive", "random"):
        runs = [
            death_probabilities(
                fit_rsf(X_train, y_train, 10, n_estimators=20, splitting=splitting, random_state=3, n_jobs=n_jobs),
                X_test,
            )
            for n_jobs in (1, 2, 1)
        ]
        pd.testing.assert_frame_equal(runs[0], runs[1])
        pd.testing.assert_frame_equal(runs[0], runs[2])


def test_invalid_splitting_raises(split: Split) -> None:
    """Only 'exhaustive' and 'random' exist."""
    X_train, _, y_train, _ = split
    with pytest.raises(ValueError, match="splitting"):
        fit_rsf(X_train, y_train, 10, splitting="nsplit")


def test_a_test_death_after_every_training_follow_up_is_censored_at_its_end() -> None:
    """sksurv refuses a test death where the training split's censoring curve is zero; the score censors the
    test follow-up at the training split's last time first, as the IPCW scores of notebook 11 do."""
    train_time, train_event = np.array([5.0, 10, 20, 30, 40]), np.array([1, 0, 1, 0, 0], dtype=bool)
    test_time, test_event = np.array([8.0, 15, 25, 35, 50]), np.array([1, 1, 0, 1, 1], dtype=bool)
    risk = np.array([0.9, 0.7, 0.2, 0.6, 0.5])
    with pytest.raises(ValueError, match="censoring survival function is zero"):
        cumulative_dynamic_auc(
            Surv.from_arrays(train_event, train_time), Surv.from_arrays(test_event, test_time), risk, 36
        )
    table = cumulative_dynamic_auc_at(train_time, train_event, test_time, test_event, risk, (12, 24, 36))
    cut = cumulative_dynamic_auc_at(
        train_time, train_event, np.minimum(test_time, 40), test_event & (test_time < 40), risk, (12, 24, 36)
    )
    pd.testing.assert_frame_equal(table, cut)
    assert table["auc"].notna().all()
