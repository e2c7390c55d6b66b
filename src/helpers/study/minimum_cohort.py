"""The smallest cohort each notebook's methods can run on, checked before a notebook starts its work.

A research group's first cohort is often a handful of patients. Each notebook from 04 on states here what its
methods need (folds that each hold a death, nested folds that still do, both outcomes at every horizon for an
AUC, two of each for DeLong's variance, a patient on each side of a cut-off) and stops at once with the
project's message naming the notebook, the method, the minimum and the cohort's size, instead of a traceback
from inside scikit-learn. The Running page prints the same table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import joblib
import pandas as pd

from helpers.data.outcomes import horizon_labels
from helpers.errors import CohortTooSmallError, StaleInputError
from helpers.pipeline.stage import Stage
from helpers.vocabulary import FUSION_CV_FOLDS, HORIZONS_MONTHS

Params = Mapping[str, Any]
Scope = Literal["in silico", "two centres", "combat"]
SCOPE_WORDS = {
    "in silico": "in-silico cohorts",
    "two centres": "cohorts with two centres",
    "combat": "`harmonise: combat`",
}


@dataclass(frozen=True)
class Requirement:
    """One method's need: at least ``minimum(params)`` of a count of the cohort (``counted``), checked when every
    condition of ``scope`` holds and every name in ``parameters`` is known."""

    method: str
    counted: str
    minimum: Callable[[Params], int]
    rule: str  # the minimum in words, for the Running page
    parameters: tuple[str, ...] = ()
    scope: tuple[Scope, ...] = ()


def nested_minimum(outer_folds: int, inner_folds: int) -> int:
    """Smallest count c of a class that every held-out part of a stratified ``outer_folds`` split holds and whose
    every training part (c - ceil(c / outer_folds)) still splits into ``inner_folds`` holding one each:
    max(outer, inner + ceil(inner / (outer - 1)))."""
    return max(outer_folds, inner_folds + math.ceil(inner_folds / (outer_folds - 1)))


def _folds(parameter: str, method: str, scope: tuple[Scope, ...] = ()) -> list[Requirement]:
    """A stratified k-fold method: every fold's held-out part needs a patient and a death."""
    return [
        Requirement(method, f"training {what}", lambda p: int(p[parameter]), f"`{parameter}`", (parameter,), scope)
        for what in ("patients", "deaths")
    ]


def _nested_lasso(method: str, scope: tuple[Scope, ...] = ()) -> Requirement:
    """The radiomics chain cross-fitted in ``oof_folds``: each fold refits the Cox-LASSO's ``lasso_folds``-fold
    cross-validation on its training part, which must still hold a death per LASSO fold."""
    return Requirement(
        method,
        "training deaths",
        lambda p: nested_minimum(int(p["oof_folds"]), int(p["lasso_folds"])),
        "max(`oof_folds`, `lasso_folds` + ⌈`lasso_folds` / (`oof_folds` − 1)⌉)",
        ("oof_folds", "lasso_folds"),
        scope,
    )


def _both_outcomes(group: str, method: str, minimum: int, scope: tuple[Scope, ...] = ()) -> list[Requirement]:
    """An AUC (or a threshold, a stratified resample) at every horizon needs both outcomes there."""
    return [
        Requirement(method, f"{group} {outcome} {horizon} months", lambda p: minimum, str(minimum), (), scope)
        for horizon in HORIZONS_MONTHS
        for outcome in ("deaths by", "patients alive at")
    ]


_FUSION_MINIMUM = nested_minimum(FUSION_CV_FOLDS, FUSION_CV_FOLDS)
_FUSION_METHOD = (
    f"fusion models tuned by {FUSION_CV_FOLDS}-fold cross-validation (the SVM's Platt scaling by "
    f"{FUSION_CV_FOLDS}-fold cross-validation inside each fold)"
)


def _fusion(scope: tuple[Scope, ...] = ()) -> list[Requirement]:
    """Both arms' fusion models: the rigorous arm's grid search nests the SVM's calibration folds in its own."""
    return _both_outcomes("training", _FUSION_METHOD, _FUSION_MINIMUM, scope)


def _radiomics_chain(scope: tuple[Scope, ...] = ()) -> list[Requirement]:
    """The out-of-fold predictions of the whole radiomics chain (LASSO refitted in every fold)."""
    method = "out-of-fold random survival forest predictions"
    return _folds("oof_folds", method, scope) + [_nested_lasso(method, scope)]


