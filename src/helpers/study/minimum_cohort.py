"""The smallest cohort each notebook's methods can run on, checked before a notebook starts its work.

A research group's first cohort is often a handful of patients. Each notebook from 04 on states here what its
methods need (folds that each hold a death, both outcomes at every horizon for an AUC, a patient on each side of
a cut-off) and stops at once with the project's message naming the notebook, the method, the minimum and the
cohort's size, instead of a traceback from inside scikit-learn. The Running page prints the same table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from helpers.errors import CohortTooSmallError
from helpers.pipeline.stage import Stage
from helpers.vocabulary import FUSION_CV_FOLDS, HORIZONS_MONTHS

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Requirement:
    """One method's need: at least ``minimum(params)`` of a count of the cohort (``counted``)."""

    method: str
    counted: str
    minimum: Callable[[Params], int]
    rule: str  # the minimum in words, for the Running page


def _folds(parameter: str, method: str) -> list[Requirement]:
    """A stratified k-fold method: every fold's held-out part needs a patient and a death."""
    return [
        Requirement(method, "training patients", lambda p: int(p[parameter]), f"`{parameter}`"),
        Requirement(method, "training deaths", lambda p: int(p[parameter]), f"`{parameter}`"),
    ]


def _both_outcomes(split: str, method: str, minimum: int) -> list[Requirement]:
    """An AUC (or a threshold, a stratified resample) at every horizon needs both outcomes there."""
    return [
        requirement
        for horizon in HORIZONS_MONTHS
        for requirement in (
            Requirement(method, f"{split} deaths by {horizon} months", lambda p: minimum, str(minimum)),
            Requirement(method, f"{split} patients followed past {horizon} months", lambda p: minimum, str(minimum)),
        )
    ]


def _cut_off(parameter: str) -> Requirement:
    """The cut-off search leaves at most ``max_prop`` in the low group: one candidate needs 1/max_prop + 1."""
    return Requirement(
        "log-rank cut-off search",
        "training patients",
        lambda p: math.ceil(1 / float(p[parameter])) + 1,
        f"⌈1 / `{parameter}`⌉ + 1",
    )


_SCORED = _both_outcomes("test", "AUC at 1, 2 and 3 years on the test split", 1)
_THRESHOLDS = _both_outcomes("training", "accuracy cut-offs from the training split", 1)
_FUSION = _both_outcomes("training", f"fusion models tuned by {FUSION_CV_FOLDS}-fold cross-validation", FUSION_CV_FOLDS)
_RSF = _folds("oof_folds", "out-of-fold random survival forest predictions")

REQUIREMENTS: dict[str, list[Requirement]] = {
    "04_pca_lasso": _folds("lasso_folds", "Cox-LASSO with cross-validated lambda"),
    "05_rsf": _RSF + _THRESHOLDS + _SCORED,
    "06_densenet": _folds("oof_folds", "cross-fitted DenseNet fold networks") + _THRESHOLDS + _SCORED,
    "07_fusion": _FUSION + _SCORED,
    "08_stratification": [
        _cut_off("max_prop"),
        Requirement("log-rank test of the risk groups", "test deaths", lambda p: 1, "1"),
    ],
    "09_reproduction": [],
    "10_protocols": _RSF + _FUSION + _SCORED,
    "11_uncertainty": _both_outcomes("test", "stratified bootstrap intervals of the test AUCs", 2),
    "12_optimism_seeds": _RSF + _FUSION + _SCORED,
}


def cohort_counts(cohort: pd.DataFrame) -> dict[str, int]:
    """Every count a requirement names, from cohort.parquet (split, time_months, event); outcomes as known."""
    counts: dict[str, int] = {}
    for split in ("training", "test"):
        part = cohort[cohort["split"] == ("train" if split == "training" else "test")]
        died, time = part["event"].astype(bool), part["time_months"].astype(float)
        counts[f"{split} patients"], counts[f"{split} deaths"] = len(part), int(died.sum())
        for horizon in HORIZONS_MONTHS:
            counts[f"{split} deaths by {horizon} months"] = int((died & (time <= horizon)).sum())
            counts[f"{split} patients followed past {horizon} months"] = int((time > horizon).sum())
    return counts


def unmet(notebook: str, cohort: pd.DataFrame, params: Params) -> list[str]:
    """The requirements of ``notebook`` this cohort does not meet, in words, one sentence per method."""
    counts = cohort_counts(cohort)
    by_method: dict[str, list[str]] = {}
    for need in REQUIREMENTS[notebook]:
        if counts[need.counted] < need.minimum(params):
            wanted = f"at least {need.minimum(params)} {need.counted} (it has {counts[need.counted]})"
            by_method.setdefault(need.method, []).append(wanted)
    return [f"{method} needs {', '.join(wanted)}" for method, wanted in by_method.items()]


def require_cohort(stage: Stage) -> Stage:
    """``stage``, once its cohort is known to be large enough for its notebook's methods; else stop, naming what
    it lacks (before any library's own check fails less clearly)."""
    cohort = stage.read_parquet("cohort.parquet")
    problems = unmet(stage.name, cohort, stage.params)
    if problems:
        sizes = cohort_counts(cohort)
        raise CohortTooSmallError(
            f"notebook {stage.name} cannot run on this cohort of {len(cohort)} patients "
            f"({sizes['training patients']} training, {sizes['test patients']} test): "
            + "; ".join(problems)
            + ". The Running page lists the smallest cohort each notebook needs."
        )
    return stage


def minimum_cohort_table() -> pd.DataFrame:
    """The Running page's table: one row per notebook and method. Columns: notebook, method, needs."""
    rows = []
    for notebook, needs in REQUIREMENTS.items():
        methods: dict[str, list[str]] = {}
        for need in needs:
            methods.setdefault(need.method, []).append(f"≥ {need.rule} {need.counted}")
        for method, rules in methods.items():
            rows.append({"notebook": notebook, "method": method, "needs": _merge_horizons(rules)})
        if not needs:
            rows.append({"notebook": notebook, "method": "none of its own", "needs": "the earlier notebooks' outputs"})
    return pd.DataFrame(rows)


def _merge_horizons(rules: list[str]) -> str:
    """'1 test deaths by 12 months', '... by 24 months', ... said once: '1 test deaths by each of 12, 24, 36 months'."""
    horizons = ", ".join(str(h) for h in HORIZONS_MONTHS)
    merged: list[str] = []
    for rule in rules:
        for horizon in HORIZONS_MONTHS:
            rule = rule.replace(f" {horizon} months", " each horizon")
        if rule not in merged:
            merged.append(rule)
    return "; ".join(merged).replace("each horizon", f"each of {horizons} months")
