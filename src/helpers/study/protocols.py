"""Protocol comparison of step 10: what each protocol reports on its own test split against what
its models truly reach on patients they have never seen.

The in-silico generator can draw as many new patients as wanted from the same population, so
the true generalisation of a fitted chain is measurable: an **external** cohort (same
generator, a new seed, ids prefixed "EXT-") is scored by the models fitted in this run. Two
arms share everything they can (cohort, features, reducer settings, forest, networks):

* ``paper``: fusion stacked on in-sample base predictions, default classifiers, the model
  picked by test AUC, the DenseNet epoch picked by test accuracy (when notebook 06 ran under
  ``paper``), the cut-off searched on all patients;
* ``rigorous``: fusion stacked on out-of-fold radiomics predictions, classifiers tuned and
  picked by cross-validation on the training split, a DenseNet checkpoint that never saw
  the test split, the cut-off searched on the training split only.

The optimism of an arm is its reported test AUC minus its AUC on the external cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lifelines import CoxPHFitter
from sksurv.util import Surv

from helpers.data.manifest import read_manifest
from helpers.data.outcomes import horizon_labels
from helpers.evaluation import stratify
from helpers.evaluation.binary import auc_by_horizon, auc_known, horizon_metrics, with_labels
from helpers.features import radiomics
from helpers.models import fusion
from helpers.models.crossfit import out_of_fold_predictions
from helpers.models.deep.checkpoint import load_densenet
from helpers.models.deep.training import predict_densenet
from helpers.models.rsf import RadiomicsChain
from helpers.synthetic import oracle
from helpers.synthetic.oracle import oracle_scores
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort
from helpers.vocabulary import HORIZONS_MONTHS, MODEL_LABELS, LabelPolicy

ARMS = ("paper", "rigorous")
EXTERNAL_PREFIX = "EXT-"


@dataclass(frozen=True)
class ExternalCohort:
    """The fresh patients (split "external"), their generator truth and their reader-1 radiomic features."""

    table: pd.DataFrame
    truth: pd.DataFrame
    features: pd.DataFrame


def external_cohort(folder: Path, spec: CohortSpec, n_patients: int, seed: int, params_file: Path,
                    cache_dir: Path, n_jobs: int = 1) -> ExternalCohort:
    """Draw ``n_patients`` new patients from the run's generator settings with ``seed``; extract their features.

    No second reader is drawn (inter-reader agreement is not re-assessed). The files are
    generated once per spec and the extraction is cached per case, like the run's own cohort.
    """
    if seed == spec.seed:
        raise ValueError(f"the external cohort needs a seed other than the run's ({seed}): "
                         "the same seed would redraw the run's own patients")
    manifest = generate_cohort(folder, replace(spec, n_patients=n_patients, n_reader2=0, seed=seed),
                                         n_jobs=n_jobs, progress=True)
    table = read_manifest(manifest, check_images=False).assign(split="external")
    truth = pd.read_parquet(manifest.parent / "truth.parquet")
    table["patient_id"] = EXTERNAL_PREFIX + table["patient_id"]
    truth["patient_id"] = EXTERNAL_PREFIX + truth["patient_id"]
    extraction = radiomics.extract_cohort(radiomics.jobs_from_cohort(table), params_file, cache_dir, n_jobs=n_jobs)
    radiomics.raise_on_failures(extraction.failures)
    return ExternalCohort(table, truth, radiomics.reader_table(extraction.features, "reader1"))


def oracle_on(table: pd.DataFrame, truth: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Oracle AUC (full and partial true scores) of one labelled table, long: score, horizon_months, auc."""
    scores = oracle_scores(truth.set_index("patient_id")).reindex(table["patient_id"])
    rows = []
    for component in scores.columns:
        aucs = auc_by_horizon(table["time_months"], table["event"], scores[component].to_numpy(), policy)
        rows += [{"score": component, "horizon_months": h, "auc": a} for h, a in aucs.items()]
    return pd.DataFrame(rows)


def radiomics_predictions(features: pd.DataFrame, cohort: pd.DataFrame, chain: RadiomicsChain) -> pd.DataFrame:
    """The chain fitted on the training split, predicting every patient of ``cohort`` (with its split)."""
    train = cohort.loc[cohort["split"] == "train", "patient_id"]
    y = Surv.from_arrays(cohort.set_index("patient_id").loc[train, "event"].astype(bool),
                         cohort.set_index("patient_id").loc[train, "time_months"])
    predicted = chain(features.loc[train], y, features.loc[cohort["patient_id"]])
    return predicted.merge(cohort[["patient_id", "split"]], on="patient_id")


