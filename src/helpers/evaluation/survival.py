"""Survival-analysis scores of the horizon probabilities: Harrell's and Uno's C, time-dependent AUC, Brier, IBS.

Every model of Table 2 predicts, per patient, the probability of death by 12, 24 and 36
months; the fusion models are even separate classifiers per horizon. So the scores use those
numbers directly rather than a full survival curve:

* **risk score for concordance** = the probability of death by the last horizon (36 months):
  the one number every model gives that ranks patients over the longest follow-up; Uno's C is
  truncated at that horizon (``tau``), so both ask who dies first within 3 years;
* **time-dependent AUC** (Uno's cumulative/dynamic AUC) at each horizon uses that horizon's own
  probability, as Table 2 does, but with censoring handled by IPCW instead of dropping patients;
* **Brier score** at each horizon compares the predicted survival 1 - p with survival status,
  IPCW-weighted (Graf et al. 1999); the **integrated Brier score** integrates it over the three
  horizons (trapezoidal rule, 12 to 36 months), the only times every model predicts: coarser
  than an IBS over a fine time grid, but comparable across the models here.

All censoring weights come from the training split's Kaplan-Meier estimate of the censoring
distribution (scikit-survival), so the test split is scored with weights it did not shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from helpers.vocabulary import HORIZONS_MONTHS, MODEL_LABELS


def harrell_c(time: ArrayLike, event: ArrayLike, risk: ArrayLike) -> float:
    """Harrell's concordance index of a risk score (higher = earlier death)."""
    return float(
        concordance_index_censored(
            np.asarray(event, dtype=bool), np.asarray(time, dtype=float), np.asarray(risk, dtype=float)
        )[0]
    )


def cumulative_dynamic_auc_at(
    train_time: ArrayLike,
    train_event: ArrayLike,
    test_time: ArrayLike,
    test_event: ArrayLike,
    risk: ArrayLike,
    horizons: tuple[int, ...] = HORIZONS_MONTHS,
) -> pd.DataFrame:
    """Uno's IPCW cumulative/dynamic AUC per horizon (censoring weights from the training split).

    ``risk``: one score per patient, or one column per horizon (e.g. death probability by
    it). The AUC is only defined before the last test follow-up, so a horizon at or beyond
    it is evaluated at the last distinct test time below it; the ``time`` column says where. The censoring
    weights are unknown beyond the training split's last time, so the test follow-up is censored there first
    (``administrative_cut``): a test death after every training follow-up does not stop the score.
    Columns: horizon_months, time, auc.
    """
    train_time = np.asarray(train_time, dtype=float)
    cut_time, cut_event = administrative_cut(
        np.asarray(test_time, dtype=float), np.asarray(test_event).astype(bool), float(train_time.max())
    )
    train, test = Surv.from_arrays(train_event, train_time), Surv.from_arrays(cut_event, cut_time)
    test_times = np.unique(cut_time)
    latest = test_times[-2] if len(test_times) > 1 else test_times[0]
    scores = np.asarray(risk, dtype=float).reshape(len(test), -1)
    if scores.shape[1] not in (1, len(horizons)):
        raise ValueError(f"risk needs 1 or {len(horizons)} columns (one per horizon); got {scores.shape[1]}")
    rows = []
    for i, horizon in enumerate(horizons):
        time = min(float(horizon), latest)
        auc, _ = cumulative_dynamic_auc(train, test, scores[:, i if scores.shape[1] > 1 else 0], time)
        rows.append({"horizon_months": horizon, "time": time, "auc": float(auc[0])})
    return pd.DataFrame(rows)


