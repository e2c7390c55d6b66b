"""The in-silico cohort's ceiling: AUC of the true risk, and of each part of it.

The generator knows every patient's true linear predictor (frailty excluded, because no
model can see it). Under proportional hazards the ranking by that predictor is the same at
every horizon, so its AUC is the best any model can reach with the same labels.
"""

from __future__ import annotations

import pandas as pd

from helpers.metrics import auc_by_horizon
from helpers.outcomes import HORIZONS_MONTHS, LabelPolicy
from helpers.synthetic import oracle_scores


def oracle_auc_table(cohort: pd.DataFrame, truth: pd.DataFrame, policy: LabelPolicy,
                     horizons: tuple[int, ...] = HORIZONS_MONTHS) -> pd.DataFrame:
    """AUC of the full and partial true scores per split and horizon (long format)."""
    scores = oracle_scores(truth.set_index("patient_id")).reindex(cohort["patient_id"])
    rows = []
    for split in ("train", "test", "all"):
        mask = (cohort["split"] == split).to_numpy() if split != "all" else slice(None)
        part = cohort.loc[mask]
        for component in scores.columns:
            aucs = auc_by_horizon(part["time_months"], part["event"], scores.loc[part["patient_id"].to_numpy(), component].to_numpy(),
                                  policy, horizons)
            rows += [{"split": split, "score": component, "horizon_months": h, "auc": a} for h, a in aucs.items()]
    return pd.DataFrame(rows)
