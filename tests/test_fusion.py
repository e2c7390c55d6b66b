"""Decision-level fusion: input encoding, leakage, selection, Table 2 layout and importances."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

from helpers.models.fusion import (
    FEATURES,
    FUSION_MODELS,
    RpartTree,
    choose_best,
    cv_scores,
    fit_fusion,
    fusion_features,
    gini_importance,
    make_model,
    permutation_importance_table,
    predict_fusion,
    table2,
)
from helpers.vocabulary import MODEL_LABELS


def _long(ids: list[str], probabilities: list[float], horizon: int = 12) -> pd.DataFrame:
    """Long base-model predictions at one horizon."""
    return pd.DataFrame({"patient_id": ids, "horizon_months": horizon, "probability": probabilities})


def _cohort() -> pd.DataFrame:
    """Three patients coded as helpers.data and helpers.synthetic write them."""
    return pd.DataFrame(
        {
            "patient_id": ["p1", "p2", "p3"],
            "age": [61, 74, 55],
            "gender": ["male", "female", "male"],
            "T": ["T1", "T3", "T4"],
            "N": ["N0", "N2", "N1"],
            "M": ["M0", "M1", "M0"],
        }
    )


def _training_data(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Fusion inputs with a label driven by the two probabilities and T stage."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "radiomics": rng.random(n),
            "densenet": rng.random(n),
            "age": rng.normal(65, 9, n).round(),
            "gender_male": rng.integers(0, 2, n),
            "T": rng.integers(1, 5, n),
            "N": rng.integers(0, 3, n),
            "M": rng.integers(0, 2, n),
        },
        index=pd.Index([f"p{i:03d}" for i in range(n)], name="patient_id"),
    )
    risk = 2.5 * X["radiomics"] + 1.5 * X["densenet"] + 0.4 * X["T"] - 3.0
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-risk))).astype(float), index=X.index, name="label")
    return X, y


def test_fusion_features_encoding_by_hand() -> None:
    """male -> 1, female -> 0; T1-T4 -> 1-4; N0-N2 -> 0-2; M0/M1 -> 0/1; probabilities at the horizon
    only (the 24-month rows are ignored); the cohort's order and patient_id index."""
    radiomics = pd.concat([_long(["p3", "p1", "p2"], [0.3, 0.1, 0.2]), _long(["p1", "p2", "p3"], [0.9] * 3, 24)])
    densenet = _long(["p1", "p2", "p3"], [0.4, 0.5, 0.6])
    X = fusion_features(_cohort(), radiomics, densenet, horizon=12)
    expected = pd.DataFrame(
        {
            "radiomics": [0.1, 0.2, 0.3],
            "densenet": [0.4, 0.5, 0.6],
            "age": [61.0, 74.0, 55.0],
            "gender_male": [1, 0, 1],
            "T": [1, 3, 4],
            "N": [0, 2, 1],
            "M": [0, 1, 0],
        },
        index=pd.Index(["p1", "p2", "p3"], name="patient_id"),
    )
    pd.testing.assert_frame_equal(X, expected)
    assert tuple(X.columns) == FEATURES


def test_missing_clinical_values_and_predictions_name_the_patients() -> None:
    """A missing T (TX), an unknown M code and a missing DenseNet prediction raise one error naming each patient."""
    cohort = _cohort()
    cohort.loc[1, "T"] = None
    cohort.loc[2, "M"] = "M2"
    radiomics = _long(["p1", "p2", "p3"], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError) as error:
        fusion_features(cohort, radiomics, _long(["p1", "p3"], [0.4, 0.6]), horizon=12)
    message = str(error.value)
    assert "missing T for ['p2']" in message
    assert "unrecognised M ['M2']" in message and "['p3']" in message
    assert "no densenet probability at 12 months for ['p2']" in message


def test_make_model_protocols() -> None:
    """paper: plain estimators, LR and SVM behind a scaler; rigorous: stratified 5-fold AUC grid search."""
    paper = {name: make_model(name, "paper", 0) for name in FUSION_MODELS}
    assert paper["logistic_regression"].steps[0][0] == "scale"
    assert paper["logistic_regression"].get_params()["lr__C"] == np.inf  # R's glm: no penalty
    assert paper["svm"].steps[0][0] == "scale"
    forest = paper["random_forest"].get_params()
    assert forest["random_state"] == 0 and forest["n_estimators"] == 500 and forest["min_samples_leaf"] == 1
    rigorous = make_model("svm", "rigorous", 0)
    assert isinstance(rigorous, GridSearchCV) and rigorous.scoring == "roc_auc"
    assert rigorous.cv.n_splits == 5 and rigorous.cv.shuffle
    with pytest.raises(ValueError, match="unknown fusion model"):
        make_model("xgboost", "paper", 0)


