"""The deep model under each protocol: the paper's test-selected checkpoint, a validation-selected one, and the
rigorous arm's cross-fitted fold networks (out-of-fold training predictions, fold-mean test predictions)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sksurv.util import Surv, check_array_survival

from helpers.data.outcomes import horizon_label_frame, horizon_weight_frame
from helpers.models.crossfit import crossfit_ensemble
from helpers.models.deep.config import SELECTION, DeepConfig, Observer
from helpers.models.deep.network import build_model
from helpers.models.deep.training import TrainResult, predict_densenet, train_densenet
from helpers.pipeline.files import json_digest
from helpers.vocabulary import RIGOROUS_LABEL_POLICY, LabelPolicy


def _inner_split(ids: pd.Index, event: np.ndarray, fraction: float, seed: int) -> tuple[pd.Index, pd.Index]:
    """(fit, validation) ids, stratified on the event when both outcomes have two patients or more and both
    parts can hold one of each (a fold of four or five patients gets one validation patient, unstratified)."""
    counts = np.bincount(event.astype(int), minlength=2)
    n_val = math.ceil(fraction * len(ids))  # as train_test_split rounds
    stratify = event if counts.min() >= 2 and n_val >= 2 and len(ids) - n_val >= 2 else None
    fit, val = train_test_split(ids, test_size=fraction, random_state=seed, stratify=stratify)
    return pd.Index(fit), pd.Index(val)


@dataclass(frozen=True)
class DenseNetChain:
    """Train with an inner validation split for the checkpoint, then predict held-out cases (``fit_predict``)."""

    config: DeepConfig
    label_policy: LabelPolicy
    cache_dir: Path
    work_dir: Path | None = None
    val_fraction: float = 0.2
    seed: int = 0
    progress: bool = False
    observer: Observer | None = None
    trained: list[dict[str, Any]] = field(default_factory=list)  # each fit's weights and kept epochs, in order

    def __call__(self, train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        """Fit on (train_X, train_y) only, selecting the epoch on its validation AUC; predict test_X once.

        Under ``ipcw`` labels the loss and the validation AUC are weighted, the censoring estimated on train_X.
        """
        event, time_months = check_array_survival(train_X, train_y)
        outcome = (pd.Series(time_months, index=train_X.index), pd.Series(event.astype(int), index=train_X.index))
        labels = horizon_label_frame(*outcome, self.label_policy, self.config.horizons)
        weights = None
        if self.label_policy == "ipcw":
            weights = horizon_weight_frame(*outcome, self.label_policy, self.config.horizons)
        fit_ids, val_ids = _inner_split(train_X.index, event, self.val_fraction, self.seed)
        folder = None
        if self.work_dir is not None:
            folder = Path(self.work_dir) / f"fit-{json_digest(sorted(map(str, train_X.index)))[:12]}"
        set_on, metric = SELECTION["rigorous"]
        result = train_densenet(
            train_X.loc[fit_ids],
            labels,
            self.config,
            cache_dir=self.cache_dir,
            eval_sets={set_on: train_X.loc[val_ids]},
            select_on=set_on,
            select_metric=metric,
            history_path=None if folder is None else folder / "history.csv",
            checkpoint_path=None if folder is None else folder / "densenet.pt",
            seed=self.seed,
            progress=self.progress,
            observer=self.observer,
            weights=weights,
        )
        self.trained.append(
            {
                "state_dict": {k: v.detach().cpu().clone() for k, v in result.model.state_dict().items()},
                "best_epochs": {str(h): e for h, e in result.best_epochs.items()},
            }
        )
        return predict_densenet(result.model, test_X, self.config, self.cache_dir, observer=self.observer)


def densenet_chain(
    config: DeepConfig,
    label_policy: LabelPolicy,
    cache_dir: Path,
    *,
    work_dir: Path | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    progress: bool = False,
    observer: Observer | None = None,
) -> DenseNetChain:
    """A ``fit_predict`` for ``helpers.models.crossfit.out_of_fold_predictions`` (cases indexed by patient_id as X)."""
    return DenseNetChain(config, label_policy, Path(cache_dir), work_dir, val_fraction, seed, progress, observer)


@dataclass(frozen=True)
class DenseNetCrossfit:
    """The rigorous arm's DenseNet: fold networks, their out-of-fold training predictions and mean test predictions."""

    predictions: pd.DataFrame  # patient_id, horizon_months, probability, fold (-1: mean of the folds), split
    folds: list[dict[str, Any]]  # per fold network: state_dict, best_epochs
    config: DeepConfig
    minutes: float  # wall time of the cross-fitting (what the rigorous arm's DenseNet costs)

    def checkpoint(self) -> dict[str, Any]:
        """What ``densenet_folds.pt`` holds: the config and every fold network's weights and kept epochs."""
        return {"config": self.config.to_dict(), "folds": self.folds}


