"""Protocol comparison of step 10: what each protocol reports on its own test split against what
its models truly reach on patients they have never seen.

The in-silico generator can draw as many new patients as wanted from the same population, so
the true generalisation of a fitted chain is measurable: an **external** cohort (same
generator, a new seed, ids prefixed "EXT-") is scored by the models fitted in this run. Two
arms share everything they can (cohort, features, reducer settings, forest, networks):

* ``paper``: fusion stacked on in-sample base predictions, default classifiers, the model
  picked by test AUC, the DenseNet epoch picked by test accuracy (when notebook 06 ran under
  ``paper``), the cut-off searched on all patients;
* ``rigorous``: fusion stacked on out-of-fold predictions of both base models (notebook 06's
  cross-fitted DenseNet, whose fold networks also predict the external cohort), classifiers
  tuned and picked by cross-validation on the training split, the cut-off searched on the
  training split only.

The optimism of an arm is its reported test AUC minus its AUC on the external cohort; the
oracle-adjusted optimism subtracts each split's ceiling first, so that a test split or an
external cohort that happens to be easier to rank does not pass for optimism.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import torch
from lifelines import CoxPHFitter
from sksurv.util import Surv

from helpers.data.manifest import read_manifest
from helpers.data.outcomes import arm_label_policy
from helpers.evaluation import stratify
from helpers.evaluation.binary import auc_known, horizon_metrics, with_labels
from helpers.features import radiomics
from helpers.features.agreement import modelled_features
from helpers.features.harmonise import centres_by_patient
from helpers.models import fusion
from helpers.models.crossfit import out_of_fold_predictions
from helpers.models.deep.checkpoint import load_densenet
from helpers.models.deep.protocol import predict_fold_ensemble
from helpers.models.deep.training import predict_densenet
from helpers.models.rsf import RadiomicsChain, radiomics_chain
from helpers.pipeline import shared_cache
from helpers.pipeline.files import resolve_path
from helpers.pipeline.stage import Stage
from helpers.synthetic.ceilings import (
    MODEL_INFORMATION,
    CeilingModels,
    arm_ceiling_table,
    ceiling_auc_table,
    fit_ceilings,
)
from helpers.synthetic.spec import CohortSpec
from helpers.synthetic.writer import generate_cohort
from helpers.vocabulary import ARMS, MODEL_LABELS, PREDICTION_COLUMNS, LabelPolicy, Protocol, Splitting

EXTERNAL_PREFIX = "EXT-"


@dataclass(frozen=True)
class ExternalCohort:
    """The fresh patients (split "external"), their generator truth and their reader-1 radiomic features."""

    table: pd.DataFrame
    truth: pd.DataFrame
    features: pd.DataFrame


def external_cohort(spec: CohortSpec, n_patients: int, seed: int, params_file: str, n_jobs: int = 1) -> ExternalCohort:
    """Draw ``n_patients`` new patients from the run's generator settings with ``seed``; extract their features.

    No second reader is drawn (inter-reader agreement is not re-assessed). The cohort and its per-case extraction
    cache live in a shared folder outside the run (``helpers.pipeline.shared_cache``) keyed by the generator version,
    the external settings and the parameter file's content, so that every run on the machine generates and extracts
    the same external patients once.
    """
    if seed == spec.seed:
        raise ValueError(
            f"the external cohort needs a seed other than the run's ({seed}): "
            "the same seed would redraw the run's own patients"
        )
    external = replace(spec, n_patients=n_patients, n_reader2=0, seed=seed)
    key = {"cohort": external.to_dict(), "radiomics_params_sha256": radiomics.params_hash(resolve_path(params_file))}
    with shared_cache.claim(shared_cache.keyed_folder("external", key), key) as folder:
        manifest = generate_cohort(folder / "insilico", external, n_jobs=n_jobs, progress=True)
        table = read_manifest(manifest, check_images=False).assign(split="external")
        table["patient_id"] = EXTERNAL_PREFIX + table["patient_id"]
        extraction = radiomics.extract_run(table, params_file, folder, n_jobs=n_jobs)
    radiomics.raise_on_failures(extraction.failures)
    truth = pd.read_parquet(manifest.parent / "truth.parquet")
    truth["patient_id"] = EXTERNAL_PREFIX + truth["patient_id"]
    return ExternalCohort(table, truth, radiomics.reader_table(extraction.features, "reader1"))


@dataclass(frozen=True)
class RunInputs:
    """What the comparison takes from the run: notebooks 01-06's artifacts, read through the contract."""

    cohort: pd.DataFrame  # cohort.parquet
    features: pd.DataFrame  # reader-1 features kept by notebook 02, patients x features
    chain: RadiomicsChain  # notebook 04's reducer settings with notebook 05's node size
    radiomics_metrics: pd.DataFrame  # 05's Table 2 rows
    densenet_protocol: str  # the protocol notebook 06 ran under
    checkpoint: Path  # 06's selected checkpoint
    last_weights: Path  # 06's weights after its last epoch
    densenet_crossfit: pd.DataFrame  # 06's cross-fitted DenseNet: out-of-fold training rows, fold-mean test rows
    densenet_folds: Path  # 06's fold networks
    spec: CohortSpec | None  # the generator's settings (in-silico cohorts only)
    truth: pd.DataFrame | None  # the generator's truth (in-silico cohorts only)
    ceilings: pd.DataFrame | None  # 01's ceilings.parquet (in-silico cohorts only)
    ceiling_models: CeilingModels | None  # E[lp | information] of the run's population (in-silico cohorts only)

    @property
    def in_silico(self) -> bool:
        return self.spec is not None


