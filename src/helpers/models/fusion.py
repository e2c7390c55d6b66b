"""Decision-level fusion of the paper's step 07: base-model probabilities + clinical variables -> four classifiers.

Per horizon (1, 2, 3 years) the paper feeds [radiomics probability, DenseNet probability,
gender, age, T, N, M] to logistic regression, random forest, SVM and a decision tree, reports
AUC and accuracy on both splits (Table 2) and the random forest's Mean Decrease Gini (Fig. 8).

Encoding (``fusion_features``): one column per input, as the paper's seven-bar importance plot
implies: gender_male 1 = male, 0 = female; T stage ordinal 1-4 (T1-T4), N stage 0-2 (N0-N2),
M stage 0/1 (M0/M1); age in years; the two base-model probabilities of death by the horizon.

Models (``make_model``): under ``paper`` R's defaults (``_paper_models``: glm, randomForest,
e1071, rpart), the paper's software; logistic regression and the SVM sit behind a StandardScaler
(age in years next to 0/1 codes would otherwise dominate the L2 penalty and the RBF distance), and the SVM's probabilities come from Platt scaling on
internal 5-fold cross-validation, ``CalibratedClassifierCV(SVC(), ensemble=False)``, scikit-learn
1.9's replacement for the deprecated ``SVC(probability=True)``. Under ``rigorous`` each model is a
``GridSearchCV`` over a small grid, stratified 5-fold on the training split only, scored by ROC
AUC and refitted on the whole training split; its cross-validated AUC picks the best model.

Censoring (``fit_fusion``'s weights): under ``ipcw`` labels, which the rigorous arm always uses, every
classifier is fitted with each patient's inverse-probability-of-censoring weight (scikit-learn's
metadata routing passes them to the estimator inside the pipeline and the grid search) and the grid
search scores its folds by the weighted AUC, so the patients censored before a horizon are stood for by
those followed as long instead of being dropped or called survivors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from helpers.data.outcomes import arm_label_policy, fitting_weights, horizon_label_frame, split_weight_frame
from helpers.evaluation.binary import arm_thresholds, horizon_metrics
from helpers.vocabulary import FUSION_CV_FOLDS, HORIZONS_MONTHS, MODEL_LABELS, PREDICTION_COLUMNS, LabelPolicy, Protocol

FUSION_MODELS = ("logistic_regression", "random_forest", "svm", "decision_tree")
FEATURES = ("radiomics", "densenet", "age", "gender_male", "T", "N", "M")

CLINICAL_CODES: dict[str, dict[str, int]] = {
    "gender": {"male": 1, "female": 0},
    "T": {"T1": 1, "T2": 2, "T3": 3, "T4": 4},
    "N": {"N0": 0, "N1": 1, "N2": 2},
    "M": {"M0": 0, "M1": 1},
}
# Small grids around the defaults, for a few hundred patients and seven inputs.
PARAM_GRIDS: dict[str, dict[str, list[Any]]] = {
    "logistic_regression": {"lr__C": [0.01, 0.1, 1.0, 10.0, 100.0]},
    "random_forest": {"max_depth": [None, 4], "min_samples_leaf": [1, 10, 30]},
    "svm": {"svm__estimator__C": [0.1, 1.0, 10.0], "svm__estimator__gamma": ["scale", 0.01, 0.1]},
    "decision_tree": {"max_depth": [2, 3, 4, 6, None], "min_samples_leaf": [1, 10, 30]},
}


def _by_patient(predictions: pd.DataFrame, horizon: int, name: str) -> pd.Series:
    """One base model's probability per patient at ``horizon`` from long predictions."""
    rows = predictions[predictions["horizon_months"] == horizon]
    repeated = rows["patient_id"][rows["patient_id"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(f"{name} predictions repeat patients at {horizon} months: {repeated[:20]}")
    return rows.set_index("patient_id")["probability"].rename(name)


def fusion_features(
    cohort: pd.DataFrame, radiomics_pred: pd.DataFrame, densenet_pred: pd.DataFrame, horizon: int
) -> pd.DataFrame:
    """The cohort's fusion inputs at ``horizon``: index patient_id, columns FEATURES, coded as in the module docstring.

    A patient without a base-model prediction or with a missing or unrecognised clinical value
    raises an error naming the patients, rather than being dropped silently.
    """
    clinical = cohort.set_index("patient_id")
    if not clinical.index.is_unique:
        raise ValueError("cohort needs one row per patient_id")
    frame = pd.DataFrame(index=clinical.index)
    problems = []
    for name, predictions in (("radiomics", radiomics_pred), ("densenet", densenet_pred)):
        frame[name] = _by_patient(predictions, horizon, name).reindex(frame.index)
        if frame[name].isna().any():
            absent = frame.index[frame[name].isna()].tolist()
            problems.append(f"no {name} probability at {horizon} months for {absent[:20]}")
    frame["age"] = clinical["age"].astype(float)
    if frame["age"].isna().any():
        problems.append(f"missing age for {frame.index[frame['age'].isna()].tolist()[:20]}")
    for variable, codes in CLINICAL_CODES.items():
        column = "gender_male" if variable == "gender" else variable
        values = clinical[variable]
        frame[column] = values.map(codes)
        if values.isna().any():
            problems.append(f"missing {variable} for {values.index[values.isna()].tolist()[:20]}")
        unknown = values.notna() & frame[column].isna()
        if unknown.any():
            problems.append(
                f"unrecognised {variable} {sorted(set(values[unknown].astype(str)))} "
                f"(expected {list(codes)}) for {values.index[unknown].tolist()[:20]}"
            )
    if problems:
        raise ValueError("cannot build fusion inputs: " + "; ".join(problems))
    return frame.astype({column: int for column in ("gender_male", "T", "N", "M")})[list(FEATURES)]


class RpartTree(DecisionTreeClassifier):
    """A classification tree with R rpart's defaults: minsplit 20, minbucket 7 and complexity ``cp`` 0.01.

    rpart keeps a split only if it lowers the tree's relative risk by ``cp``; scikit-learn's cost-complexity
    pruning is the same idea on the Gini impurity, so ``ccp_alpha`` is set to ``cp`` x the root's Gini
    impurity at each fit (rpart measures its risk by misclassification: an analogue, not a copy).
    """

    def __init__(self, *, cp: float = 0.01, random_state: int | None = None) -> None:
        super().__init__(min_samples_split=20, min_samples_leaf=7, random_state=random_state)
        self.cp = cp

    def fit(self, X: Any, y: Any, sample_weight: Any = None, check_input: bool = True) -> RpartTree:
        """Fit with ``ccp_alpha`` = cp x the (weighted) Gini impurity of ``y``."""
        share = float(np.average(np.asarray(y) == np.unique(y)[0], weights=sample_weight))
        self.ccp_alpha = self.cp * 2 * share * (1 - share)
        super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
        return self


def _paper_models(random_state: int | None) -> dict[str, Callable[[], ClassifierMixin]]:
    """The paper arm's classifiers with R's defaults, the nearest analogue of what the paper most plausibly ran
    (its training AUCs, tree 0.90-0.92 and forest 0.97-0.98, are those of regularised models, not fully grown
    ones): unpenalised logistic regression (glm), randomForest (500 trees, nodesize 1, mtry sqrt(p)), e1071's
    radial SVM (cost 1, gamma 1/p on standardised inputs, Platt probabilities) and rpart (``RpartTree``)."""
    return {
        "logistic_regression": lambda: Pipeline(
            [("scale", StandardScaler()), ("lr", LogisticRegression(C=np.inf, max_iter=1000))]
        ),
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=500, min_samples_leaf=1, max_features="sqrt", random_state=random_state
        ),
        "svm": lambda: Pipeline(
            [("scale", StandardScaler()), ("svm", CalibratedClassifierCV(SVC(C=1.0, gamma="auto"), ensemble=False))]
        ),
        "decision_tree": lambda: RpartTree(random_state=random_state),
    }


def make_model(name: str, protocol: Protocol, random_state: int | None) -> ClassifierMixin:
    """Unfitted fusion classifier ``name``: R's defaults ("paper") or a stratified 5-fold AUC grid search around
    scikit-learn's defaults ("rigorous")."""
    if protocol not in ("paper", "rigorous"):
        raise ValueError(f"protocol must be 'paper' or 'rigorous', not {protocol!r}")
    models = {
        "logistic_regression": lambda: Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]),
        "random_forest": lambda: RandomForestClassifier(random_state=random_state),
        "svm": lambda: Pipeline([("scale", StandardScaler()), ("svm", CalibratedClassifierCV(SVC(), ensemble=False))]),
        "decision_tree": lambda: DecisionTreeClassifier(random_state=random_state),
    }
    if name not in models:
        raise ValueError(f"unknown fusion model {name!r}; valid models are {', '.join(FUSION_MODELS)}")
    if protocol == "paper":
        return _paper_models(random_state)[name]()
    folds = StratifiedKFold(FUSION_CV_FOLDS, shuffle=True, random_state=random_state)
    return GridSearchCV(models[name](), PARAM_GRIDS[name], scoring="roc_auc", cv=folds, error_score="raise")


