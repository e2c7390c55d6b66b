"""The paper's 7:3 random split of the cohort into training and test patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split


def assign_split(cohort: pd.DataFrame, test_fraction: float, seed: int) -> pd.Series:
    """7:3-style random split stratified by event, and by centre when there are several.

    A split given in the manifest is kept as is (checked for train/test values only).
    """
    if "split" in cohort and cohort["split"].notna().all():
        bad = sorted(set(cohort["split"]) - {"train", "test"})
        if bad:
            raise ValueError(f"manifest split must be 'train' or 'test'; found {bad}")
        return cohort["split"].astype(str)
    strata = cohort["event"].astype(str)
    if "centre" in cohort and cohort["centre"].nunique() > 1:
        strata = strata + "|" + cohort["centre"].astype(str)
    train_ids, _ = train_test_split(cohort.index, test_size=test_fraction, random_state=seed, stratify=strata)
    return pd.Series(np.where(cohort.index.isin(train_ids), "train", "test"), index=cohort.index, name="split")
