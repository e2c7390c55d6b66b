"""Protocol comparison helpers: stacking inputs, optimism arithmetic, checkpoints, cut-offs, centre transfer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers.data.outcomes import horizon_labels
from helpers.evaluation import stratify
from helpers.models.fusion import FUSION_MODELS
from helpers.study import protocols
from helpers.synthetic.spec import CohortSpec
from helpers.vocabulary import PREDICTION_COLUMNS


def _cohort(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Patients with an exponential survival time driven by a known risk, three splits and two centres."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = rng.exponential(20 * np.exp(-risk))
    censor = rng.uniform(30, 60, n)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "risk": risk,
            "time_months": np.minimum(time, censor),
            "event": (time <= censor).astype(int),
            "split": np.array(["train", "test", "external"])[np.arange(n) % 3],
            "centre": np.where(np.arange(n) % 2 == 0, "C1", "C2"),
        }
    )


def _long(cohort: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    """Long predictions (a logistic of ``score``, the same at every horizon) with the split column."""
    probability = 1 / (1 + np.exp(-score))
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "patient_id": cohort["patient_id"],
                    "horizon_months": h,
                    "probability": probability,
                    "split": cohort["split"],
                }
            )
            for h in (12, 24, 36)
        ],
        ignore_index=True,
    )


def test_stacking_inputs_take_training_rows_out_of_fold_and_the_rest_from_the_final_model():
    cohort = _cohort(30)
    final = _long(cohort, np.zeros(30))
    train = cohort[cohort["split"] == "train"]
    oof = _long(train, np.full(len(train), 2.0)).drop(columns="split")
    stacked = protocols.stacking_inputs(final, oof).merge(cohort[["patient_id", "split"]])
    assert len(stacked) == len(final)
    assert np.allclose(stacked.loc[stacked["split"] == "train", "probability"], 1 / (1 + np.exp(-2)))
    assert np.allclose(stacked.loc[stacked["split"] != "train", "probability"], 0.5)
    assert protocols.stacking_inputs(final, None).equals(final[["patient_id", "horizon_months", "probability"]])


def test_optimism_is_reported_test_auc_minus_external_auc():
    cohort = _cohort()
    rng = np.random.default_rng(1)
    # A model that is informative on the test split and uninformative on the external cohort.
    score = np.where(cohort["split"] == "external", rng.normal(size=len(cohort)), cohort["risk"] * 3)
    predictions = _long(cohort, score)
    fused = pd.concat([predictions.assign(model=m) for m in FUSION_MODELS], ignore_index=True)
    arm = protocols.ArmResult("paper", fused, "random_forest", "test")
    base = {"paper": {"radiomics": predictions, "densenet": predictions}}
    # ceilings: 0.95 on the test split, 0.85 on the external cohort, for every information set
    ceilings = pd.DataFrame(
        [
            {"arm": "paper", "information_set": name, "split": split, "horizon_months": h, "auc": auc}
            for name in ("roi", "image", "everything")
            for split, auc in (("test", 0.95), ("external", 0.85))
            for h in (12, 24, 36)
        ]
    )
    table = protocols.optimism_table([arm], base, cohort, ceilings, "known_status")
    assert len(table) == 6 * 3 and table["reported"].sum() == 3
    # each AUC recomputed independently: scikit-learn on the patients whose 24-month status is known
    labels = horizon_labels(cohort["time_months"], cohort["event"], 24, "known_status")
    expected = {}
    for split in ("test", "external"):
        known = (cohort["split"] == split) & labels.notna()
        expected[split] = roc_auc_score(labels[known], score[known.to_numpy()])
    row = table[(table["model"] == "Fusion RF") & (table["horizon_months"] == 24)].iloc[0]
    assert row["test_auc"] == pytest.approx(expected["test"]) and row["external_auc"] == pytest.approx(
        expected["external"]
    )
    assert row["optimism"] == pytest.approx(expected["test"] - expected["external"]) and row["optimism"] > 0.2
    assert (table["test_auc"] > 0.7).all() and (table["external_auc"].between(0.35, 0.65)).all()
    assert (table["test_ceiling"] == 0.95).all() and (table["external_ceiling"] == 0.85).all()
    assert row["adjusted_optimism"] == pytest.approx((expected["test"] - 0.95) - (expected["external"] - 0.85))


def test_checkpoint_table_scores_each_checkpoint_on_test_and_external():
    cohort = _cohort()
    good, useless = _long(cohort, cohort["risk"].to_numpy() * 3), _long(cohort, np.zeros(len(cohort)))
    table = protocols.checkpoint_table({"good": good, "useless": useless}, cohort, "paper", "known_status")
    assert set(table["checkpoint"]) == {"good", "useless"} and len(table) == 6
    assert (table.loc[table["checkpoint"] == "useless", ["test_auc", "external_auc"]] == 0.5).all().all()
    assert (table.loc[table["checkpoint"] == "good", ["test_auc", "external_auc"]] > 0.65).all().all()


def test_hazard_ratio_recovers_a_known_ratio():
    rng = np.random.default_rng(3)
    group = pd.Series(np.repeat([0, 1], 3000))
    time = pd.Series(rng.exponential(np.where(group == 1, 5.0, 10.0)))  # hazard doubles in group 1
    assert protocols._hazard_ratio(time, pd.Series(np.ones(6000, dtype=int)), group) == pytest.approx(2.0, rel=0.06)
    assert np.isnan(protocols._hazard_ratio(time, pd.Series(np.ones(6000, dtype=int)), pd.Series(np.zeros(6000))))


def test_the_paper_cutoff_is_searched_on_train_and_test_and_the_rigorous_one_on_train_only():
    cohort = _cohort(600)
    # the test split's scores are shifted up, so a search that includes them finds another cut-off
    score = cohort["risk"].to_numpy() * 2 + np.where(cohort["split"] == "test", 3.0, 0.0)
    fused = pd.concat([_long(cohort, score).assign(model=m) for m in FUSION_MODELS], ignore_index=True)
    # the rigorous arm's out-of-fold training scores differ from its in-sample ones: its search must use them
    train = cohort[cohort["split"] == "train"]
    oof_score = train["risk"].to_numpy() * 2 + np.random.default_rng(3).normal(0, 1.0, len(train))
    oof = pd.concat([_long(train, oof_score).assign(model=m) for m in FUSION_MODELS], ignore_index=True)
    arms = [
        protocols.ArmResult("paper", fused, "logistic_regression", ""),
        protocols.ArmResult("rigorous", fused, "logistic_regression", "", oof.drop(columns="split")),
    ]
    table = protocols.cutoff_comparison(arms, cohort, 36)
    risk = pd.Series(1 / (1 + np.exp(-score)), index=cohort.index)
    oof_risk = pd.Series(1 / (1 + np.exp(-oof_score)), index=train.index)

    def searched(splits: list[str]) -> float:
        part = cohort["split"].isin(splits)
        return stratify.optimal_cutpoint(
            cohort.loc[part, "time_months"], cohort.loc[part, "event"], risk[part]
        ).cutpoint

    cutpoints = table.groupby("arm")["cutpoint"].first()
    assert cutpoints["paper"] == searched(["train", "test"])
    assert cutpoints["rigorous"] == stratify.optimal_cutpoint(train["time_months"], train["event"], oof_risk).cutpoint
    assert cutpoints["rigorous"] != searched(["train"])  # not the in-sample training scores
    assert list(table["searched_on"].unique()) == ["train + test", "train (out-of-fold)"]
    without = protocols.ArmResult("rigorous", fused, "logistic_regression", "")
    with pytest.raises(ValueError, match="out-of-fold"):
        protocols.cutoff_comparison([without], cohort, 36)
    assert set(table["split"]) == {"test", "external"}
    external = table[table["split"] == "external"]
    assert (external["hazard_ratio"] > 1.5).all() and (external["p_value"] < 0.01).all()


@dataclass(frozen=True)
class SpyChain:
    """A radiomics chain that predicts the true risk and records what it was fitted on, with which settings."""

    fits: list
    settings: dict = field(default_factory=dict)

    @property
    def reducer_params(self) -> dict:
        return self.settings

    def with_reducer(self, **params) -> SpyChain:
        return SpyChain(self.fits, {**self.settings, **params})

    def __call__(self, train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        self.fits.append((set(train_X.index), self.settings))
        return _long(test_X.reset_index().assign(split="?"), test_X["risk"].to_numpy())[PREDICTION_COLUMNS]


def test_centre_transfer_fits_on_the_source_centre_only_without_and_with_combat():
    cohort = _cohort(200).assign(split=lambda c: np.where(np.arange(len(c)) % 3 == 0, "test", "train"))
    features = cohort.set_index("patient_id")[["risk"]]
    chain = SpyChain([], {"harmonise": "none"})
    reported = pd.DataFrame({"split": "test", "horizon_months": [12, 24, 36], "auc": [0.7, 0.7, 0.7], "n": 66})
    table = protocols.centre_transfer(features, cohort, None, chain, "paper", "known_status", reported)
    source = set(cohort.loc[cohort["centre"] == "C1", "patient_id"])
    train = set(cohort.loc[cohort["split"] == "train", "patient_id"])
    # the random split without ComBat is notebook 05's (the chain's own setting): only the ComBat one is refitted
    assert [fitted for fitted, _ in chain.fits] == [source, source, train]
    assert [settings["harmonise"] for _, settings in chain.fits] == ["none", "combat", "combat"]
    transfer, random_split = chain.fits[1][1], chain.fits[2][1]
    assert transfer["reference_centre"] == "C1" and transfer["unseen_centre"] == "own_features"
    assert random_split["reference_centre"] is None and random_split["unseen_centre"] == "error"
    assert set(transfer["centres"].index) == set(cohort["patient_id"])  # every patient's centre, for ComBat
    assert list(table.columns) == [
        "horizon_months",
        "AUC C1 -> C2",
        "AUC C1 -> C2, ComBat",
        "n C2",
        "AUC random split (test)",
        "AUC random split (test), ComBat",
    ]
    assert (table["AUC random split (test)"] == 0.7).all()  # notebook 05's, as given
    assert (table.drop(columns=["horizon_months", "n C2", "AUC random split (test)"]) > 0.65).all().all()
    assert (table["n C2"] <= (cohort["centre"] == "C2").sum()).all()  # patients with a known label


def test_the_external_cohort_refuses_the_runs_own_seed(tmp_path):
    spec = CohortSpec(n_patients=4, seed=5)
    with pytest.raises(ValueError, match="seed other than the run's"):
        protocols.external_cohort(spec, 4, 5, str(tmp_path / "params.yaml"))
