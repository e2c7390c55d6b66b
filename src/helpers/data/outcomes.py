"""Binary outcomes at fixed horizons from censored survival data.

The paper labels a patient 1 if they died before 1, 2 or 3 years and 0 otherwise, which
calls a patient censored before the horizon a survivor (``paper``: it biases the death rate
down). ``known_status`` leaves those patients out of that horizon, the usual choice when a
binary classifier is trained on survival data; it keeps every early death but only the
survivors followed long enough, so it biases the death rate up. ``ipcw`` leaves them out
too and weights every patient whose status is known by the inverse probability of having
stayed uncensored that long, 1 / G(min(T, horizon)-), with G the Kaplan–Meier estimate of
the censoring distribution: the weighted known patients then stand for the whole split, so
a weighted AUC is the cumulative/dynamic AUC of Uno et al. (2007) and a weighted accuracy
estimates the accuracy on everybody. The rigorous arm always uses ``ipcw``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.vocabulary import HORIZONS_MONTHS, RIGOROUS_LABEL_POLICY, LabelPolicy, Protocol


def horizon_labels(time: pd.Series, event: pd.Series, horizon: float, policy: LabelPolicy) -> pd.Series:
    """1 = died by ``horizon``, 0 = alive at it; NaN = unknown (censored earlier, under ``known_status`` and
    ``ipcw``)."""
    if policy not in ("paper", "known_status", "ipcw"):
        raise ValueError(f"label_policy must be 'paper', 'known_status' or 'ipcw', not {policy!r}")
    died = (event.astype(int) == 1) & (time <= horizon)
    labels = died.astype(float)
    if policy != "paper":
        censored_early = (event.astype(int) == 0) & (time < horizon)
        labels[censored_early] = np.nan
    return labels.rename(f"died_by_{horizon:g}m")


def arm_label_policy(arm: Protocol, label_policy: LabelPolicy) -> LabelPolicy:
    """The labels an arm is trained and scored on: the profile's ``label_policy`` for the paper arm, IPCW for the
    rigorous one (``RIGOROUS_LABEL_POLICY``)."""
    if arm not in ("paper", "rigorous"):
        raise ValueError(f"arm must be 'paper' or 'rigorous', not {arm!r}")
    return label_policy if arm == "paper" else RIGOROUS_LABEL_POLICY


def censoring_survival_before(time: pd.Series, event: pd.Series, at: np.ndarray) -> np.ndarray:
    """G(t-) at each of ``at``: the Kaplan–Meier probability of being still uncensored just before t.

    Censoring is the "event" of this estimate; a patient who died at a time still counts in the risk set of a
    censoring at that same time, as in the usual IPCW estimators (scikit-survival's, lifelines').
    """
    t, censored = time.to_numpy(dtype=float), event.to_numpy().astype(int) == 0
    times, drops = np.unique(t[censored], return_counts=True)
    at_risk = len(t) - np.searchsorted(np.sort(t), times, side="left")
    survival = np.cumprod(1.0 - drops / at_risk)
    before = np.searchsorted(times, np.asarray(at, dtype=float), side="left")  # censoring times strictly before
    return np.concatenate([[1.0], survival])[before]


def horizon_weights(time: pd.Series, event: pd.Series, horizon: float, policy: LabelPolicy) -> pd.Series:
    """Each patient's weight at ``horizon``: 0 where the label is unknown, else 1, or 1 / G(min(T, horizon)-)
    under ``ipcw`` with G estimated on these patients (pass one split at a time)."""
    labels = horizon_labels(time, event, horizon, policy)
    weights = labels.notna().astype(float)
    if policy == "ipcw":
        known = labels.notna().to_numpy()
        g = censoring_survival_before(time, event, np.minimum(time.to_numpy(dtype=float), horizon)[known])
        weights[known] = 1.0 / g
    return weights.rename(f"weight_{horizon:g}m")


def check_follow_up(time: pd.Series, horizons: tuple[int, ...] = HORIZONS_MONTHS) -> None:
    """Refuse a cohort whose longest follow-up ends before a horizon: nobody would be known alive at it.

    Checked once on the whole cohort (notebook 01), not on every subset a model is fitted on:
    a small cross-fitting fold may legitimately lack late follow-up.
    """
    beyond = [h for h in horizons if time.max() < h]
    if beyond:
        raise ValueError(
            f"horizon {beyond[0]:g} months is beyond the longest follow-up ({time.max():g} months): "
            "no patient is known to be alive at it"
        )


def ambiguity_table(time: pd.Series, event: pd.Series, horizons: tuple[int, ...] = HORIZONS_MONTHS) -> pd.DataFrame:
    """Per horizon: deaths, known survivors and patients censored before it (ambiguous).

    Columns: horizon_months, died, alive, censored_before. Refuses a horizon past the longest follow-up
    (``check_follow_up``).
    """
    check_follow_up(time, horizons)
    rows = []
    for horizon in horizons:
        known = horizon_labels(time, event, horizon, "known_status")
        rows.append(
            {
                "horizon_months": horizon,
                "died": int((known == 1).sum()),
                "alive": int((known == 0).sum()),
                "censored_before": int(known.isna().sum()),
            }
        )
    return pd.DataFrame(rows)


def horizon_label_frame(
    time: pd.Series, event: pd.Series, policy: LabelPolicy, horizons: tuple[int, ...] = HORIZONS_MONTHS
) -> pd.DataFrame:
    """Patients x horizons table of 1 (died by it), 0 (alive at it), NaN (unknown under ``policy``).

    Index: that of ``time`` (patient_id where the caller indexes by it); one column per horizon in months.
    """
    return pd.DataFrame({h: horizon_labels(time, event, h, policy).to_numpy() for h in horizons}, index=time.index)


def horizon_weight_frame(
    time: pd.Series, event: pd.Series, policy: LabelPolicy, horizons: tuple[int, ...] = HORIZONS_MONTHS
) -> pd.DataFrame:
    """Patients x horizons table of ``horizon_weights`` (0 = unknown label), the companion of ``horizon_label_frame``.

    The censoring distribution is estimated on the patients given: pass one split (or one training set).
    """
    return pd.DataFrame({h: horizon_weights(time, event, h, policy).to_numpy() for h in horizons}, index=time.index)


def split_weight_frame(cases: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """``horizon_weight_frame`` of ``cases`` (index patient_id; split, time_months, event) with the censoring
    estimated within each split, in the order of ``cases``."""
    parts = [horizon_weight_frame(part["time_months"], part["event"], policy) for _, part in cases.groupby("split")]
    return pd.concat(parts).reindex(cases.index)


def fitting_weights(cases: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame | None:
    """The weights a model is fitted with: ``split_weight_frame`` under ``ipcw``; None under the other policies,
    which weigh every known label one, as an unweighted fit already does."""
    return split_weight_frame(cases, policy) if policy == "ipcw" else None