def read_run(
    stage: Stage,
    *,
    rsf_trees: int,
    rsf_tuning_trees: int,
    rsf_splitting: Splitting,
    rsf_node_sizes: tuple[int, ...],
    seed: int,
    n_jobs: int,
) -> RunInputs:
    """Read the run's inputs to the comparison, each checked against its producer.

    The radiomics chain tunes its node size among ``rsf_node_sizes`` (forests of ``rsf_tuning_trees``) inside every fit (each fold's own
    training data when cross-fitted, each centre's in the centre-wise comparison).
    """
    extracted = stage.read_parquet("features.parquet")
    chain = radiomics_chain(
        joblib.load(stage.input("reducer.joblib")).get_params(),
        tuple(rsf_node_sizes),
        n_estimators=rsf_trees,
        tuning_trees=rsf_tuning_trees,
        splitting=rsf_splitting,
        random_state=seed,
        n_jobs=n_jobs,
    )
    in_silico = stage.has("insilico/spec.json")
    spec = CohortSpec.from_json(stage.input("insilico/spec.json")) if in_silico else None
    return RunInputs(
        cohort=stage.read_parquet("cohort.parquet"),
        features=extracted[modelled_features(stage.read_json("stable_features.json"), extracted.columns)],
        chain=chain,
        radiomics_metrics=stage.read_parquet("metrics_radiomics.parquet"),
        densenet_protocol=stage.metrics("06_densenet")["protocol"],
        checkpoint=stage.input("densenet.pt"),
        last_weights=stage.input("densenet.last.pt"),
        densenet_crossfit=stage.read_parquet("predictions_densenet_crossfit.parquet"),
        densenet_folds=stage.input("densenet_folds.pt"),
        spec=spec,
        truth=stage.read_parquet("insilico/truth.parquet") if in_silico else None,
        ceilings=stage.read_parquet("ceilings.parquet") if in_silico else None,
        ceiling_models=fit_ceilings(spec, stage.path("cache/ceilings")) if spec is not None else None,
    )


def test_and_external_ceilings(run: RunInputs, external: ExternalCohort, label_policy: LabelPolicy) -> pd.DataFrame:
    """The ceilings of every information set on the run's test split (notebook 01's) and on the external cohort,
    each arm's scored on that arm's labels.

    Columns: arm, information_set, split (test, external), horizon_months, auc.
    """
    if run.ceilings is None or run.ceiling_models is None:
        raise ValueError("ceilings exist for in-silico cohorts only")
    on_external = arm_ceiling_table(
        external.table, external.truth, run.ceiling_models, label_policy, splits=("external",)
    )
    return pd.concat([run.ceilings[run.ceilings["split"] == "test"], on_external], ignore_index=True)


