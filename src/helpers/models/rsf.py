"""Random survival forest of the paper's step 05: node-size tuning, fitting and horizon predictions.

The paper fits randomForestSRC (ntree 345, nodesize tuned on OOB error by tune.nodesize,
nsplit 11) on the selected PCs and reads the predicted survival probability at 1, 2 and 3
years, scored by ROC AUC and accuracy on the training and test splits. Here the forest is
scikit-survival's, with node size = ``min_samples_leaf`` tuned on the out-of-bag error
(1 - Harrell's C, randomForestSRC's survival error rate), the predictions are long-format
death probabilities 1 - S(t) per patient and horizon, out of bag for the forest's own training
patients (``forest_predictions``, randomForestSRC's ``survival.oob``) (``helpers.evaluation.survival`` scores
them; ``helpers.models.crossfit`` cross-fits them for the rigorous protocol's stacking).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sksurv.ensemble import ExtraSurvivalTrees, RandomSurvivalForest
from sksurv.functions import StepFunction

from helpers.vocabulary import HORIZONS_MONTHS, Splitting

Forest: TypeAlias = RandomSurvivalForest | ExtraSurvivalTrees
# Trees of each candidate forest when the node size is tuned: randomForestSRC's tune.nodesize grows
# ntreeTry = 100 per candidate, not the final forest's size (a third of the cost at the paper's 345).
TUNING_TREES = 100


@dataclass(frozen=True)
class NodeSizeTuning:
    """OOB error (1 - Harrell's C) per candidate node size, and the node size chosen."""

    table: pd.DataFrame
    best: int


def _forest(
    node_size: int,
    n_estimators: int,
    splitting: Splitting,
    random_state: int | None,
    n_jobs: int | None,
    oob_score: bool = False,
    low_memory: bool = False,
) -> Forest:
    """Unfitted forest whose only size limit is ``node_size`` cases per leaf."""
    # "exhaustive" searches every split point of each candidate feature (randomForestSRC's
    # nsplit = 0). "random" draws split points at random (extremely randomised trees), the
    # closest scikit-survival has to randomForestSRC's nsplit = 11, which draws 11 random
    # points per feature and keeps the best; ExtraSurvivalTrees draws one, and bootstraps
    # here (as randomForestSRC does) so that it has an out-of-bag error.
    forest = {"exhaustive": RandomSurvivalForest, "random": ExtraSurvivalTrees}.get(splitting)
    if forest is None:
        raise ValueError(f"splitting must be 'exhaustive' or 'random', not {splitting!r}")
    # min_samples_split = 2 x node size, the smallest node that two such leaves can come
    # from: scikit-survival's default of 6 would otherwise overrule node sizes 1 and 2.
    return forest(
        n_estimators=n_estimators,
        min_samples_leaf=node_size,
        min_samples_split=2 * node_size,
        bootstrap=True,
        oob_score=oob_score,
        random_state=random_state,
        n_jobs=n_jobs,
        low_memory=low_memory,
    )


def tune_node_size(
    X: pd.DataFrame,
    y: np.ndarray,
    node_sizes: tuple[int, ...] = (1, 3, 5, 10, 15, 20, 30),
    *,
    n_estimators: int = TUNING_TREES,
    splitting: Splitting = "exhaustive",
    random_state: int | None = None,
    n_jobs: int | None = None,
) -> NodeSizeTuning:
    """OOB error of a forest per node size; best = the minimum, ties going to the larger node size (smaller model).

    ``n_estimators`` is each candidate's number of trees (randomForestSRC's ntreeTry). Every candidate uses the
    same ``random_state``, hence the same bootstrap samples, so the
    errors differ by node size rather than by resampling noise. The candidates are fitted in
    scikit-survival's low-memory mode: the OOB error needs only the risk score, and storing
    every leaf's survival curve costs memory that grows with patients squared (7.6 GB for node
    size 1 at 1,232 training patients, against 0.3 GB; the same OOB score to the last bit).
    """
    errors = [
        1.0
        - _forest(size, n_estimators, splitting, random_state, n_jobs, oob_score=True, low_memory=True)
        .fit(X, y)
        .oob_score_
        for size in node_sizes
    ]
    table = pd.DataFrame({"node_size": list(node_sizes), "oob_error": errors})
    best = table.loc[table["oob_error"] == table["oob_error"].min(), "node_size"].max()
    return NodeSizeTuning(table=table, best=int(best))


def fit_rsf(
    X: pd.DataFrame,
    y: np.ndarray,
    node_size: int,
    *,
    n_estimators: int = 345,
    splitting: Splitting = "exhaustive",
    random_state: int | None = None,
    n_jobs: int | None = None,
) -> Forest:
    """Random survival forest (or extra survival trees) with ``node_size`` cases per leaf at least, fitted on (X, y)."""
    return _forest(node_size, n_estimators, splitting, random_state, n_jobs).fit(X, y)


def _survival_at(function: StepFunction, t: float) -> float:
    """S(t) of a predicted step function: 1 before its first time, its last value after its last time."""
    if t < function.x[0]:
        return 1.0
    return float(function(min(t, function.x[-1])))


def death_probabilities(model: Forest, X: pd.DataFrame, horizons: tuple[int, ...] = HORIZONS_MONTHS) -> pd.DataFrame:
    """Long table patient_id (X's index), horizon_months, probability = 1 - S(horizon) predicted by ``model``."""
    # One thread: parallel prediction adds the trees' curves in a scheduling-dependent order,
    # so the same forest would give probabilities differing in the last bit from run to run.
    functions = copy.copy(model).set_params(n_jobs=1).predict_survival_function(X, return_array=False)
    survival = np.array([[_survival_at(function, h) for h in horizons] for function in functions])
    wide = pd.DataFrame(
        1.0 - survival, index=pd.Index(X.index, name="patient_id"), columns=pd.Index(horizons, name="horizon_months")
    )
    return wide.stack().rename("probability").reset_index()


def out_of_bag_death_probabilities(
    model: Forest, X_train: pd.DataFrame, horizons: tuple[int, ...] = HORIZONS_MONTHS
) -> pd.DataFrame:
    """1 - S(horizon) of each training patient from the trees whose bootstrap sample left it out.

    randomForestSRC's out-of-bag ensemble (``survival.oob``), which the paper's near-equal training and
    test AUCs suggest it reported: each tree's survival curve on the forest's event times, averaged over
    the trees that never saw the patient. ``X_train``: the rows the forest was fitted on, in that order.
    Columns: patient_id (X_train's index), horizon_months, probability.
    """
    n = len(X_train)
    values = np.asarray(X_train, dtype=np.float32)
    total, count = np.zeros((n, len(model.unique_times_))), np.zeros(n)
    for tree, in_bag in zip(model.estimators_, model.estimators_samples_):
        out_of_bag = np.setdiff1d(np.arange(n), in_bag)
        total[out_of_bag] += tree.predict_survival_function(values[out_of_bag], return_array=True)
        count[out_of_bag] += 1
    if (count == 0).any():
        raise ValueError(f"{int((count == 0).sum())} training patient(s) were in every tree's bootstrap sample")
    survival = total / count[:, None]
    position = np.searchsorted(model.unique_times_, np.asarray(horizons, float), side="right") - 1
    at_horizons = np.where(position >= 0, survival[:, np.maximum(position, 0)], 1.0)
    wide = pd.DataFrame(
        1.0 - at_horizons,
        index=pd.Index(X_train.index, name="patient_id"),
        columns=pd.Index(horizons, name="horizon_months"),
    )
    return wide.stack().rename("probability").reset_index()


def forest_predictions(model: Forest, X_train: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
    """Death probabilities for every patient of ``X`` (in X's order): out of bag for those among the forest's
    training patients (``X_train``, in fit order), from the whole forest for the others. Columns as
    ``death_probabilities``."""
    others = X.loc[~X.index.isin(X_train.index)]
    parts = []
    if X.index.isin(X_train.index).any():
        out_of_bag = out_of_bag_death_probabilities(model, X_train)
        parts.append(out_of_bag[out_of_bag["patient_id"].isin(X.index)])
    if len(others):
        parts.append(death_probabilities(model, others))
    predicted = pd.concat(parts, ignore_index=True)
    order = pd.Series(range(len(X)), index=X.index)
    return predicted.iloc[np.lexsort((predicted["horizon_months"], order[predicted["patient_id"]]))].reset_index(
        drop=True
    )


@dataclass(frozen=True)
class RadiomicsChain:
    """The whole radiomics chain (scaler, PCA, LASSO, node-size tuning, forest) as one fit-and-predict step.

    With several ``node_sizes`` the node size is tuned on the OOB error of the forest fitted to the
    training data passed in (each fold's own, when cross-fitted), never on the patients predicted.
    Training patients among those predicted get out-of-bag probabilities (``forest_predictions``).
    """

    reducer_params: dict
    node_sizes: tuple[int, ...]
    n_estimators: int
    splitting: Splitting
    random_state: int | None
    n_jobs: int | None
    tuning_trees: int = TUNING_TREES  # trees of each candidate forest of the node-size tuning

    def with_reducer(self, **params: Any) -> RadiomicsChain:
        """This chain with some reducer settings replaced: the ``centres`` of patients it will see (ComBat looks
        each one up), or ``harmonise`` and its options for a comparison."""
        return replace(self, reducer_params={**self.reducer_params, **params})

    def __call__(self, train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        """Fit every step on the training rows only, then predict ``test_X``."""
        from helpers.features.selection import RadiomicsReducer

        reducer = RadiomicsReducer(**self.reducer_params).fit(train_X, train_y)
        components = reducer.transform(train_X)
        node_size = self.node_sizes[0]
        if len(self.node_sizes) > 1:
            node_size = tune_node_size(
                components,
                train_y,
                self.node_sizes,
                n_estimators=self.tuning_trees,
                splitting=self.splitting,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            ).best
        forest = fit_rsf(
            components,
            train_y,
            node_size,
            n_estimators=self.n_estimators,
            splitting=self.splitting,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        return forest_predictions(forest, components, reducer.transform(test_X))


def radiomics_chain(
    reducer_params: dict,
    node_sizes: tuple[int, ...],
    *,
    n_estimators: int = 345,
    tuning_trees: int = TUNING_TREES,
    splitting: Splitting = "random",
    random_state: int | None = None,
    n_jobs: int | None = None,
) -> RadiomicsChain:
    """A cross-fittable radiomics chain; one node size is used as given, several are tuned inside each fit."""
    if not node_sizes:
        raise ValueError("the radiomics chain needs at least one node size")
    return RadiomicsChain(
        reducer_params, tuple(node_sizes), n_estimators, splitting, random_state, n_jobs, tuning_trees
    )