def with_weights(estimator: BaseEstimator) -> BaseEstimator:
    """``estimator`` set to take ``sample_weight`` at fit (and a grid search to score by the weighted AUC), through
    scikit-learn's metadata routing: call it, and fit, inside ``config_context(enable_metadata_routing=True)``.
    Scalers ignore the weights; every classifier, and the SVM inside its Platt calibration, uses them."""
    if isinstance(estimator, GridSearchCV):
        scorer = make_scorer(roc_auc_score, response_method="predict_proba").set_score_request(sample_weight=True)
        estimator.set_params(scoring=scorer)
        with_weights(estimator.estimator)
        return estimator
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            step.set_fit_request(sample_weight=False)
        with_weights(estimator.steps[-1][1])
        return estimator
    if isinstance(estimator, CalibratedClassifierCV):
        with_weights(estimator.estimator)
    return estimator.set_fit_request(sample_weight=True)


def fit_fusion(
    train_X: pd.DataFrame,
    train_y: pd.Series,
    protocol: Protocol,
    random_state: int | None,
    weights: pd.Series | None = None,
) -> dict[str, ClassifierMixin]:
    """Every fusion model fitted on the training rows with a known label (NaN labels dropped, with a warning),
    each row weighted by ``weights`` (same index as ``train_X``; the IPCW weights of the rigorous arm) if given."""
    if not train_y.index.equals(train_X.index):
        raise ValueError("train_y must have the same index (patient_id, same order) as train_X")
    if weights is not None and not weights.index.equals(train_X.index):
        raise ValueError("weights must have the same index (patient_id, same order) as train_X")
    unknown = train_y.isna()
    if unknown.any():
        warnings.warn(
            f"fit_fusion: left out {int(unknown.sum())} training patient(s) whose label is unknown "
            f"at this horizon (censored before it): {train_y.index[unknown].tolist()[:10]}",
            stacklevel=2,
        )
    X, y = train_X.loc[~unknown], train_y.loc[~unknown].astype(int)
    if y.nunique() < 2:
        raise ValueError("fit_fusion needs both outcomes among the known training labels")
    if weights is None:
        return {name: make_model(name, protocol, random_state).fit(X, y) for name in FUSION_MODELS}
    w = weights.loc[~unknown].to_numpy(dtype=float)
    with config_context(enable_metadata_routing=True):
        return {
            name: with_weights(make_model(name, protocol, random_state)).fit(X, y, sample_weight=w)
            for name in FUSION_MODELS
        }