def radiomics_predictions(features: pd.DataFrame, cohort: pd.DataFrame, chain: RadiomicsChain) -> pd.DataFrame:
    """The chain fitted on the training split, predicting every patient of ``cohort`` (with its split).

    Columns: patient_id, horizon_months, probability, split.
    """
    train = cohort.loc[cohort["split"] == "train", "patient_id"]
    y = Surv.from_arrays(
        cohort.set_index("patient_id").loc[train, "event"].astype(bool),
        cohort.set_index("patient_id").loc[train, "time_months"],
    )
    chain = chain.with_reducer(centres=centres_by_patient(cohort))
    predicted = chain(features.loc[train], y, features.loc[cohort["patient_id"]])
    return predicted.merge(cohort[["patient_id", "split"]], on="patient_id")


def radiomics_out_of_fold(
    features: pd.DataFrame, cohort: pd.DataFrame, chain: RadiomicsChain, n_folds: int, seed: int
) -> pd.DataFrame:
    """Cross-fitted training-split predictions of the whole chain (each patient by a model that never saw it).

    Columns: patient_id, horizon_months, probability, fold (``helpers.models.crossfit.out_of_fold_predictions``).
    """
    train = cohort[cohort["split"] == "train"].set_index("patient_id")
    y = Surv.from_arrays(train["event"].astype(bool), train["time_months"])
    chain = chain.with_reducer(centres=centres_by_patient(train))
    return out_of_fold_predictions(features.loc[train.index], y, chain, n_folds=n_folds, random_state=seed)


def densenet_predictions(
    checkpoint: Path, cases: pd.DataFrame, cache_dir: Path, *, weights: Path | None = None
) -> pd.DataFrame:
    """Predictions of notebook 06's network for ``cases`` (index patient_id): patient_id, horizon_months, probability.

    By its selected checkpoint, or with ``weights`` (06's ``densenet.last.pt``) the weights after its last
    epoch (a fixed training length, chosen before any evaluation).
    """
    model, config = load_densenet(checkpoint, device="cpu")
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["model"])
        model.eval()
    return predict_densenet(model, cases, config, cache_dir)