def survival_metrics(predictions: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Harrell's C (risk = probability of death by the last horizon) and Uno's AUC per horizon, per split.

    Uno's censoring weights come from the training split for both splits.
    Columns: split, harrell_c, then ``uno_auc_<h>m`` per horizon h (e.g. uno_auc_12m).
    """
    wide = predictions.pivot_table(index="patient_id", columns="horizon_months", values="probability")
    frame = cohort.set_index("patient_id")[["split", "time_months", "event"]].join(wide, how="inner")
    horizons = tuple(int(h) for h in wide.columns)
    train = frame[frame["split"] == "train"]
    rows = []
    for split in ("train", "test"):
        part = frame[frame["split"] == split]
        uno = cumulative_dynamic_auc_at(
            train["time_months"],
            train["event"],
            part["time_months"],
            part["event"],
            part[list(wide.columns)].to_numpy(),
            horizons,
        )
        rows.append(
            {
                "split": split,
                "harrell_c": harrell_c(part["time_months"], part["event"], part[wide.columns[-1]]),
                **{f"uno_auc_{h}m": a for h, a in zip(uno["horizon_months"], uno["auc"])},
            }
        )
    return pd.DataFrame(rows)


def horizon_frame(predictions: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: split, time_months, event and the death probability per horizon (columns = horizons).

    Index patient_id; the horizon columns are named by the integer horizon in months (12, 24, 36).
    """
    wide = predictions.pivot_table(index="patient_id", columns="horizon_months", values="probability")
    return cohort.set_index("patient_id")[["split", "time_months", "event"]].join(wide, how="inner")


SCORE_LABELS = MODEL_LABELS | {"kaplan_meier": "Kaplan-Meier (no covariates)"}  # Table 2's models and the reference


def kaplan_meier_predictions(cohort: pd.DataFrame, horizons: tuple[int, ...] = HORIZONS_MONTHS) -> pd.DataFrame:
    """No-covariate reference: every patient gets the training split's Kaplan-Meier death probability per horizon.

    Columns: patient_id, horizon_months, probability (PREDICTION_COLUMNS).
    """
    train = cohort[cohort["split"] == "train"]
    times, survival = kaplan_meier_estimator(train["event"].astype(bool), train["time_months"].astype(float))
    surviving = {h: survival[np.searchsorted(times, h, side="right") - 1] if h >= times[0] else 1.0 for h in horizons}
    grid = pd.MultiIndex.from_product([cohort["patient_id"], horizons], names=["patient_id", "horizon_months"])
    return grid.to_frame(index=False).assign(probability=lambda rows: 1.0 - rows["horizon_months"].map(surviving))


def evaluation_times(test_time: np.ndarray, horizons: tuple[int, ...]) -> np.ndarray:
    """Each horizon, or the second-longest distinct test time if the horizon is not below it.

    scikit-survival evaluates Brier scores and dynamic AUCs only strictly inside the test
    follow-up; ``helpers.evaluation.survival.cumulative_dynamic_auc_at`` moves a horizon by the same rule.
    """
    distinct = np.unique(test_time)
    latest = distinct[-2] if len(distinct) > 1 else distinct[0]
    return np.minimum(np.asarray(horizons, dtype=float), latest)


def administrative_cut(time: np.ndarray, event: np.ndarray, last: float) -> tuple[np.ndarray, np.ndarray]:
    """(time, event) censored at ``last``: a patient still followed there counts as alive (censored) at ``last``."""
    return np.minimum(time, last), event.astype(bool) & (time < last)


def survival_scores(predictions: pd.DataFrame, cohort: pd.DataFrame, split: str = "test") -> dict[str, float]:
    """Harrell's and Uno's C (tau = last horizon), dynamic AUC and Brier per horizon, and IBS of one model on ``split``.

    The censoring weights come from the cohort's whole training split. They are unknown beyond
    its last time, so for the IPCW scores the test follow-up is censored there (the last horizon
    must lie before it); no score at or before the last horizon changes. Harrell's C needs no
    weights and uses the follow-up as recorded.
    """
    frame = horizon_frame(predictions, cohort)
    horizons = tuple(int(h) for h in frame.columns.drop(["split", "time_months", "event"]))
    test, train = frame[frame["split"] == split], cohort[cohort["split"] == "train"]
    scored = ScoredSplit.of(train, test, horizons)
    return {"n": len(test), "events": int(test["event"].sum()), **scored.scores(np.arange(len(test)))}


@dataclass(frozen=True)
class ScoredSplit:
    """One model's death probabilities on a split, with the training split's censoring weights: scores any
    resample of the split's patients (``scores(rows)``), so a bootstrap reuses everything but the indices."""

    y_train: np.ndarray
    train_time: np.ndarray
    train_event: np.ndarray
    time: np.ndarray  # the split's follow-up as recorded (Harrell's C)
    event: np.ndarray
    cut_time: np.ndarray  # censored at the training split's last time (the IPCW scores)
    cut_event: np.ndarray
    death: np.ndarray  # patients x horizons
    horizons: tuple[int, ...]

    @classmethod
    def of(cls, train: pd.DataFrame, test: pd.DataFrame, horizons: tuple[int, ...]) -> ScoredSplit:
        """From the training split (time_months, event) and ``horizon_frame`` rows of the scored split."""
        time, event = test["time_months"].to_numpy(dtype=float), test["event"].to_numpy().astype(bool)
        cut_time, cut_event = administrative_cut(time, event, float(train["time_months"].max()))
        return cls(
            Surv.from_arrays(train["event"].astype(bool), train["time_months"]),
            train["time_months"].to_numpy(dtype=float),
            train["event"].to_numpy().astype(bool),
            time,
            event,
            cut_time,
            cut_event,
            test[list(horizons)].to_numpy(dtype=float),
            horizons,
        )

    def scores(self, rows: np.ndarray) -> dict[str, float]:
        """Every score on the patients ``rows`` (indices into the split, repeats allowed)."""
        time, event, death = self.cut_time[rows], self.cut_event[rows], self.death[rows]
        y_test = Surv.from_arrays(event, time)
        risk, tau = death[:, -1], float(self.horizons[-1])
        times = evaluation_times(time, self.horizons)
        briers = [float(brier_score(self.y_train, y_test, 1.0 - death[:, i], t)[1][0]) for i, t in enumerate(times)]
        distinct = np.unique(times, return_index=True)[1]
        ibs = (
            float(integrated_brier_score(self.y_train, y_test, 1.0 - death[:, distinct], times[distinct]))
            if len(distinct) > 1
            else float("nan")
        )
        dynamic = cumulative_dynamic_auc_at(self.train_time, self.train_event, time, event, death, self.horizons)
        harrell = concordance_index_censored(self.event[rows], self.time[rows], risk)[0]
        return {
            "harrell_c": float(harrell),
            "uno_c": float(concordance_index_ipcw(self.y_train, y_test, risk, tau=tau)[0]),
            "tau": tau,
            **{f"auc_{h}m": float(a) for h, a in zip(self.horizons, dynamic["auc"])},
            **{f"brier_{h}m": b for h, b in zip(self.horizons, briers)},
            "ibs": ibs,
        }


def survival_score_table(
    predictions: Mapping[str, pd.DataFrame], cohort: pd.DataFrame, split: str = "test"
) -> pd.DataFrame:
    """``survival_scores`` of several models, one row each (column ``model``).

    Columns: model, n, events, harrell_c, uno_c, tau, ``auc_<h>m`` and ``brier_<h>m`` per horizon h, ibs.
    """
    return pd.DataFrame(
        [{"model": name, **survival_scores(frame, cohort, split)} for name, frame in predictions.items()]
    )