def _cut_off(parameter: str) -> Requirement:
    """The cut-off search keeps low groups of m patients with 1 <= m <= floor(n * ``max_prop``): n >= 1/max_prop."""
    return Requirement(
        "log-rank cut-off search",
        "training patients",
        lambda p: max(2, math.ceil(1 / float(p[parameter]))),
        f"max(2, ⌈1 / `{parameter}`⌉)",
        (parameter,),
    )


def _centre_transfer() -> list[Requirement]:
    """The radiomics chain fitted on the first centre (sorted by name) and scored on the second."""
    method = "centre-wise transfer of the radiomics chain"
    fitted = [
        Requirement(
            method,
            f"first-centre {what}",
            lambda p: int(p["lasso_folds"]),
            "`lasso_folds`",
            ("lasso_folds",),
            ("two centres",),
        )
        for what in ("patients", "deaths")
    ]
    return fitted + _both_outcomes("second-centre", method, 1, ("two centres",))


def _combat(scope: tuple[Scope, ...]) -> Requirement:
    """ComBat estimates each centre's shift and scale from its training patients: two at least per centre (the
    out-of-fold parts of notebooks 05, 10 and 12 are stratified by event only, so ComBat itself stops, naming the
    centre, should a fold leave a small centre with fewer)."""
    return Requirement(
        "ComBat harmonisation across centres", "training patients in the smallest centre", lambda p: 2, "2", (), scope
    )


_SCORED = _both_outcomes("test", "AUC at 1, 2 and 3 years on the test split", 1)
_THRESHOLDS = _both_outcomes("training", "accuracy cut-offs from the training split", 1)

REQUIREMENTS: dict[str, list[Requirement]] = {
    "04_pca_lasso": _folds("lasso_folds", "Cox-LASSO with cross-validated lambda") + [_combat(("combat",))],
    "05_rsf": _radiomics_chain() + [_combat(("combat",))] + _THRESHOLDS + _SCORED,
    "06_densenet": _folds("oof_folds", "cross-fitted DenseNet fold networks") + _THRESHOLDS + _SCORED,
    "07_fusion": _fusion() + _SCORED + _both_outcomes("test", "DeLong test of the AUCs", 2),
    "08_stratification": [
        _cut_off("max_prop"),
        Requirement("log-rank test of the risk groups", "test deaths", lambda p: 1, "1"),
    ],
    "09_reproduction": [],
    "10_protocols": _radiomics_chain(("in silico",))
    + _fusion(("in silico",))
    + _both_outcomes("test", "AUC at 1, 2 and 3 years on the test split", 1, ("in silico",))
    + _centre_transfer()
    + [_combat(("two centres",))],  # the random split's comparison with ComBat
    "11_uncertainty": _both_outcomes("test", "stratified bootstrap intervals of the test AUCs", 1),
    "12_optimism_seeds": _radiomics_chain(("in silico",))
    + [_combat(("in silico", "combat"))]
    + _fusion(("in silico",))
    + _both_outcomes("test", "AUC at 1, 2 and 3 years on the test split", 1, ("in silico",)),
}


def _outcome_counts(group: str, part: pd.DataFrame) -> dict[str, int]:
    """Patients, deaths, and per horizon the deaths by it and the patients known alive at it, of ``part``."""
    time, event = part["time_months"].astype(float), part["event"].astype(int)
    counts = {f"{group} patients": len(part), f"{group} deaths": int(event.sum())}
    for horizon in HORIZONS_MONTHS:
        labels = horizon_labels(time, event, horizon, "known_status")
        counts[f"{group} deaths by {horizon} months"] = int((labels == 1).sum())
        counts[f"{group} patients alive at {horizon} months"] = int((labels == 0).sum())
    return counts


def cohort_counts(cohort: pd.DataFrame) -> dict[str, int]:
    """Every count a requirement names, from cohort.parquet (split, time_months, event, centre when present):
    per split, the training patients of the centre with fewest, and, with two centres or more, the first two
    centres' by name."""
    counts = _outcome_counts("training", cohort[cohort["split"] == "train"])
    counts |= _outcome_counts("test", cohort[cohort["split"] == "test"])
    centres = sorted(cohort["centre"].unique()) if "centre" in cohort else []
    counts["centres"] = len(centres)
    training = cohort.loc[cohort["split"] == "train", "centre"] if centres else pd.Series(dtype=str)
    per_centre = [int((training == centre).sum()) for centre in centres] or [counts["training patients"]]
    counts["training patients in the smallest centre"] = min(per_centre)
    for group, centre in zip(("first-centre", "second-centre"), centres):
        counts |= _outcome_counts(group, cohort[cohort["centre"] == centre])
    return counts


