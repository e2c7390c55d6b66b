"""The paper's 7:3 random split of the cohort into training and test patients."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split


def stratification(cohort: pd.DataFrame, test_fraction: float) -> tuple[str, pd.Series | None, list[str]]:
    """The finest stratification the split can honour: event x centre (several centres), event, or none.

    A stratified split needs every stratum to hold at least 2 patients and each side of the split at least one
    patient per stratum (scikit-learn's conditions). Returns the name of the stratification used, the strata
    (None: unstratified) and, for each finer one given up, why.
    """
    candidates = [("event", cohort["event"].astype(str))]
    if "centre" in cohort and cohort["centre"].nunique() > 1:
        both = "event=" + cohort["event"].astype(str) + ", centre=" + cohort["centre"].astype(str)
        candidates.insert(0, ("event x centre", both))
    n_test = math.ceil(test_fraction * len(cohort))
    reasons = []
    for name, strata in candidates:
        counts = strata.value_counts()
        if counts.min() < 2:
            small = ", ".join(f"'{s}' ({n})" for s, n in counts[counts < 2].items())
            reasons.append(f"{name}: stratum {small} has fewer than the 2 patients a stratified split needs")
        elif len(counts) > min(n_test, len(cohort) - n_test):
            reasons.append(f"{name}: {len(counts)} strata but only {n_test} test patients")
        else:
            return name, strata, reasons
    return "none", None, reasons


def assign_split(cohort: pd.DataFrame, test_fraction: float, seed: int) -> pd.Series:
    """7:3-style random split stratified by event, and by centre when there are several.

    A split given in the manifest is kept as is (checked for train/test values only). Where a stratum is too
    small for a stratified split, a coarser stratification is used (event only, then none) and a note says which
    and why; a ``split`` column in the manifest chooses the split instead.
    """
    if "split" in cohort and cohort["split"].notna().all():
        bad = sorted(set(cohort["split"]) - {"train", "test"})
        if bad:
            raise ValueError(f"manifest split must be 'train' or 'test'; found {bad}")
        return cohort["split"].astype(str)
    used, strata, reasons = stratification(cohort, test_fraction)
    if reasons:
        print(
            f"[split] stratified by {used} instead: " + "; ".join(reasons) + ". To choose the split yourself, "
            "give the manifest a split column (train/test)."
        )
    train_ids, _ = train_test_split(cohort.index, test_size=test_fraction, random_state=seed, stratify=strata)
    return pd.Series(np.where(cohort.index.isin(train_ids), "train", "test"), index=cohort.index, name="split")