def densenet_crossfit(
    cases: pd.DataFrame,
    config: DeepConfig,
    cache_dir: Path,
    *,
    n_folds: int,
    val_fraction: float,
    seed: int,
    work_dir: Path | None = None,
) -> DenseNetCrossfit:
    """Cross-fit the DenseNet over the training split of ``cases`` (index patient_id, with split, time, event).

    Each fold network picks its epoch on a validation split of its own training folds; it predicts its
    held-out fold (out of sample for every training patient) and every non-training patient, whose
    prediction is the mean over the folds (``helpers.models.crossfit.crossfit_ensemble``). Being the rigorous
    arm's, it learns from IPCW labels (``RIGOROUS_LABEL_POLICY``), whatever the profile's label policy.
    """
    train, others = cases[cases["split"] == "train"], cases[cases["split"] != "train"]
    y_train = Surv.from_arrays(train["event"].astype(bool), train["time_months"])
    chain = densenet_chain(
        config, RIGOROUS_LABEL_POLICY, cache_dir, work_dir=work_dir, val_fraction=val_fraction, seed=seed
    )
    started = time.perf_counter()
    predicted = crossfit_ensemble(train, y_train, chain, others, n_folds=n_folds, random_state=seed)
    predictions = predicted.assign(split=predicted["patient_id"].map(cases["split"]))
    return DenseNetCrossfit(predictions, list(chain.trained), config, (time.perf_counter() - started) / 60)


def _fold_predictions(checkpoint_path: Path, cases: pd.DataFrame, cache_dir: Path) -> list[pd.DataFrame]:
    """Each fold network's predictions for ``cases`` (index patient_id), in fold order."""
    saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    config = DeepConfig.from_dict(saved["config"])
    parts = []
    for fold in saved["folds"]:
        model = build_model(config)
        model.load_state_dict(fold["state_dict"])
        parts.append(predict_densenet(model.eval(), cases, config, cache_dir))
    return parts


def predict_fold_ensemble(checkpoint_path: Path, cases: pd.DataFrame, cache_dir: Path) -> pd.DataFrame:
    """Mean prediction of the fold networks saved in ``densenet_folds.pt`` for ``cases`` (index patient_id).

    Columns: patient_id, horizon_months, probability.
    """
    parts = _fold_predictions(checkpoint_path, cases, cache_dir)
    mean = pd.concat(parts).groupby(["patient_id", "horizon_months"], sort=False)["probability"].mean()
    return mean.reset_index()


def predict_one_fold_each(checkpoint_path: Path, cases: pd.DataFrame, cache_dir: Path, seed: int) -> pd.DataFrame:
    """Each patient of ``cases`` predicted by one of the saved fold networks, drawn at random (seeded): a single
    network's out-of-sample prediction, of the same kind as a training patient's out-of-fold one, so that a
    redrawn split mixes no fold means with single networks. Columns: patient_id, horizon_months, probability, fold.
    """
    parts = _fold_predictions(checkpoint_path, cases, cache_dir)
    drawn = pd.Series(np.random.default_rng(seed).integers(0, len(parts), len(cases)), index=cases.index)
    rows = [part[part["patient_id"].map(drawn) == fold].assign(fold=fold) for fold, part in enumerate(parts)]
    chosen = pd.concat(rows)
    order = pd.Series(range(len(cases)), index=cases.index)
    return chosen.iloc[np.lexsort((chosen["horizon_months"], order[chosen["patient_id"]]))].reset_index(drop=True)


def fit_for_protocol(
    cases: pd.DataFrame,
    labels: pd.DataFrame,
    config: DeepConfig,
    protocol: str,
    *,
    cache_dir: Path,
    history_path: Path,
    checkpoint_path: Path,
    val_fraction: float,
    seed: int,
    weights: pd.DataFrame | None = None,
) -> tuple[TrainResult, str]:
    """Train on the training split with the protocol's checkpoint rule; return the result and what chose the epoch.

    ``weights``: patients x horizons loss and metric weights (``helpers.data.outcomes.fitting_weights``), or None.

    "paper": every epoch is scored on the test split and the best test accuracy is kept (as
    published). "rigorous": a stratified validation split of the training patients chooses
    the epoch by AUC; the test split is not looked at during training.
    """
    if protocol not in SELECTION:
        raise ValueError(f"protocol must be 'paper' or 'rigorous', not {protocol!r}")
    train = cases[cases["split"] == "train"]
    set_on, metric = SELECTION[protocol]
    if protocol == "paper":
        fit, eval_sets = train, {"test": cases[cases["split"] == "test"]}
    else:
        fit_ids, val_ids = _inner_split(train.index, train["event"].to_numpy(), val_fraction, seed)
        fit, eval_sets = train.loc[fit_ids], {"val": train.loc[val_ids]}
    result = train_densenet(
        fit,
        labels,
        config,
        cache_dir=cache_dir,
        eval_sets=eval_sets,
        select_on=set_on,
        select_metric=metric,
        history_path=history_path,
        checkpoint_path=checkpoint_path,
        seed=seed,
        weights=weights,
    )
    described = (
        f"best {set_on} {metric} (test-set selection, as published)"
        if protocol == "paper"
        else f"best {set_on} {metric} on {len(eval_sets['val'])} held-out training patients"
    )
    return result, described