def test_rigorous_fusion_never_sees_test_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every grid search is fitted on exactly the training patients with a known label: the spy on
    GridSearchCV.fit records the rows it receives; the unknown-label patients are dropped with a
    warning giving their count; predicting the test split fits nothing."""
    X, y = _training_data(90, seed=1)
    train_ids, test_ids = X.index[:60], X.index[60:]
    y.loc[train_ids[:4]] = np.nan  # censored before the horizon
    seen: list[pd.Index] = []
    original = GridSearchCV.fit

    def spy(self: GridSearchCV, X_fit: pd.DataFrame, y_fit: pd.Series, **kwargs: object) -> GridSearchCV:
        seen.append(X_fit.index)
        assert y_fit.index.equals(X_fit.index) and not y_fit.isna().any()
        return original(self, X_fit, y_fit, **kwargs)

    monkeypatch.setattr(GridSearchCV, "fit", spy)
    with pytest.warns(UserWarning, match="left out 4 training patient"):
        models = fit_fusion(X.loc[train_ids], y.loc[train_ids], "rigorous", random_state=0)
    assert len(seen) == len(FUSION_MODELS)
    assert all(ids.equals(train_ids[4:]) for ids in seen)
    predictions = predict_fusion(models, X.loc[test_ids])
    assert len(seen) == len(FUSION_MODELS)
    assert set(predictions["patient_id"]).isdisjoint(set().union(*seen))
    assert predictions.groupby("model").size().to_dict() == {name: 30 for name in FUSION_MODELS}
    assert predictions["probability"].between(0, 1).all()
    assert set(cv_scores(models)["model"]) == set(FUSION_MODELS)


def test_fusion_is_deterministic_given_random_state() -> None:
    """Same data and random_state: identical predictions from every model (paper protocol)."""
    X, y = _training_data(80, seed=2)
    first = predict_fusion(fit_fusion(X, y, "paper", random_state=3), X)
    second = predict_fusion(fit_fusion(X, y, "paper", random_state=3), X)
    pd.testing.assert_frame_equal(first, second)


def test_choose_best_under_both_protocols() -> None:
    """Hand table: RF has the best mean test AUC (0.80) but the worst train AUC; LR has the best
    mean cross-validated AUC (0.75). Base models are never chosen, however high their AUC."""
    rows = []
    test_auc = {
        "logistic_regression": (0.70, 0.72),
        "random_forest": (0.79, 0.81),
        "svm": (0.74, 0.74),
        "decision_tree": (0.60, 0.62),
        "radiomics": (0.95, 0.95),
    }
    for model, aucs in test_auc.items():
        for horizon, auc in zip((12, 24), aucs):
            rows += [
                {"model": model, "split": "test", "horizon_months": horizon, "auc": auc},
                {"model": model, "split": "train", "horizon_months": horizon, "auc": 0.9 - auc / 10},
            ]
    table = pd.DataFrame(rows)
    cv = pd.DataFrame(
        {
            "model": list(FUSION_MODELS) * 2,
            "horizon_months": [12] * 4 + [24] * 4,
            "cv_auc": [0.74, 0.70, 0.73, 0.65, 0.76, 0.72, 0.73, 0.66],
        }
    )
    name, reason = choose_best(table, "paper")
    assert name == "random_forest" and "test-set selection" in reason and "0.800" in reason
    name, reason = choose_best(table, "rigorous", cv)
    assert name == "logistic_regression" and "cross-validated training AUC (0.750)" in reason
    with pytest.raises(ValueError, match="pass cv"):
        choose_best(table, "rigorous")


def _metrics(shift: float) -> pd.DataFrame:
    """A horizon_metrics-shaped table: train then test at 12, 24, 36 months."""
    return pd.DataFrame(
        [
            {
                "split": split,
                "horizon_months": h,
                "threshold": 0.5,
                "auc": 0.7 + shift + h / 1000,
                "accuracy": 0.6 + shift,
                "n": 100,
            }
            for split in ("train", "test")
            for h in (12, 24, 36)
        ]
    )


def test_table2_layout() -> None:
    """Rows (split, model): train block then test block, each Radiomics, 3D-DenseNet, Fusion LR, RF,
    SVM, DT; 36 filled cells per split; a model missing a horizon is an error."""
    rows = {key: _metrics(0.01 * i) for i, key in enumerate(MODEL_LABELS)}
    table = table2(rows)
    labels = ["Radiomics", "3D-DenseNet", "Fusion LR", "Fusion RF", "Fusion SVM", "Fusion DT"]
    assert table.index.tolist() == [(split, label) for split in ("train", "test") for label in labels]
    assert table.columns.tolist() == [(f"{y}-year", m) for y in (1, 2, 3) for m in ("AUC", "Accuracy")]
    for split in ("train", "test"):
        assert table.loc[split].size == 36 and table.loc[split].notna().all().all()
    assert table.loc[("test", "Fusion RF"), ("2-year", "AUC")] == pytest.approx(0.7 + 0.03 + 0.024)
    rows["svm"] = rows["svm"][rows["svm"]["horizon_months"] != 36]
    with pytest.raises(ValueError, match="svm has no train metrics at 36 months"):
        table2(rows)
    with pytest.raises(ValueError, match="missing \\['densenet'\\]"):
        table2({key: frame for key, frame in rows.items() if key != "densenet"})


def test_importances() -> None:
    """Gini importances sum to 1 and rank the two informative probabilities first; permutation
    importance (test AUC drop) lists every input; a non-forest is refused."""
    X, y = _training_data(300, seed=4)
    models = fit_fusion(X.iloc[:200], y.iloc[:200], "paper", random_state=0)
    gini = gini_importance(models["random_forest"], list(X.columns))
    assert gini["importance"].sum() == pytest.approx(1.0)
    assert set(gini["feature"].iloc[:2]) == {"radiomics", "densenet"}
    perm = permutation_importance_table(
        models["random_forest"], X.iloc[200:], y.iloc[200:], random_state=0, n_repeats=5
    )
    assert set(perm["feature"]) == set(FEATURES)
    assert perm["feature"].iloc[0] in ("radiomics", "densenet")
    with pytest.raises(TypeError, match="random forest"):
        gini_importance(models["decision_tree"], list(X.columns))


def test_the_paper_tree_has_rparts_defaults() -> None:
    """minsplit 20, minbucket 7, and cp 0.01 as cost-complexity alpha = cp x root Gini: no leaf under 7 patients,
    fewer leaves than a fully grown tree, and a tree a larger cp prunes further."""
    X, y = _training_data(300, seed=4)
    tree = make_model("decision_tree", "paper", 0).fit(X, y)
    share = y.mean()
    assert tree.ccp_alpha == pytest.approx(0.01 * 2 * share * (1 - share))
    leaves = tree.apply(X)
    assert np.bincount(leaves)[np.unique(leaves)].min() >= 7
    grown = DecisionTreeClassifier(random_state=0).fit(X, y)
    assert tree.get_n_leaves() < grown.get_n_leaves() / 3
    assert RpartTree(cp=0.05, random_state=0).fit(X, y).get_n_leaves() <= tree.get_n_leaves()


def test_a_weight_of_two_is_a_duplicated_patient_for_the_paper_logistic_regression() -> None:
    """IPCW enters each classifier as a sample weight: for the unpenalised logistic regression a weight of 2 is
    exactly the same fit as the patient listed twice."""
    X, y = _training_data(120, seed=4)
    weights = pd.Series(np.where(np.arange(120) % 3 == 0, 2.0, 1.0), index=X.index)
    weighted = fit_fusion(X, y, "paper", random_state=0, weights=weights)["logistic_regression"]
    doubled = X.index[weights.to_numpy() == 2.0]
    duplicated = fit_fusion(pd.concat([X, X.loc[doubled]]), pd.concat([y, y.loc[doubled]]), "paper", 0)
    # equal up to lbfgs's tolerance (the scaler, which ignores weights, does not change an unpenalised fit)
    np.testing.assert_allclose(
        weighted.predict_proba(X)[:, 1], duplicated["logistic_regression"].predict_proba(X)[:, 1], atol=1e-3
    )
    plain = fit_fusion(X, y, "paper", random_state=0)["logistic_regression"]
    assert np.abs(weighted.predict_proba(X)[:, 1] - plain.predict_proba(X)[:, 1]).max() > 1e-2


def test_rigorous_weights_reach_every_classifier_and_the_grid_search_score(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under IPCW every estimator inside the pipelines and grid searches receives the training rows' weights, and
    the cross-validated AUC that picks the model is the weighted one."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    received: dict[str, bool] = {}
    for cls in (LogisticRegression, RandomForestClassifier, SVC, DecisionTreeClassifier):
        original = cls.fit

        @functools.wraps(original)  # keeps fit's signature, which metadata routing reads
        def spy(self, X, y, sample_weight=None, _original=original, _name=cls.__name__, **kwargs):  # type: ignore[no-untyped-def]
            received[_name] = received.get(_name, True) and sample_weight is not None
            return _original(self, X, y, sample_weight=sample_weight, **kwargs)

        monkeypatch.setattr(cls, "fit", spy)
    X, y = _training_data(90, seed=5)
    weights = pd.Series(np.random.default_rng(0).uniform(1, 3, 90), index=X.index)
    weighted = fit_fusion(X, y, "rigorous", random_state=0, weights=weights)
    assert received == dict.fromkeys(
        ("LogisticRegression", "RandomForestClassifier", "SVC", "DecisionTreeClassifier"), True
    )
    monkeypatch.undo()
    plain = fit_fusion(X, y, "rigorous", random_state=0)
    assert not np.allclose(cv_scores(weighted)["cv_auc"], cv_scores(plain)["cv_auc"])
