"""Binary outcomes at fixed horizons from censored survival data.

The paper labels a patient 1 if they died before 1, 2 or 3 years and 0 otherwise, which
calls a patient censored before the horizon a survivor. ``known_status`` instead leaves
those patients out of that horizon, the usual choice when a binary classifier is trained
on survival data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.vocabulary import HORIZONS_MONTHS, LabelPolicy


def horizon_labels(time: pd.Series, event: pd.Series, horizon: float, policy: LabelPolicy) -> pd.Series:
    """1 = died by ``horizon``, 0 = alive at it; NaN = unknown (censored earlier, ``known_status``)."""
    if policy not in ("paper", "known_status"):
        raise ValueError(f"label_policy must be 'paper' or 'known_status', not {policy!r}")
    died = (event.astype(int) == 1) & (time <= horizon)
    labels = died.astype(float)
    if policy == "known_status":
        censored_early = (event.astype(int) == 0) & (time < horizon)
        labels[censored_early] = np.nan
    return labels.rename(f"died_by_{horizon:g}m")


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
