"""The in-silico cohort's true risk scores: the linear predictor and its three additive parts.

The generator knows every patient's true linear predictor (frailty excluded, because no model
can see it). The parts are pieces of that sum, not ceilings of a model that sees one kind of
information: that model's ceiling is E[lp | its information] (``helpers.synthetic.ceilings``).
"""

from __future__ import annotations

import pandas as pd


def oracle_scores(truth: pd.DataFrame) -> pd.DataFrame:
    """The true risk scores (linear predictors without frailty) per patient, truth's index kept.

    ``full`` is the Bayes-optimal ranking at every horizon under proportional hazards; the parts
    show how the generator divides the signal (the calibration tests), not what a model could reach.
    Columns: full, clinical, roi, context (lp_total, lp_clinical, lp_roi, lp_context).
    """
    return pd.DataFrame(
        {
            "full": truth["lp_total"],
            "clinical": truth["lp_clinical"],
            "roi": truth["lp_roi"],
            "context": truth["lp_context"],
        },
        index=truth.index,
    )
