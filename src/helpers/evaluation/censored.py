"""Calibration and decision curves that keep the patients censored before a horizon.

Leaving out the patients whose status at a horizon is unknown (``label_policy: known_status``)
keeps every early death but only the survivors followed long enough, so the observed death
rate leans upwards; counting them as survivors (``label_policy: paper``) leans it downwards.
Here the observed risk of a group of patients is the Kaplan-Meier estimate 1 - S(horizon) of
that group, which uses every patient up to their last follow-up:

* **calibration curve**: quantile bins of the predicted probability; per bin the mean prediction
  against the bin's Kaplan-Meier risk; the **observed-to-expected ratio** compares the split's
  Kaplan-Meier risk with its mean predicted probability (1 when right on average);
* **decision curve** for survival outcomes (Vickers et al. 2008, as R's ``dcurves`` does with a
  ``Surv`` outcome): treating the patients whose probability is at least t has net benefit
  P(p >= t) x [(1 - S_treated(h)) - S_treated(h) x t / (1 - t)], with S_treated the treated
  patients' Kaplan-Meier survival at the horizon; treating all uses everyone's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sksurv.nonparametric import kaplan_meier_estimator

from helpers.evaluation.calibration import TREAT_ALL, TREAT_NONE
from helpers.evaluation.survival import horizon_frame


def km_risk(time: ArrayLike, event: ArrayLike, horizon: float) -> float:
    """Kaplan-Meier probability of death by ``horizon``, 1 - S(horizon); NaN for no patient."""
    t, e = np.asarray(time, dtype=float), np.asarray(event).astype(bool)
    if len(t) == 0:
        return float("nan")
    times, survival = kaplan_meier_estimator(e, t)
    position = np.searchsorted(times, horizon, side="right") - 1
    return float(1.0 - survival[position]) if position >= 0 else 0.0


def _split_frame(frame: pd.DataFrame, cohort: pd.DataFrame, split: str) -> pd.DataFrame:
    """``horizon_frame`` rows of one split (every patient, censored or not)."""
    wide = horizon_frame(frame, cohort)
    return wide[wide["split"] == split]


def km_calibration_curves(
    predictions: Mapping[str, pd.DataFrame], cohort: pd.DataFrame, n_bins: int = 10, split: str = "test"
) -> pd.DataFrame:
    """Per model and horizon: mean prediction and Kaplan-Meier risk in quantile bins of the prediction.

    Columns: model, horizon_months, predicted, observed, n (patients in the bin, censored ones included).
    """
    rows = []
    for name, frame in predictions.items():
        wide = _split_frame(frame, cohort, split)
        for horizon in wide.columns.drop(["split", "time_months", "event"]):
            p = wide[horizon].to_numpy(dtype=float)
            bins = pd.qcut(pd.Series(p).rank(method="first"), min(n_bins, len(p)), labels=False).to_numpy()
            for b in np.unique(bins):
                inside = bins == b
                rows.append(
                    {
                        "model": name,
                        "horizon_months": int(horizon),
                        "predicted": float(p[inside].mean()),
                        "observed": km_risk(wide["time_months"][inside], wide["event"][inside], float(horizon)),
                        "n": int(inside.sum()),
                    }
                )
    return pd.DataFrame(rows)


def observed_to_expected(
    predictions: Mapping[str, pd.DataFrame], cohort: pd.DataFrame, split: str = "test"
) -> pd.DataFrame:
    """Per model and horizon: the split's Kaplan-Meier risk, its mean prediction and their ratio.

    Columns: model, horizon_months, km_observed, expected, observed_to_expected.
    """
    rows = []
    for name, frame in predictions.items():
        wide = _split_frame(frame, cohort, split)
        for horizon in wide.columns.drop(["split", "time_months", "event"]):
            observed = km_risk(wide["time_months"], wide["event"], float(horizon))
            expected = float(wide[horizon].mean())
            rows.append(
                {
                    "model": name,
                    "horizon_months": int(horizon),
                    "km_observed": observed,
                    "expected": expected,
                    "observed_to_expected": observed / expected if expected > 0 else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def km_net_benefit(
    probability: ArrayLike, time: ArrayLike, event: ArrayLike, horizon: float, thresholds: ArrayLike
) -> np.ndarray:
    """Survival net benefit at each threshold t of treating the patients with probability >= t."""
    p, t = np.asarray(probability, dtype=float), np.asarray(thresholds, dtype=float)
    time, event = np.asarray(time, dtype=float), np.asarray(event)
    values = np.zeros(len(t))
    for i, threshold in enumerate(t):
        treated = p >= threshold
        if not treated.any():
            continue
        risk = km_risk(time[treated], event[treated], horizon)
        values[i] = treated.mean() * (risk - (1 - risk) * threshold / (1 - threshold))
    return values


def km_decision_curves(
    predictions: Mapping[str, pd.DataFrame], cohort: pd.DataFrame, thresholds: ArrayLike, split: str = "test"
) -> pd.DataFrame:
    """Survival net benefit per horizon, strategy (each model's key, TREAT_ALL, TREAT_NONE) and threshold.

    Columns: horizon_months, strategy, threshold, net_benefit.
    """
    t = np.asarray(thresholds, dtype=float)
    curves, everyone = [], {}
    for name, frame in predictions.items():
        wide = _split_frame(frame, cohort, split)
        for horizon in wide.columns.drop(["split", "time_months", "event"]):
            time, event = wide["time_months"].to_numpy(), wide["event"].to_numpy()
            curves.append((int(horizon), name, km_net_benefit(wide[horizon], time, event, float(horizon), t)))
            everyone[int(horizon)] = km_net_benefit(np.ones(len(wide)), time, event, float(horizon), t)
    curves += [(h, TREAT_ALL, values) for h, values in everyone.items()]
    curves += [(h, TREAT_NONE, np.zeros_like(t)) for h in everyone]
    return pd.concat(
        [
            pd.DataFrame({"horizon_months": h, "strategy": strategy, "threshold": t, "net_benefit": values})
            for h, strategy, values in curves
        ],
        ignore_index=True,
    )


def calibration_summary(
    table: pd.DataFrame, predictions: Mapping[str, pd.DataFrame], cohort: pd.DataFrame, split: str = "test"
) -> pd.DataFrame:
    """``helpers.evaluation.calibration.calibration_table`` (known-status CITL and slope) with the censoring-aware
    Kaplan-Meier observed risk and observed-to-expected ratio of every patient of ``split`` beside it.

    Columns: those of calibration_table, then km_observed, observed_to_expected.
    """
    ratio = observed_to_expected(predictions, cohort, split)[
        ["model", "horizon_months", "km_observed", "observed_to_expected"]
    ]
    return table.merge(ratio, on=["model", "horizon_months"], how="left")