def radiomics_out_of_fold(features: pd.DataFrame, cohort: pd.DataFrame, chain: RadiomicsChain,
                          n_folds: int, seed: int) -> pd.DataFrame:
    """Cross-fitted training-split predictions of the whole chain (each patient by a model that never saw it)."""
    train = cohort[cohort["split"] == "train"].set_index("patient_id")
    y = Surv.from_arrays(train["event"].astype(bool), train["time_months"])
    return out_of_fold_predictions(features.loc[train.index], y, chain, n_folds=n_folds, random_state=seed)


def densenet_predictions(checkpoint: Path, cases: pd.DataFrame, cache_dir: Path, *, weights: Path | None = None
                         ) -> pd.DataFrame:
    """Predictions of notebook 06's network for ``cases`` (index patient_id): its selected checkpoint, or with
    ``weights`` (06's ``densenet.last.pt``) the weights after its last epoch (a fixed training length, chosen
    before any evaluation)."""
    model, config = load_densenet(checkpoint, device="cpu")
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["model"])
        model.eval()
    return predict_densenet(model, cases, config, cache_dir)


def stacking_inputs(final: pd.DataFrame, out_of_fold: pd.DataFrame | None) -> pd.DataFrame:
    """Base probabilities for fusion: training rows out-of-fold when given (else in-sample), other rows from ``final``."""
    columns = ["patient_id", "horizon_months", "probability"]
    if out_of_fold is None:
        return final[columns]
    return pd.concat([out_of_fold[columns], final.loc[final["split"] != "train", columns]], ignore_index=True)