def predict_fusion(models: Mapping[str, ClassifierMixin], X: pd.DataFrame) -> pd.DataFrame:
    """Long predictions: patient_id (X's index), model, probability of label 1 (death by the horizon)."""
    parts = []
    for name, model in models.items():
        probability = model.predict_proba(X)[:, list(model.classes_).index(1)]
        parts.append(pd.DataFrame({"patient_id": X.index, "model": name, "probability": probability}))
    return pd.concat(parts, ignore_index=True)


def cv_scores(models: Mapping[str, GridSearchCV]) -> pd.DataFrame:
    """Cross-validated training AUC of each grid-searched model (rigorous protocol): model, cv_auc."""
    missing = [name for name, model in models.items() if not isinstance(model, GridSearchCV)]
    if missing:
        raise ValueError(f"no cross-validated AUC for {missing}: fit them under the rigorous protocol")
    return pd.DataFrame({"model": list(models), "cv_auc": [float(m.best_score_) for m in models.values()]})


def _best_by_mean(table: pd.DataFrame, column: str) -> tuple[str, float]:
    """The fusion model with the highest mean ``column`` (over horizons); ties go to the earlier of FUSION_MODELS."""
    means = table[table["model"].isin(FUSION_MODELS)].groupby("model")[column].mean()
    missing = [name for name in FUSION_MODELS if name not in means.index]
    if missing:
        raise ValueError(f"no {column} for fusion model(s) {missing}")
    means = means.reindex(list(FUSION_MODELS))
    return str(means.idxmax()), float(means.max())