@dataclass(frozen=True)
class BaseModels:
    """The base models' predictions for every patient (run and external) and what each arm stacks on.

    The paper arm stacks on in-sample predictions of both base models and on the DenseNet epoch
    notebook 06 kept. The rigorous arm stacks on out-of-fold radiomics predictions and on notebook
    06's cross-fitted DenseNet: out-of-fold for training patients, the mean of the fold networks for
    test and external patients. There is no fallback: without the fold networks the comparison stops.
    """

    radiomics: pd.DataFrame
    radiomics_oof: pd.DataFrame
    selected: pd.DataFrame  # the DenseNet checkpoint notebook 06 kept
    last: pd.DataFrame  # the DenseNet after its last epoch
    crossfit: pd.DataFrame  # the cross-fitted DenseNet (training rows out of fold; others the fold mean)
    densenet_protocol: str

    def shown(self, arm: str) -> dict[str, pd.DataFrame]:
        """The base predictions an arm reports beside its fusion models.

        Keys radiomics and densenet; columns patient_id, horizon_months, probability, split.
        """
        return {"radiomics": self.radiomics, "densenet": self.selected if arm == "paper" else self.crossfit}

    def stacked(self, arm: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(radiomics, DenseNet) inputs of an arm's fusion models.

        Columns patient_id, horizon_months, probability (``paper``: the full predictions, plus split).
        """
        if arm == "paper":
            return self.radiomics, self.selected
        return (
            stacking_inputs(self.radiomics, self.radiomics_oof),
            stacking_inputs(self.crossfit, self.crossfit[self.crossfit["split"] == "train"]),
        )

    def by_arm(self) -> dict[str, dict[str, pd.DataFrame]]:
        """``shown`` for each arm: keys the ARMS, each a dict of ``shown``'s frames."""
        return {arm: self.shown(arm) for arm in ARMS}

    def long(self) -> pd.DataFrame:
        """Every arm's shown base predictions in one table (columns of the predictions, plus arm and model).

        Columns: patient_id, horizon_months, probability, split, arm, model.
        """
        return pd.concat(
            [frame.assign(arm=arm, model=name) for arm in ARMS for name, frame in self.shown(arm).items()],
            ignore_index=True,
        )


def base_models(
    run: RunInputs, everyone: pd.DataFrame, all_features: pd.DataFrame, cache_dir: Path, oof_folds: int, seed: int
) -> BaseModels:
    """Predict every patient with the run's radiomics chain and DenseNets; cross-fit the radiomics chain.

    External patients get the fold networks' mean prediction, like the run's test patients.
    """
    radiomics = radiomics_predictions(all_features, everyone, run.chain)
    radiomics_oof = radiomics_out_of_fold(all_features, everyone, run.chain, oof_folds, seed)
    cases, splits = everyone.set_index("patient_id"), everyone[["patient_id", "split"]]
    selected, last = (
        densenet_predictions(run.checkpoint, cases, cache_dir, weights=weights).merge(splits)
        for weights in (None, run.last_weights)
    )
    external = cases[cases["split"] == "external"]
    crossfit = pd.concat(
        [run.densenet_crossfit.drop(columns="fold"), predict_fold_ensemble(run.densenet_folds, external, cache_dir)],
        ignore_index=True,
    ).drop(columns="split")
    return BaseModels(radiomics, radiomics_oof, selected, last, crossfit.merge(splits), run.densenet_protocol)


def stacking_inputs(final: pd.DataFrame, out_of_fold: pd.DataFrame | None) -> pd.DataFrame:
    """Base probabilities for fusion: training rows out-of-fold when given (else in-sample), other rows from ``final``.

    Columns: patient_id, horizon_months, probability.
    """
    columns = PREDICTION_COLUMNS
    if out_of_fold is None:
        return final[columns]
    return pd.concat([out_of_fold[columns], final.loc[final["split"] != "train", columns]], ignore_index=True)


@dataclass(frozen=True)
class ArmResult:
    """One protocol's fused predictions on train, test and external patients, and the model it reports."""

    arm: Protocol
    predictions: pd.DataFrame  # patient_id, split, horizon_months, model, probability
    best: str
    reason: str
    oof: pd.DataFrame | None = None  # rigorous: out-of-fold training predictions (patient_id, model, probability,
    # horizon_months), which its cut-off is searched on


def fuse_arm(
    arm: Protocol,
    cohort: pd.DataFrame,
    radiomics_input: pd.DataFrame,
    densenet_input: pd.DataFrame,
    base: dict[str, pd.DataFrame],
    policy: LabelPolicy,
    seed: int,
) -> ArmResult:
    """Fit the four fusion models under ``arm`` and pick the reported one as that protocol does."""
    result = fusion.fuse_and_choose(
        cohort, base, {"radiomics": radiomics_input, "densenet": densenet_input}, arm, policy, seed
    )
    return ArmResult(arm, result.predictions, result.best, result.reason, result.oof)


def arm_predictions(arms: list[ArmResult]) -> pd.DataFrame:
    """Every arm's fused predictions in one table (ArmResult.predictions' columns plus arm).

    Columns: patient_id, model, probability, horizon_months, split, arm.
    """
    return pd.concat([arm.predictions.assign(arm=arm.arm) for arm in arms], ignore_index=True)


def optimism_table(
    arms: list[ArmResult],
    base: dict[str, dict[str, pd.DataFrame]],
    cohort: pd.DataFrame,
    ceilings: pd.DataFrame,
    label_policy: LabelPolicy,
) -> pd.DataFrame:
    """Per arm, model and horizon: reported test AUC, true external AUC, both ceilings and the optimism, each arm
    scored on its own labels (``helpers.data.outcomes.arm_label_policy``: IPCW for the rigorous arm).

    ``ceilings``: ``test_and_external_ceilings``. Each model is set
    against the ceiling of its own information set; ``adjusted_optimism`` = (test - test ceiling) -
    (external - external ceiling) removes the part of the raw difference that is only the two samples
    being easier or harder. Columns: arm, model (MODEL_LABELS' label), reported (whether it is the arm's
    chosen model), horizon_months, test_auc, external_auc, optimism, test_ceiling, external_ceiling,
    adjusted_optimism.
    """
    rows = []
    ceiling = ceilings.set_index(["arm", "information_set", "split", "horizon_months"])["auc"]
    for result in arms:
        policy = arm_label_policy(result.arm, label_policy)
        models = dict(base[result.arm])
        models |= {
            m: result.predictions[result.predictions["model"] == m].drop(columns="model") for m in fusion.FUSION_MODELS
        }
        for name, frame in models.items():
            labelled = with_labels(frame, cohort, policy)
            for horizon, part in labelled.groupby("horizon_months"):
                reported = auc_known(*_split(part, "test"))
                external = auc_known(*_split(part, "external"))
                test_ceiling = float(ceiling[(result.arm, MODEL_INFORMATION[name], "test", int(horizon))])
                external_ceiling = float(ceiling[(result.arm, MODEL_INFORMATION[name], "external", int(horizon))])
                rows.append(
                    {
                        "arm": result.arm,
                        "model": MODEL_LABELS[name],
                        "reported": name == result.best,
                        "horizon_months": int(horizon),
                        "test_auc": reported,
                        "external_auc": external,
                        "optimism": reported - external,
                        "test_ceiling": test_ceiling,
                        "external_ceiling": external_ceiling,
                        "adjusted_optimism": (reported - test_ceiling) - (external - external_ceiling),
                    }
                )
    return pd.DataFrame(rows)


def checkpoint_table(
    checkpoints: dict[str, pd.DataFrame], cohort: pd.DataFrame, arm: Protocol, label_policy: LabelPolicy
) -> pd.DataFrame:
    """Test and external AUC per horizon of the same network at different checkpoints, on the labels of ``arm``
    (the protocol notebook 06 trained the network under).

    Columns: checkpoint (``checkpoints``' keys), horizon_months, test_auc, external_auc.
    """
    policy = arm_label_policy(arm, label_policy)
    rows = []
    for name, frame in checkpoints.items():
        for horizon, part in with_labels(frame, cohort, policy).groupby("horizon_months"):
            rows.append(
                {
                    "checkpoint": name,
                    "horizon_months": int(horizon),
                    "test_auc": auc_known(*_split(part, "test")),
                    "external_auc": auc_known(*_split(part, "external")),
                }
            )
    return pd.DataFrame(rows)


def _split(part: pd.DataFrame, split: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(labels, probabilities, weights) of one split of a labelled prediction table."""
    rows = part[part["split"] == split]
    return rows["label"], rows["probability"], rows["weight"]


def cutoff_comparison(
    arms: list[ArmResult], cohort: pd.DataFrame, risk_horizon: int, min_prop: float = 0.1, max_prop: float = 0.9
) -> pd.DataFrame:
    """Each arm's cut-off and the risk groups' separation on the test split and on the external cohort.

    The cut-off is searched on train + test (paper, in-sample probabilities) or on the out-of-fold training
    probabilities (rigorous); separation is the log-rank chi-square and the Cox hazard ratio high vs low. Columns: arm, searched_on, cutpoint, split,
    high_risk_share, chi_square, p_value, hazard_ratio.
    """
    rows = []
    indexed = cohort.set_index("patient_id")
    for result in arms:
        chosen = result.predictions[
            (result.predictions["model"] == result.best) & (result.predictions["horizon_months"] == risk_horizon)
        ]
        patients = indexed.join(chosen.set_index("patient_id")["probability"].rename("fusion_risk"), how="inner")
        if result.arm == "paper":
            searched = patients[patients["split"].isin(["train", "test"])]
        else:
            if result.oof is None:
                raise ValueError(
                    "the rigorous arm searches its cut-off on out-of-fold training predictions: none given"
                )
            crossed = result.oof[(result.oof["model"] == result.best) & (result.oof["horizon_months"] == risk_horizon)]
            searched = patients[patients["split"] == "train"]
            risk = crossed.set_index("patient_id")["probability"].reindex(searched.index)
            if risk.isna().any():
                missing = risk.index[risk.isna()][:10].tolist()
                raise ValueError(f"no out-of-fold fusion risk for training patient(s) {missing}")
            searched = searched.assign(fusion_risk=risk.to_numpy())
        cut = stratify.optimal_cutpoint(
            searched["time_months"], searched["event"], searched["fusion_risk"], min_prop=min_prop, max_prop=max_prop
        )
        for split in ("test", "external"):
            part = patients[patients["split"] == split]
            high = (part["fusion_risk"] > cut.cutpoint).astype(int)
            test = stratify.logrank(part["time_months"], part["event"], high)
            rows.append(
                {
                    "arm": result.arm,
                    "searched_on": "train + test" if result.arm == "paper" else "train (out-of-fold)",
                    "cutpoint": cut.cutpoint,
                    "split": split,
                    "high_risk_share": float(high.mean()),
                    "chi_square": test.statistic,
                    "p_value": test.p_value,
                    "hazard_ratio": _hazard_ratio(part["time_months"], part["event"], high),
                }
            )
    return pd.DataFrame(rows)


def _hazard_ratio(time: pd.Series, event: pd.Series, group: pd.Series) -> float:
    """Cox hazard ratio of group 1 against group 0 (NaN when a group is empty)."""
    if group.nunique() < 2:
        return float("nan")
    frame = pd.DataFrame({"time": time.to_numpy(), "event": event.to_numpy(), "high": group.to_numpy()})
    return float(np.exp(CoxPHFitter().fit(frame, "time", "event").params_["high"]))


def centre_transfer(
    features: pd.DataFrame,
    cohort: pd.DataFrame,
    truth: pd.DataFrame | None,
    chain: RadiomicsChain,
    arm: Protocol,
    label_policy: LabelPolicy,
    random_split_auc: pd.DataFrame,
    ceiling_models: CeilingModels | None = None,
    source: str | None = None,
    target: str | None = None,
) -> pd.DataFrame:
    """The radiomics chain fitted on every ``source``-centre patient and scored on every ``target``-centre patient,
    and fitted on the random split's training patients and scored on its test split, each without and with ComBat.

    In the transfer ComBat takes the source centre as its reference (sva's ``ref.batch``) and estimates the target
    centre's shift and scale from the target patients' own features, never their outcomes; on the random split it
    is fitted on the training patients of both centres (``helpers.features.harmonise``). Scored on the labels of
    ``arm`` (``helpers.data.outcomes.arm_label_policy``), the arm whose metrics notebook 05 wrote: the random
    split under the chain's own ``harmonise`` is notebook 05's test AUC (``random_split_auc``), the other setting
    is refitted here. In silico (``truth`` and ``ceiling_models`` given), the ROI ceiling on the target centre.
    Columns: horizon_months, "AUC <source> -> <target>", "AUC <source> -> <target>, ComBat", "n <target>",
    "AUC random split (test)", "AUC random split (test), ComBat" and, in silico, "ROI ceiling on <target>".
    ``source`` and ``target`` default to the first two centres in sorted order.
    """
    policy = arm_label_policy(arm, label_policy)
    centres = sorted(cohort["centre"].unique())
    source, target = source or centres[0], target or centres[1]
    by_centre = cohort.assign(
        split=np.where(cohort["centre"] == source, "train", np.where(cohort["centre"] == target, "test", "other"))
    )
    by_centre = by_centre[by_centre["split"] != "other"]
    transfer = {"harmonise": "combat", "reference_centre": source, "unseen_centre": "own_features"}
    random_split = {"harmonise": "combat", "reference_centre": None, "unseen_centre": "error"}
    runs = {
        f"AUC {source} -> {target}": (by_centre, {"harmonise": "none"}),
        f"AUC {source} -> {target}, ComBat": (by_centre, transfer),
        "AUC random split (test)": (cohort, {"harmonise": "none"}),
        "AUC random split (test), ComBat": (cohort, random_split),
    }
    reported = random_split_auc[random_split_auc["split"] == "test"].set_index("horizon_months")
    own = chain.reducer_params.get("harmonise", "none")
    scored = {}
    for column, (patients, setting) in runs.items():
        if patients is cohort and setting["harmonise"] == own:
            scored[column] = reported  # notebook 05's, the same chain on the same split
            continue
        predicted = radiomics_predictions(features, patients, chain.with_reducer(**setting))
        metrics = horizon_metrics(predicted, patients, policy)
        scored[column] = metrics[metrics["split"] == "test"].set_index("horizon_months")
    table = pd.DataFrame({column: frame["auc"] for column, frame in scored.items()})
    table.insert(2, f"n {target}", scored[f"AUC {source} -> {target}"]["n"])
    table = table.reset_index()
    if truth is not None and ceiling_models is not None:
        ceiling = ceiling_auc_table(by_centre, truth, ceiling_models, policy, splits=("test",))
        roi = ceiling[ceiling["information_set"] == "roi"]
        table = table.merge(
            roi[["horizon_months", "auc"]].rename(columns={"auc": f"ROI ceiling on {target}"}), on="horizon_months"
        )
    return table


def reported_summary(optimism: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each arm's reported model per horizon (key "<arm>_<months>"): test and external AUC, raw and adjusted optimism."""
    return {
        f"{r.arm}_{r.horizon_months}": {
            "test": r.test_auc,
            "external": r.external_auc,
            "optimism": r.optimism,
            "adjusted_optimism": r.adjusted_optimism,
        }
        for r in optimism[optimism["reported"]].itertuples()
    }