def horizon_label_table(cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Patients x horizons labels (1, 0, NaN) for fusion."""
    return pd.DataFrame({h: horizon_labels(cohort["time_months"], cohort["event"], h, policy).to_numpy()
                         for h in HORIZONS_MONTHS}, index=pd.Index(cohort["patient_id"]))


@dataclass(frozen=True)
class ArmResult:
    """One protocol's fused predictions on train, test and external patients, and the model it reports."""

    arm: str
    predictions: pd.DataFrame  # patient_id, split, horizon_months, model, probability
    best: str
    reason: str


def fuse_arm(arm: str, cohort: pd.DataFrame, radiomics_input: pd.DataFrame, densenet_input: pd.DataFrame,
             base: dict[str, pd.DataFrame], policy: LabelPolicy, seed: int) -> ArmResult:
    """Fit the four fusion models under ``arm`` and pick the reported one as that protocol does."""
    labels = horizon_label_table(cohort, policy)
    predictions, _, _, cv = fusion.fuse(cohort, radiomics_input, densenet_input, labels, arm, seed)
    known = cohort[cohort["split"] != "external"]
    scores = {name: horizon_metrics(frame[frame["split"] != "external"], known, policy)
              for name, frame in base.items()}
    scores |= {m: horizon_metrics(predictions[(predictions["model"] == m) & (predictions["split"] != "external")],
                                          known, policy) for m in fusion.FUSION_MODELS}
    long = pd.concat([table.assign(model=name) for name, table in scores.items()], ignore_index=True)
    best, reason = fusion.choose_best(long, arm, cv)
    return ArmResult(arm, predictions, best, reason)


def optimism_table(arms: list[ArmResult], base: dict[str, dict[str, pd.DataFrame]], cohort: pd.DataFrame,
                   external_oracle: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Per arm, model and horizon: reported test AUC, true external AUC, their difference, and the oracle."""
    rows = []
    ceiling = external_oracle[external_oracle["score"] == "full"].set_index("horizon_months")["auc"]
    for result in arms:
        models = dict(base[result.arm])
        models |= {m: result.predictions[result.predictions["model"] == m].drop(columns="model")
                   for m in fusion.FUSION_MODELS}
        for name, frame in models.items():
            labelled = with_labels(frame, cohort, policy)
            for horizon, part in labelled.groupby("horizon_months"):
                reported = auc_known(*_split(part, "test"))
                external = auc_known(*_split(part, "external"))
                rows.append({"arm": result.arm, "model": MODEL_LABELS[name], "reported": name == result.best,
                             "horizon_months": int(horizon), "test_auc": reported, "external_auc": external,
                             "optimism": reported - external, "oracle_external_auc": float(ceiling[horizon])})
    return pd.DataFrame(rows)


def checkpoint_table(checkpoints: dict[str, pd.DataFrame], cohort: pd.DataFrame, policy: LabelPolicy) -> pd.DataFrame:
    """Test and external AUC per horizon of the same network at different checkpoints."""
    rows = []
    for name, frame in checkpoints.items():
        for horizon, part in with_labels(frame, cohort, policy).groupby("horizon_months"):
            rows.append({"checkpoint": name, "horizon_months": int(horizon),
                         "test_auc": auc_known(*_split(part, "test")),
                         "external_auc": auc_known(*_split(part, "external"))})
    return pd.DataFrame(rows)


def _split(part: pd.DataFrame, split: str) -> tuple[pd.Series, pd.Series]:
    """(labels, probabilities) of one split of a labelled prediction table."""
    rows = part[part["split"] == split]
    return rows["label"], rows["probability"]


def cutoff_comparison(arms: list[ArmResult], cohort: pd.DataFrame, risk_horizon: int, min_prop: float = 0.1,
                      max_prop: float = 0.9) -> pd.DataFrame:
    """Each arm's cut-off (paper: searched on train + test; rigorous: on train) and the risk groups' separation
    (log-rank chi-square and Cox hazard ratio high vs low) on the test split and on the external cohort."""
    rows = []
    indexed = cohort.set_index("patient_id")
    for result in arms:
        chosen = result.predictions[(result.predictions["model"] == result.best)
                                    & (result.predictions["horizon_months"] == risk_horizon)]
        patients = indexed.join(chosen.set_index("patient_id")["probability"].rename("fusion_risk"), how="inner")
        searched = patients[patients["split"].isin(["train", "test"] if result.arm == "paper" else ["train"])]
        cut = stratify.optimal_cutpoint(searched["time_months"], searched["event"], searched["fusion_risk"],
                                        min_prop=min_prop, max_prop=max_prop)
        for split in ("test", "external"):
            part = patients[patients["split"] == split]
            high = (part["fusion_risk"] > cut.cutpoint).astype(int)
            test = stratify.logrank(part["time_months"], part["event"], high)
            rows.append({"arm": result.arm, "searched_on": "train + test" if result.arm == "paper" else "train",
                         "cutpoint": cut.cutpoint, "split": split, "high_risk_share": float(high.mean()),
                         "chi_square": test.statistic, "p_value": test.p_value,
                         "hazard_ratio": _hazard_ratio(part["time_months"], part["event"], high)})
    return pd.DataFrame(rows)


def _hazard_ratio(time: pd.Series, event: pd.Series, group: pd.Series) -> float:
    """Cox hazard ratio of group 1 against group 0 (NaN when a group is empty)."""
    if group.nunique() < 2:
        return float("nan")
    frame = pd.DataFrame({"time": time.to_numpy(), "event": event.to_numpy(), "high": group.to_numpy()})
    return float(np.exp(CoxPHFitter().fit(frame, "time", "event").params_["high"]))


def centre_transfer(features: pd.DataFrame, cohort: pd.DataFrame, truth: pd.DataFrame | None,
                    chain: RadiomicsChain, policy: LabelPolicy, random_split_auc: pd.DataFrame,
                    source: str = "C1", target: str = "C2") -> pd.DataFrame:
    """The radiomics chain fitted on every ``source``-centre patient and scored on every ``target``-centre patient,
    beside the random split's test AUC (``random_split_auc``: notebook 05's metrics) and, in silico, the ROI-only
    oracle on the target centre."""
    by_centre = cohort.assign(split=np.where(cohort["centre"] == source, "train",
                                             np.where(cohort["centre"] == target, "test", "other")))
    by_centre = by_centre[by_centre["split"] != "other"]
    transfer = horizon_metrics(radiomics_predictions(features, by_centre, chain), by_centre, policy)
    random_test = random_split_auc[random_split_auc["split"] == "test"]
    table = (transfer[transfer["split"] == "test"][["horizon_months", "auc", "n"]]
             .rename(columns={"auc": f"AUC {source} -> {target}", "n": f"n {target}"})
             .merge(random_test[["horizon_months", "auc"]].rename(columns={"auc": "AUC random split (test)"}),
                    on="horizon_months"))
    if truth is not None:
        ceiling = oracle.oracle_auc_table(by_centre, truth, policy)
        roi = ceiling[(ceiling["split"] == "test") & (ceiling["score"] == "roi")]
        table = table.merge(roi[["horizon_months", "auc"]].rename(columns={"auc": f"ROI oracle on {target}"}),
                            on="horizon_months")
    return table