def choose_best(table: pd.DataFrame, protocol: Protocol, cv: pd.DataFrame | None = None) -> tuple[str, str]:
    """Best fusion model and why: highest mean test AUC ("paper", as published) or CV training AUC ("rigorous").

    ``table``: long metrics with columns model, split, auc (and horizon_months); ``cv``: the
    ``cv_scores`` rows (model, cv_auc, and horizon_months when several horizons), needed under
    "rigorous". Means are taken over the horizons present.
    """
    if protocol == "paper":
        name, value = _best_by_mean(table[table["split"] == "test"], "auc")
        return name, (
            f"highest mean test AUC ({value:.3f}): test-set selection, as published; the test split "
            "that picks the model also scores it, so its test AUC is optimistic"
        )
    if protocol == "rigorous":
        if cv is None:
            raise ValueError("the rigorous protocol chooses on cross-validated training AUC: pass cv")
        name, value = _best_by_mean(cv, "cv_auc")
        return name, (
            f"highest mean {FUSION_CV_FOLDS}-fold cross-validated training AUC ({value:.3f}); "
            "the test split plays no part in the choice"
        )
    raise ValueError(f"protocol must be 'paper' or 'rigorous', not {protocol!r}")


def table2(rows: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's Table 2: rows (split, model) in the paper's order, columns (horizon, AUC/Accuracy).

    ``rows`` maps each of MODEL_LABELS' keys to its ``helpers.evaluation.binary.horizon_metrics`` table;
    every model needs both splits at 12, 24 and 36 months, so each split has 6 x 3 x 2 = 36 cells.
    Index levels split, model (MODEL_LABELS' labels); column levels horizon ("1-year", "2-year", "3-year") and
    metric ("AUC", "Accuracy").
    """
    unknown = sorted(set(rows) - set(MODEL_LABELS))
    absent = [key for key in MODEL_LABELS if key not in rows]
    if unknown or absent:
        raise ValueError(f"table2 needs exactly the models {list(MODEL_LABELS)}; unknown {unknown}, missing {absent}")
    records = []
    for split in ("train", "test"):
        for key, label in MODEL_LABELS.items():
            metrics = rows[key].set_index(["split", "horizon_months"])
            record: dict[tuple[str, str] | str, object] = {"split": split, "model": label}
            for horizon in HORIZONS_MONTHS:
                if (split, horizon) not in metrics.index:
                    raise ValueError(f"{key} has no {split} metrics at {horizon} months")
                cell = metrics.loc[(split, horizon)]
                record[(f"{horizon // 12}-year", "AUC")] = float(cell["auc"])
                record[(f"{horizon // 12}-year", "Accuracy")] = float(cell["accuracy"])
            records.append(record)
    table = pd.DataFrame(records).set_index(["split", "model"])
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["horizon", "metric"])
    return table


def gini_importance(rf_model: RandomForestClassifier | GridSearchCV, feature_names: list[str]) -> pd.DataFrame:
    """Mean decrease in Gini impurity per input (scikit-learn's ``feature_importances_``), largest first.

    scikit-learn normalises each tree's decreases to sum to 1 before averaging; R randomForest's
    MeanDecreaseGini (the paper's Fig. 8) averages the raw decreases, so compare ranks, not values.
    Columns: feature, importance.
    """
    forest = rf_model.best_estimator_ if isinstance(rf_model, GridSearchCV) else rf_model
    if not isinstance(forest, RandomForestClassifier):
        raise TypeError(f"gini_importance needs a random forest, not {type(forest).__name__}")
    if len(feature_names) != forest.n_features_in_:
        raise ValueError(f"{len(feature_names)} feature names for {forest.n_features_in_} inputs")
    table = pd.DataFrame({"feature": feature_names, "importance": forest.feature_importances_})
    return table.sort_values("importance", ascending=False, ignore_index=True)


def permutation_importance_table(
    model: ClassifierMixin,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    random_state: int | None,
    n_repeats: int = 30,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """Drop in test ROC AUC (weighted by ``weights`` if given) when each input is shuffled (mean, SD over
    ``n_repeats``), largest first; NaN labels out.

    Columns: feature, importance_mean, importance_std.
    """
    known = y_test.notna().to_numpy()
    result = permutation_importance(
        model,
        X_test.loc[known],
        y_test.loc[known].astype(int),
        scoring="roc_auc",
        n_repeats=n_repeats,
        random_state=random_state,
        sample_weight=None if weights is None else weights.loc[known].to_numpy(dtype=float),
    )
    table = pd.DataFrame(
        {
            "feature": X_test.columns,
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)


def base_inputs(final: pd.DataFrame, out_of_fold: pd.DataFrame | None, protocol: Protocol) -> pd.DataFrame:
    """A base model's probabilities fed to fusion, with columns patient_id, horizon_months, probability.

    Test rows come from the final model; training rows in-sample ("paper", as published: all of ``final``'s
    rows) or out-of-fold ("rigorous", from a model that never saw them).
    """
    columns = PREDICTION_COLUMNS
    if protocol == "paper":
        return final[columns]
    if out_of_fold is None:
        raise ValueError(
            "the rigorous protocol fuses out-of-fold training predictions; none were written "
            "(re-run notebooks 05 and 06, which write them for the rigorous arm)"
        )
    test = final[final["split"] != "train"][columns]
    return pd.concat([out_of_fold[columns], test], ignore_index=True)


BASE_PREDICTIONS = ("radiomics", "radiomics_oof", "densenet", "densenet_crossfit")


def arm_inputs(
    arm: Protocol, base: Mapping[str, pd.DataFrame]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(the base models an arm reports, what its fusion models are fitted on), each keyed radiomics, densenet.

    ``base``: notebooks 05 and 06's predictions keyed as BASE_PREDICTIONS. The paper arm reports and stacks on
    the final radiomics forest (its training rows out of bag, as randomForestSRC reports them) and the single
    network notebook 06 trained (in-sample training rows, epoch chosen on the test split); the rigorous arm
    reports the cross-fitted DenseNet (out-of-fold training rows, fold-mean test rows) and stacks on
    out-of-fold training predictions of both base models (the whole radiomics chain refitted per fold).
    """
    missing = [name for name in BASE_PREDICTIONS if name not in base]
    if missing:
        raise ValueError(f"the {arm} arm needs the base predictions {missing} (notebooks 05 and 06 write them)")
    if arm == "paper":
        shown = {"radiomics": base["radiomics"], "densenet": base["densenet"]}
        return shown, {name: frame[PREDICTION_COLUMNS] for name, frame in shown.items()}
    crossfit = base["densenet_crossfit"]
    shown = {"radiomics": base["radiomics"], "densenet": crossfit}
    inputs = {
        "radiomics": base_inputs(base["radiomics"], base["radiomics_oof"], "rigorous"),
        "densenet": base_inputs(crossfit, crossfit[crossfit["split"] == "train"], "rigorous"),
    }
    return shown, inputs


def out_of_fold_fusion(
    models: Mapping[str, GridSearchCV],
    train_X: pd.DataFrame,
    train_y: pd.Series,
    random_state: int | None,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """Cross-validated training predictions of each tuned fusion model (its chosen settings refitted per fold,
    with the ``weights`` it was fitted with).

    Patients with an unknown label were never fitted on, so the final model's prediction is already out of
    sample for them. Columns: patient_id, model, probability.
    """
    known = train_y.notna()
    folds = StratifiedKFold(FUSION_CV_FOLDS, shuffle=True, random_state=random_state)
    params = None if weights is None else {"sample_weight": weights.loc[known].to_numpy(dtype=float)}
    parts = []
    for name, model in models.items():
        estimator = model.best_estimator_ if isinstance(model, GridSearchCV) else model
        probability = pd.Series(model.predict_proba(train_X)[:, list(model.classes_).index(1)], index=train_X.index)
        with config_context(enable_metadata_routing=weights is not None):
            crossed = cross_val_predict(
                clone(estimator),
                train_X.loc[known],
                train_y.loc[known].astype(int),
                cv=folds,
                method="predict_proba",
                params=params,
            )
        probability.loc[known] = crossed[:, 1]
        parts.append(pd.DataFrame({"patient_id": train_X.index, "model": name, "probability": probability.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class Fused:
    """What ``fuse`` returns: predictions, fitted models, inputs, cross-validated AUCs and out-of-fold predictions."""

    predictions: pd.DataFrame  # patient_id, model, probability, horizon_months, split
    models: dict[int, dict[str, ClassifierMixin]]
    features: dict[int, pd.DataFrame]
    cv: pd.DataFrame | None  # model, cv_auc, horizon_months ("rigorous" only)
    oof: pd.DataFrame | None  # training split: patient_id, model, probability, horizon_months ("rigorous" only)


def fuse(
    cohort: pd.DataFrame,
    radiomics: pd.DataFrame,
    densenet: pd.DataFrame,
    labels: pd.DataFrame,
    protocol: Protocol,
    random_state: int | None,
    weights: pd.DataFrame | None = None,
) -> Fused:
    """Fit the four fusion models per horizon on the training split and predict every patient.

    ``labels``: index patient_id, one column per horizon (1, 0 or NaN = unknown); ``weights``: the same shape,
    the training patients' fitting weights (None: unweighted). Under "rigorous" the training split is also
    predicted out of fold (``out_of_fold_fusion``), for the cut-off search.
    """
    split = cohort.set_index("patient_id")["split"]
    predictions, models, inputs, cv, oof = [], {}, {}, [], []
    for horizon in HORIZONS_MONTHS:
        X = fusion_features(cohort, radiomics, densenet, horizon)
        train = X.index[split.reindex(X.index) == "train"]
        weight = None if weights is None else weights.loc[train, horizon]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="fit_fusion: left out")  # counted in notebook 01
            models[horizon] = fit_fusion(X.loc[train], labels.loc[train, horizon], protocol, random_state, weight)
        inputs[horizon] = X
        predictions.append(predict_fusion(models[horizon], X).assign(horizon_months=horizon))
        if protocol == "rigorous":
            cv.append(cv_scores(models[horizon]).assign(horizon_months=horizon))
            crossed = out_of_fold_fusion(
                models[horizon], X.loc[train], labels.loc[train, horizon], random_state, weight
            )
            oof.append(crossed.assign(horizon_months=horizon))
    long = pd.concat(predictions, ignore_index=True)
    long["split"] = long["patient_id"].map(split)
    return Fused(
        long,
        models,
        inputs,
        pd.concat(cv, ignore_index=True) if cv else None,
        pd.concat(oof, ignore_index=True) if oof else None,
    )


@dataclass(frozen=True)
class FusionResult:
    """The fusion step of one protocol: predictions, fitted models, inputs, scores and the reported model."""

    predictions: pd.DataFrame  # patient_id, split, horizon_months, model, probability (the four fusion models)
    models: dict[int, dict[str, ClassifierMixin]]  # horizon -> model name -> fitted model
    features: dict[int, pd.DataFrame]  # horizon -> patients x FEATURES, the models' inputs
    labels: pd.DataFrame  # patients x horizons: 1, 0 or NaN (unknown under the label policy)
    weights: pd.DataFrame  # patients x horizons: ``horizon_weights``, the censoring estimated within each split
    cv: pd.DataFrame | None  # cross-validated training AUCs (protocol "rigorous")
    oof: pd.DataFrame | None  # out-of-fold training predictions of the fusion models (protocol "rigorous")
    metrics: pd.DataFrame  # Table 2 in long form: horizon_metrics' columns plus model, for base and fusion models
    best: str
    reason: str

    def scores(self) -> dict[str, pd.DataFrame]:
        """Each model's rows of ``metrics`` (base models first, then the fusion models), as ``table2`` takes them.

        Keys: model keys; columns: split, horizon_months, threshold, auc, accuracy, n, model.
        """
        return {model: part for model, part in self.metrics.groupby("model", sort=False)}


def fuse_and_choose(
    cohort: pd.DataFrame,
    final: Mapping[str, pd.DataFrame],
    inputs: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    label_policy: LabelPolicy,
    random_state: int | None,
) -> FusionResult:
    """Fuse the base models' ``inputs`` (see ``base_inputs``), score every model on the train and test splits
    (external patients, when present, are predicted but not scored) and choose the reported one as ``protocol``
    does. ``final``: the base models' own predictions, scored beside the fusion models. Labels: the profile's
    ``label_policy`` under "paper", IPCW under "rigorous" (``arm_label_policy``), whose weights also enter the
    fit. Accuracy is taken at ``arm_thresholds``: 0.5 under "paper", the Youden cut-off of out-of-fold training
    predictions under "rigorous" (the base models' stacking inputs, the fusion models' own out-of-fold ones)."""
    policy = arm_label_policy(protocol, label_policy)
    cases = cohort.set_index("patient_id")
    labels = horizon_label_frame(cases["time_months"], cases["event"], policy)
    weights = split_weight_frame(cases, policy)
    fused = fuse(
        cohort, inputs["radiomics"], inputs["densenet"], labels, protocol, random_state, fitting_weights(cases, policy)
    )
    predictions = fused.predictions
    scored = cohort[cohort["split"] != "external"]
    scores = {
        name: horizon_metrics(
            frame[frame["split"] != "external"], scored, policy, arm_thresholds(protocol, inputs[name], scored, policy)
        )
        for name, frame in final.items()
    }
    for model in FUSION_MODELS:
        crossed = None if fused.oof is None else fused.oof[fused.oof["model"] == model]
        rows = predictions[(predictions["model"] == model) & (predictions["split"] != "external")]
        scores[model] = horizon_metrics(rows, scored, policy, arm_thresholds(protocol, crossed, scored, policy))
    long = pd.concat([table.assign(model=name) for name, table in scores.items()], ignore_index=True)
    best, reason = choose_best(long, protocol, fused.cv)
    return FusionResult(
        predictions, fused.models, fused.features, labels, weights, fused.cv, fused.oof, long, best, reason
    )


def by_arm(results: Mapping[str, FusionResult], table: str) -> pd.DataFrame:
    """One of the FusionResult tables ("predictions" or "metrics") of every arm, stacked with an ``arm`` column."""
    return pd.concat([getattr(result, table).assign(arm=arm) for arm, result in results.items()], ignore_index=True)


def arm_predictions(arm: Protocol, base: Mapping[str, pd.DataFrame], fused: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The six Table 2 models of one arm, keyed as MODEL_LABELS: the base models it reports (``arm_inputs``) and
    its four fusion models from notebook 07's predictions_fusion.parquet (columns patient_id, horizon_months,
    probability, split)."""
    rows = fused[fused["arm"] == arm]
    models = {model: rows[rows["model"] == model].drop(columns=["model", "arm"]) for model in FUSION_MODELS}
    return arm_inputs(arm, base)[0] | models
