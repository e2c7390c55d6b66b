"""Optimism as a distribution: the protocol comparison repeated over many 7:3 split seeds.

One split's test AUC and one external AUC each carry a standard error of 0.02-0.03, so a single
difference between them isolates nothing. Here the cohort and the external cohort stay fixed and
the split is redrawn ``n_seeds`` times; for every seed everything that depends on the split is
refitted: the radiomics chain (scaler, PCA, LASSO, node-size tuning, forest) and its out-of-fold
predictions, both arms' fusion models, their model choice and accuracy cut-offs. Per seed, arm,
model and horizon the test and external AUCs are set against the ceilings of the model's
information on the same patients.

**Held fixed: the DenseNet.** Retraining it per seed would cost hours on a CPU. Every patient
gets one out-of-sample prediction of a single network from notebook 06's cross-fitted networks (a
training patient's from the fold network that never saw it, a test or external patient's from a
fold network drawn at random, so no seed mixes fold means with single networks), and that
prediction is used for both arms under every seed. It cannot favour either arm: both stack on the
same numbers. It does remove the paper arm's two DenseNet leaks (the test-selected epoch and
in-sample DenseNet stacking), so the paper arm's optimism here is a lower bound of what the
published protocol incurs; the rest of its protocol (radiomics stacking on the forest's out-of-bag
training predictions, as randomForestSRC reports them, the model picked by test AUC, accuracy at
0.5) is kept. Each prediction never saw its own patient, but its network saw other patients that a
redrawn split may put in the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sksurv.util import Surv

from helpers.data.outcomes import arm_label_policy
from helpers.data.split import assign_split
from helpers.evaluation.binary import auc_known, with_labels
from helpers.features.harmonise import centres_by_patient
from helpers.models import fusion
from helpers.models.crossfit import out_of_fold_predictions
from helpers.models.rsf import RadiomicsChain
from helpers.synthetic.ceilings import MODEL_INFORMATION, CeilingModels, arm_ceiling_table
from helpers.vocabulary import ARMS, PREDICTION_COLUMNS, LabelPolicy

SEED_COLUMNS = (
    "seed",
    "arm",
    "model",
    "horizon_months",
    "test_auc",
    "external_auc",
    "test_ceiling",
    "external_ceiling",
    "reported",
)


@dataclass(frozen=True)
class SeedStudy:
    """What every seed shares: patients, features, the fixed DenseNet predictions, the chain and the truth."""

    cohort: pd.DataFrame  # the run's patients (its split column is replaced per seed)
    external: pd.DataFrame  # the external patients (split "external")
    features: pd.DataFrame  # reader-1 features of both, patients x features
    densenet: pd.DataFrame  # one out-of-sample prediction per patient and horizon (PREDICTION_COLUMNS)
    chain: RadiomicsChain
    truth: pd.DataFrame  # the generator's latent rows of both cohorts
    ceiling_models: CeilingModels
    policy: LabelPolicy  # the profile's label_policy: the paper arm's labels (the rigorous arm's are IPCW)
    test_fraction: float
    oof_folds: int
    model_seed: int

    def external_ceilings(self) -> pd.DataFrame:
        """The external cohort's ceilings (the same for every seed): arm, information_set, split, horizon_months, auc."""
        return arm_ceiling_table(self.external, self.truth, self.ceiling_models, self.policy, splits=("external",))

    def run_seed(self, split_seed: int, external_ceilings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(SEED_COLUMNS rows, the declarations of each arm) for one redrawn split."""
        cohort = self.cohort.drop(columns="split").reset_index(drop=True)
        cohort["split"] = assign_split(cohort, self.test_fraction, split_seed).to_numpy()
        everyone = pd.concat([cohort, self.external], ignore_index=True)
        split = everyone.set_index("patient_id")["split"]
        train = cohort.loc[cohort["split"] == "train", "patient_id"]
        outcome = cohort.set_index("patient_id")
        y = Surv.from_arrays(outcome.loc[train, "event"].astype(bool), outcome.loc[train, "time_months"])
        chain = self.chain.with_reducer(centres=centres_by_patient(everyone))
        radiomics = chain(self.features.loc[train], y, self.features.loc[everyone["patient_id"]])
        radiomics = radiomics.assign(split=radiomics["patient_id"].map(split))
        radiomics_oof = out_of_fold_predictions(
            self.features.loc[train], y, chain, n_folds=self.oof_folds, random_state=self.model_seed
        )
        densenet = self.densenet[PREDICTION_COLUMNS].assign(split=self.densenet["patient_id"].map(split))
        base = {
            "radiomics": radiomics,
            "radiomics_oof": radiomics_oof,
            "densenet": densenet,
            "densenet_crossfit": densenet,
        }
        ceilings = pd.concat(
            [
                arm_ceiling_table(cohort, self.truth, self.ceiling_models, self.policy, splits=("test",)),
                external_ceilings,
            ]
        ).set_index(["arm", "information_set", "split", "horizon_months"])["auc"]
        rows, declarations = [], []
        for arm in ARMS:
            shown, inputs = fusion.arm_inputs(arm, base)
            result = fusion.fuse_and_choose(everyone, shown, inputs, arm, self.policy, self.model_seed)
            models = dict(shown) | {
                m: result.predictions[result.predictions["model"] == m].drop(columns="model")
                for m in fusion.FUSION_MODELS
            }
            aucs = _split_aucs(models, everyone, arm_label_policy(arm, self.policy))
            for (name, horizon), values in aucs.iterrows():
                information = MODEL_INFORMATION[name]
                rows.append(
                    {
                        "seed": split_seed,
                        "arm": arm,
                        "model": name,
                        "horizon_months": int(horizon),
                        "test_auc": values["test"],
                        "external_auc": values["external"],
                        "test_ceiling": float(ceilings[(arm, information, "test", int(horizon))]),
                        "external_ceiling": float(ceilings[(arm, information, "external", int(horizon))]),
                        "reported": name == result.best,
                    }
                )
            declarations.append({"seed": split_seed, "arm": arm, **declarations_of(aucs, result.best)})
        return pd.DataFrame(rows, columns=list(SEED_COLUMNS)), pd.DataFrame(declarations)


def _split_aucs(models: dict[str, pd.DataFrame], everyone: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """AUC of every model on the test split and the external cohort. Index (model, horizon_months); columns test,
    external."""
    rows = {}
    for name, frame in models.items():
        labelled = with_labels(frame, everyone, policy)
        for horizon, part in labelled.groupby("horizon_months"):
            rows[(name, int(horizon))] = {
                where: auc_known(*(part.loc[part["split"] == where, c] for c in ("label", "probability", "weight")))
                for where in ("test", "external")
            }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["model", "horizon_months"])


def declarations_of(aucs: pd.DataFrame, best: str) -> dict[str, bool]:
    """What an arm would declare from its test split, and whether the external cohort agrees.

    ``fusion_beats_both``: the reported fusion model's AUC exceeds both single-modality models' at every horizon;
    ``lr_best``: logistic regression is the reported fusion model (test) / has the highest mean AUC of the four
    fusion models (external). Keys: declares_fusion_beats_both, external_fusion_beats_both, declares_lr_best,
    external_lr_best.
    """
    by_model = aucs.unstack("horizon_months")

    def beats(where: str) -> bool:
        chosen = by_model.loc[best, where]
        return bool(
            (chosen > by_model.loc["radiomics", where]).all() and (chosen > by_model.loc["densenet", where]).all()
        )

    external_best = by_model.loc[list(fusion.FUSION_MODELS), "external"].mean(axis=1).idxmax()
    return {
        "declares_fusion_beats_both": beats("test"),
        "external_fusion_beats_both": beats("external"),
        "declares_lr_best": best == "logistic_regression",
        "external_lr_best": external_best == "logistic_regression",
    }


def run_seeds(
    study: SeedStudy, seeds: list[int], n_jobs: int = 1, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every seed of ``seeds`` (in parallel processes): (optimism_seeds rows, declarations), in seed order."""
    external = study.external_ceilings()
    results = Parallel(n_jobs=n_jobs, verbose=10 if progress else 0)(
        delayed(study.run_seed)(seed, external) for seed in seeds
    )
    rows = pd.concat([r for r, _ in results], ignore_index=True)
    declarations = pd.concat([d for _, d in results], ignore_index=True)
    return rows, declarations


def optimism_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per arm, model and horizon over the seeds: mean and SD of the test AUC, the external AUC and the
    oracle-adjusted optimism (test - test ceiling) - (external - external ceiling), with its 95 % interval
    (2.5th and 97.5th percentiles). Columns: arm, model, horizon_months, seeds, test_auc, external_auc,
    optimism_mean, optimism_sd, optimism_low, optimism_high, reported_share (how often the arm reported it).
    """
    adjusted = rows.assign(
        optimism=(rows["test_auc"] - rows["test_ceiling"]) - (rows["external_auc"] - rows["external_ceiling"])
    )
    grouped = adjusted.groupby(["arm", "model", "horizon_months"], sort=False)
    return grouped.agg(
        seeds=("seed", "nunique"),
        test_auc=("test_auc", "mean"),
        external_auc=("external_auc", "mean"),
        optimism_mean=("optimism", "mean"),
        optimism_sd=("optimism", "std"),
        optimism_low=("optimism", lambda v: float(np.quantile(v, 0.025))),
        optimism_high=("optimism", lambda v: float(np.quantile(v, 0.975))),
        reported_share=("reported", "mean"),
    ).reset_index()


def agreement_rates(declarations: pd.DataFrame) -> pd.DataFrame:
    """Per arm and claim: how often the arm declares it, how often the external cohort shows it, and how often the
    external cohort agrees when the arm declares it. Columns: arm, claim, declared, external_true,
    agrees_when_declared, seeds."""
    rows = []
    for arm, part in declarations.groupby("arm", sort=False):
        for claim, label in (
            ("fusion_beats_both", "fusion beats both single-modality models"),
            ("lr_best", "logistic regression is the best fusion model"),
        ):
            declared, truth = part[f"declares_{claim}"], part[f"external_{claim}"]
            rows.append(
                {
                    "arm": arm,
                    "claim": label,
                    "declared": float(declared.mean()),
                    "external_true": float(truth.mean()),
                    "agrees_when_declared": float(truth[declared].mean()) if declared.any() else float("nan"),
                    "seeds": len(part),
                }
            )
    return pd.DataFrame(rows)


def seed_list(first: int, n_seeds: int) -> list[int]:
    """``n_seeds`` split seeds starting at ``first`` (the run's own split seed is the first)."""
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, not {n_seeds}")
    return [first + i for i in range(n_seeds)]


def reported_optimism(rows: pd.DataFrame) -> pd.DataFrame:
    """Per arm and horizon, the oracle-adjusted optimism of the fusion model each seed's arm reported: mean, SD and
    95 % interval over the seeds. Columns: arm, horizon_months, seeds, mean, sd, low, high."""
    reported = rows[rows["reported"]]
    optimism = (reported["test_auc"] - reported["test_ceiling"]) - (
        reported["external_auc"] - reported["external_ceiling"]
    )
    grouped = reported.assign(optimism=optimism).groupby(["arm", "horizon_months"], sort=False)["optimism"]
    return grouped.agg(
        seeds="size",
        mean="mean",
        sd="std",
        low=lambda v: float(np.quantile(v, 0.025)),
        high=lambda v: float(np.quantile(v, 0.975)),
    ).reset_index()
