"""Cross-fitted (out-of-fold) training predictions, which the rigorous protocol stacks on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sksurv.util import check_array_survival

from helpers.vocabulary import PREDICTION_COLUMNS

FitPredict = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], pd.DataFrame]


def out_of_fold_predictions(
    X: pd.DataFrame, y: np.ndarray, fit_predict: FitPredict, n_folds: int = 5, random_state: int | None = None
) -> pd.DataFrame:
    """Cross-fitted long-format predictions: each patient predicted by a model fitted without its fold.

    Folds are stratified on the event. ``fit_predict(train_X, train_y, test_X)`` must fit
    everything it learns on (train_X, train_y) and return PREDICTION_COLUMNS rows for
    exactly the patients of test_X. Columns: patient_id, horizon_months, probability, fold (0-based);
    rows in X's patient order, then by horizon.
    """
    if not X.index.is_unique:
        raise ValueError("X needs a unique patient index")
    event, _ = check_array_survival(X, y)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(X, event)
    parts = []
    for fold, (train, test) in enumerate(folds):
        predicted = fit_predict(X.iloc[train], y[train], X.iloc[test])
        repeated = predicted.duplicated(["patient_id", "horizon_months"]).any()
        if repeated or set(predicted["patient_id"]) != set(X.index[test]):
            raise ValueError(f"fit_predict must return one row per held-out patient and horizon (fold {fold})")
        parts.append(predicted[PREDICTION_COLUMNS].assign(fold=fold))
    result = pd.concat(parts, ignore_index=True)
    position = X.index.get_indexer(result["patient_id"])
    return result.iloc[np.lexsort((result["horizon_months"], position))].reset_index(drop=True)


def crossfit_ensemble(
    X: pd.DataFrame,
    y: np.ndarray,
    fit_predict: FitPredict,
    others: pd.DataFrame,
    n_folds: int = 5,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Cross-fitted predictions for X's patients and the fold models' mean prediction for ``others``.

    Each of the ``n_folds`` models is fitted without one fold of X (stratified on the event) and predicts
    that fold and every patient of ``others`` (test or external patients, never used for fitting); a
    patient of X is thus predicted by the one model that never saw it, and a patient of ``others`` by the
    average of all of them, so training and test predictions come from comparable models. Columns:
    patient_id, horizon_months, probability, fold (the held-out fold for X's rows; -1 for ``others``' means);
    X's rows first in X's order, then ``others``' rows in their order, each by horizon.
    """
    if not X.index.is_unique or X.index.intersection(others.index).size:
        raise ValueError("X needs a unique patient index that does not overlap the patients of others")
    event, _ = check_array_survival(X, y)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(X, event)
    held_out, predicted_others = [], []
    for fold, (train, test) in enumerate(folds):
        predicted = fit_predict(X.iloc[train], y[train], pd.concat([X.iloc[test], others]))
        expected = set(X.index[test]) | set(others.index)
        if predicted.duplicated(["patient_id", "horizon_months"]).any() or set(predicted["patient_id"]) != expected:
            raise ValueError(f"fit_predict must return one row per held-out or other patient and horizon (fold {fold})")
        is_held_out = predicted["patient_id"].isin(X.index[test])
        held_out.append(predicted.loc[is_held_out, PREDICTION_COLUMNS].assign(fold=fold))
        predicted_others.append(predicted.loc[~is_held_out, PREDICTION_COLUMNS])
    oof = pd.concat(held_out, ignore_index=True)
    oof = oof.iloc[np.lexsort((oof["horizon_months"], X.index.get_indexer(oof["patient_id"])))]
    mean = pd.concat(predicted_others).groupby(["patient_id", "horizon_months"], sort=False)["probability"].mean()
    mean = mean.reset_index().assign(fold=-1)
    mean = mean.iloc[np.lexsort((mean["horizon_months"], others.index.get_indexer(mean["patient_id"])))]
    return pd.concat([oof, mean], ignore_index=True)
