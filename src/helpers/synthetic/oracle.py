"""The in-silico cohort's ceiling: AUC of the true risk, and of each part of it.

The generator knows every patient's true linear predictor (frailty excluded, because no
model can see it). Under proportional hazards the ranking by that predictor is the same at
every horizon, so its AUC is the best any model can reach with the same labels.
"""

from __future__ import annotations

import pandas as pd

from helpers.evaluation.binary import auc_by_horizon
from helpers.vocabulary import HORIZONS_MONTHS, LabelPolicy


def oracle_scores(truth: pd.DataFrame) -> pd.DataFrame:
    """The true risk scores (linear predictors without frailty) per patient, truth's index kept.

    ``full`` is the Bayes-optimal ranking at every horizon under proportional hazards; the
    partial scores show what a model seeing only one kind of information could reach.
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


def oracle_auc_table(
    cohort: pd.DataFrame, truth: pd.DataFrame, policy: LabelPolicy, horizons: tuple[int, ...] = HORIZONS_MONTHS
) -> pd.DataFrame:
    """AUC of the full and partial true scores per split and horizon (long format).

    Columns: split (train, test, all), score (full, clinical, roi, context), horizon_months, auc.
    """
    scores = oracle_scores(truth.set_index("patient_id")).reindex(cohort["patient_id"])
    rows = []
    for split in ("train", "test", "all"):
        mask = (cohort["split"] == split).to_numpy() if split != "all" else slice(None)
        part = cohort.loc[mask]
        for component in scores.columns:
            aucs = auc_by_horizon(
                part["time_months"],
                part["event"],
                scores.loc[part["patient_id"].to_numpy(), component].to_numpy(),
                policy,
                horizons,
            )
            rows += [{"split": split, "score": component, "horizon_months": h, "auc": a} for h, a in aucs.items()]
    return pd.DataFrame(rows)