def _applies(need: Requirement, counts: Mapping[str, int], params: Params, in_silico: bool) -> bool:
    """Whether ``need`` is checked: every condition of its scope holds and its parameters are known."""
    holds = {
        "in silico": in_silico,
        "two centres": counts["centres"] >= 2,
        "combat": params.get("harmonise") == "combat",
    }
    return all(holds[condition] for condition in need.scope) and all(name in params for name in need.parameters)


def _counted(counted: str, number: int) -> str:
    """``counted`` ("training deaths by 12 months") in the singular when ``number`` is 1."""
    if number != 1:
        return counted
    return counted.replace("deaths", "death").replace("patients", "patient")


def unmet(notebook: str, cohort: pd.DataFrame, params: Params, in_silico: bool = True) -> list[str]:
    """The requirements of ``notebook`` this cohort does not meet, in words, one sentence per method.

    A requirement whose parameter is unknown (``lasso_folds`` before notebook 04 has fitted its reducer) is not
    checked here: the notebook then stops on its missing input instead."""
    counts = cohort_counts(cohort)
    by_method: dict[str, list[str]] = {}
    for need in REQUIREMENTS[notebook]:
        if not _applies(need, counts, params, in_silico):
            continue
        minimum, has = need.minimum(params), counts[need.counted]
        if has < minimum:
            by_method.setdefault(need.method, []).append(
                f"at least {minimum} {_counted(need.counted, minimum)} (the cohort has {has})"
            )
    return [f"{method} needs {', '.join(wanted)}" for method, wanted in by_method.items()]


def known_parameters(stage: Stage) -> dict[str, Any]:
    """The stage's parameters, plus ``lasso_folds`` and ``harmonise`` from notebook 04's fitted reducer where this
    notebook does not declare them and 04 has recorded the reducer."""
    params = dict(stage.params)
    needs = REQUIREMENTS[stage.name]
    wanted = {name for need in needs for name in need.parameters} | {"harmonise" for n in needs if "combat" in n.scope}
    if not wanted & {"lasso_folds", "harmonise"} - params.keys():
        return params
    try:
        recorded = stage.has("reducer.joblib")
    except StaleInputError:  # notebook 04 has not run: the notebook stops on its missing input
        recorded = False
    if recorded:
        reducer = joblib.load(stage.input("reducer.joblib"))
        params.setdefault("lasso_folds", int(reducer.n_folds))
        params.setdefault("harmonise", reducer.harmonise)
    return params


def require_cohort(stage: Stage) -> Stage:
    """``stage``, once its cohort is known to be large enough for its notebook's methods; else stop, naming what
    it lacks (before any library's own check fails less clearly)."""
    cohort = stage.read_parquet("cohort.parquet")
    problems = unmet(stage.name, cohort, known_parameters(stage), stage.has("insilico/spec.json"))
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
            scope = f" ({', '.join(SCOPE_WORDS[condition] for condition in need.scope)})" if need.scope else ""
            methods.setdefault(need.method + scope, []).append(f"≥ {need.rule} {need.counted}")
        for method, rules in methods.items():
            rows.append({"notebook": notebook, "method": method, "needs": _merge_horizons(rules)})
        if not needs:
            rows.append({"notebook": notebook, "method": "none of its own", "needs": "the earlier notebooks' outputs"})
    return pd.DataFrame(rows)


def _merge_horizons(rules: list[str]) -> str:
    """Rules that differ only in their horizon said once, in order: '≥ 1 test deaths by each of 12, 24, 36 months'."""
    each = f"each of {', '.join(str(h) for h in HORIZONS_MONTHS)} months"
    suffixes = [f"{h} months" for h in HORIZONS_MONTHS]
    said = (next((rule.removesuffix(s) + each for s in suffixes if rule.endswith(" " + s)), rule) for rule in rules)
    return "; ".join(dict.fromkeys(said))
