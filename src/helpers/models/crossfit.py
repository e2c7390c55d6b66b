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
