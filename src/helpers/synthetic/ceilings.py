"""True ceilings: the best risk score each information set allows, learned on a large reference population.

A model that sees only part of a patient cannot rank by the true linear predictor; the best it
can do is E[lp | what it sees]. That conditional expectation is estimated once per spec by a
gradient-boosted regression of ``lp_total`` (frailty excluded) on each information set, fitted on
40,000 simulated patients (tables only, no images), and scored on the run's splits. Its AUC is
the **ceiling** of every model with that information: radiomics sees the ROI, the DenseNet the
image (ROI + context), the fusion models everything.

What "no model can beat the ceiling" means: in the population, no score built from an
information set has a higher expected AUC than the ranking by P(death by t | that information).
E[lp | information] approximates that ranking; the two differ where the unseen part of the risk
spreads differently between patients with the same information (for the ROI set: stage and
metastases, which the ROI does not show), so a model may exceed the ceiling slightly even in
expectation. On a finite split it can also exceed it by sampling noise, about one AUC standard
error of the split; by much more, only a model scoring patients it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import joblib
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from helpers.data.outcomes import arm_label_policy
from helpers.evaluation.binary import auc_by_horizon
from helpers.pipeline.files import atomic_path, json_digest
from helpers.synthetic.clinical import simulate_clinical
from helpers.synthetic.spec import CohortSpec
from helpers.vocabulary import ARMS, HORIZONS_MONTHS, LabelPolicy

CLINICAL = ("age", "male", "t_stage", "n_stage", "m1")
ROI = ("diameter_mm", "attenuation", "heterogeneity", "necrosis_fraction", "margin_irregularity")
CONTEXT = ("head", "sma_contact_deg", "smv_contact_deg", "stranding", "liver_lesions")
INFORMATION_SETS: dict[str, tuple[str, ...]] = {
    "clinical": CLINICAL,
    "roi": ROI,
    "image": ROI + CONTEXT,
    "clinical_roi": CLINICAL + ROI,
    "everything": CLINICAL + ROI + CONTEXT,
}
INFORMATION_LABELS = {
    "clinical": "clinical only",
    "roi": "ROI",
    "image": "image (ROI + context)",
    "clinical_roi": "clinical + ROI",
    "everything": "everything",
}
# The information set each model of Table 2 sees.
MODEL_INFORMATION = {
    "radiomics": "roi",
    "densenet": "image",
    "logistic_regression": "everything",
    "random_forest": "everything",
    "svm": "everything",
    "decision_tree": "everything",
}
REFERENCE_PATIENTS = 40_000
REFERENCE_SEED_OFFSET = 7_919  # the reference population's seed: the run's seed plus this offset
CEILING_METHOD = "hgb-400-0.1-v1"  # the regression below: part of the cache key, so a changed method refits


def design(truth: pd.DataFrame) -> pd.DataFrame:
    """The latent variables coded as numbers (index kept). Columns: CLINICAL + ROI + CONTEXT."""
    return pd.DataFrame(
        {
            "age": truth["age"].astype(float),
            "male": (truth["gender"] == "male").astype(float),
            "t_stage": truth["T"].str[1].astype(float),
            "n_stage": truth["N"].str[1].astype(float),
            "m1": (truth["M"] == "M1").astype(float),
            **{column: truth[column].astype(float) for column in ROI},
            "head": (truth["location"] == "head").astype(float),
            **{column: truth[column].astype(float) for column in CONTEXT[1:]},
        },
        index=truth.index,
    )


@dataclass(frozen=True)
class CeilingModels:
    """E[lp | information] per information set ("everything" is lp itself, known exactly)."""

    regressors: dict[str, HistGradientBoostingRegressor]
    reference_patients: int

    def scores(self, truth: pd.DataFrame) -> pd.DataFrame:
        """The ceiling scores per patient (truth's index kept). Columns: the names of INFORMATION_SETS."""
        x = design(truth)
        scores = {name: model.predict(x[list(INFORMATION_SETS[name])]) for name, model in self.regressors.items()}
        return pd.DataFrame(scores | {"everything": truth["lp_total"].to_numpy()}, index=truth.index)[
            list(INFORMATION_SETS)
        ]


def reference_spec(spec: CohortSpec) -> CohortSpec:
    """The spec of the reference population: the run's model, 40,000 patients, another seed, no second reader."""
    return replace(spec, n_patients=REFERENCE_PATIENTS, n_reader2=0, seed=spec.seed + REFERENCE_SEED_OFFSET)


def fit_ceilings(spec: CohortSpec, cache_dir: Path) -> CeilingModels:
    """Fit (or load from ``cache_dir``) the conditional-expectation models of the spec's population."""
    reference = reference_spec(spec)
    path = Path(cache_dir) / f"ceilings-{json_digest([reference.to_dict(), CEILING_METHOD])[:16]}.joblib"
    if path.exists():
        return joblib.load(path)
    population = simulate_clinical(reference)
    x, target = design(population), population["lp_total"].to_numpy()
    regressors = {
        name: HistGradientBoostingRegressor(max_iter=400, learning_rate=0.1, early_stopping=True, random_state=0).fit(
            x[list(columns)], target
        )
        for name, columns in INFORMATION_SETS.items()
        if name != "everything"
    }
    models = CeilingModels(regressors, len(population))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        joblib.dump(models, partial)
    return models


def ceiling_auc_table(
    cohort: pd.DataFrame,
    truth: pd.DataFrame,
    models: CeilingModels,
    policy: LabelPolicy,
    splits: tuple[str, ...] = ("train", "test"),
    horizons: tuple[int, ...] = HORIZONS_MONTHS,
) -> pd.DataFrame:
    """AUC of each information set's ceiling score per split and horizon, on the cohort's labels.

    ``cohort`` needs patient_id, split, time_months, event and the recorded age, gender, T, N, M; ``truth``
    the generator's latent table of the same patients (truth.parquet). Columns: information_set, split,
    horizon_months, auc.
    """
    recorded = cohort.set_index("patient_id")[["age", "gender", "T", "N", "M"]]
    latent = truth.set_index("patient_id").drop(columns=recorded.columns, errors="ignore")
    patients = recorded.join(latent, how="left")
    if patients["lp_total"].isna().any():
        missing = patients.index[patients["lp_total"].isna()][:5].tolist()
        raise ValueError(f"no generator truth for patient(s) {missing}: the ceilings need every patient's latent row")
    scores = models.scores(patients)
    rows = []
    for split in splits:
        part = cohort[cohort["split"] == split]
        for name in INFORMATION_SETS:
            aucs = auc_by_horizon(
                part["time_months"],
                part["event"],
                pd.Series(scores.loc[part["patient_id"], name].to_numpy(), index=part.index),
                policy,
                horizons,
            )
            rows += [{"information_set": name, "split": split, "horizon_months": h, "auc": a} for h, a in aucs.items()]
    return pd.DataFrame(rows)


def arm_ceiling_table(
    cohort: pd.DataFrame,
    truth: pd.DataFrame,
    models: CeilingModels,
    label_policy: LabelPolicy,
    splits: tuple[str, ...] = ("train", "test"),
) -> pd.DataFrame:
    """``ceiling_auc_table`` on the labels of each arm (``helpers.data.outcomes.arm_label_policy``), so that a model
    is always set against a ceiling scored the way the model is. Columns: arm, then ceiling_auc_table's."""
    by_policy: dict[str, pd.DataFrame] = {}
    for arm in ARMS:
        policy = arm_label_policy(arm, label_policy)
        if policy not in by_policy:
            by_policy[policy] = ceiling_auc_table(cohort, truth, models, policy, splits)
    tables = [by_policy[arm_label_policy(arm, label_policy)].assign(arm=arm) for arm in ARMS]
    table = pd.concat(tables, ignore_index=True)
    return table[["arm", *table.columns.drop("arm")]]


def arm_ceilings(ceilings: pd.DataFrame | None, arm: str) -> pd.DataFrame | None:
    """The rows of one arm of an ``arm_ceiling_table`` (without the arm column); None stays None (a real cohort)."""
    if ceilings is None:
        return None
    if arm not in set(ceilings["arm"]):
        raise ValueError(f"no ceilings for the {arm} arm (arms on file: {sorted(set(ceilings['arm']))})")
    return ceilings[ceilings["arm"] == arm].drop(columns="arm").reset_index(drop=True)


def beside_ceiling(metrics: pd.DataFrame, ceilings: pd.DataFrame) -> pd.DataFrame:
    """Each model's AUC beside the ceiling of its own information set, per split and horizon.

    ``metrics``: model, split, horizon_months, auc (a model column may be absent: pass ``model``-less
    frames with a constant ``model``). Columns: model, split, horizon_months, auc, information_set, ceiling,
    gap (ceiling - auc).
    """
    table = metrics[["model", "split", "horizon_months", "auc"]].assign(
        information_set=lambda t: t["model"].map(MODEL_INFORMATION)
    )
    joined = table.merge(
        ceilings.rename(columns={"auc": "ceiling"}), on=["information_set", "split", "horizon_months"], how="left"
    )
    return joined.assign(gap=joined["ceiling"] - joined["auc"])


def against_ceiling(metrics: pd.DataFrame, ceilings: pd.DataFrame | None, model: str) -> pd.DataFrame:
    """One model's AUC per split and horizon beside its own ceiling and the ceiling of everything.

    ``metrics``: the model's horizon_metrics rows (split, horizon_months, auc, ...). Columns: split,
    horizon_months, AUC, "ceiling: <its information set>", gap (ceiling - AUC), "ceiling: everything";
    without ``ceilings`` (a real cohort) a single column ``note`` saying why there is none.
    """
    if ceilings is None:
        return pd.DataFrame({"note": ["A real cohort has no known truth: no ceiling is shown."]})
    own = INFORMATION_LABELS[MODEL_INFORMATION[model]]
    joined = beside_ceiling(metrics.assign(model=model), ceilings)
    everything = ceilings[ceilings["information_set"] == "everything"][["split", "horizon_months", "auc"]]
    joined = joined.merge(everything.rename(columns={"auc": "ceiling: everything"}), on=["split", "horizon_months"])
    shown = joined[["split", "horizon_months", "auc", "ceiling", "gap", "ceiling: everything"]]
    return shown.rename(columns={"auc": "AUC", "ceiling": f"ceiling: {own}"})
