"""True ceilings: E[lp | information set] learned on a reference population, scored on the run's splits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers.data.outcomes import horizon_labels
from helpers.synthetic import ceilings
from helpers.synthetic.clinical import simulate_clinical
from helpers.synthetic.spec import CohortSpec

SPEC = CohortSpec()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> ceilings.CeilingModels:
    return ceilings.fit_ceilings(SPEC, tmp_path_factory.mktemp("ceilings"))


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    """5,000 patients the reference population never saw, split 7:3 by index."""
    table = simulate_clinical(replace(SPEC, n_patients=5000, n_reader2=0, seed=99))
    return table.assign(split=np.where(np.arange(len(table)) % 10 < 7, "train", "test"))


def ceiling_r2(models: ceilings.CeilingModels, truth: pd.DataFrame) -> dict[str, float]:
    """Share of the linear predictor's variance each information set's ceiling explains on ``truth``."""
    scores, lp = models.scores(truth), truth["lp_total"].to_numpy()
    return {name: float(1 - np.var(lp - scores[name].to_numpy()) / np.var(lp)) for name in ceilings.INFORMATION_SETS}


def test_the_reference_population_is_another_draw_of_the_same_model():
    reference = ceilings.reference_spec(SPEC)
    assert reference.seed != SPEC.seed and reference.n_patients == 40_000 and reference.n_reader2 == 0
    assert replace(reference, n_patients=SPEC.n_patients, n_reader2=SPEC.n_reader2, seed=SPEC.seed) == SPEC


def test_the_ceiling_of_an_information_set_is_the_conditional_mean_of_lp(models, fresh):
    scores = models.scores(fresh)
    residual = fresh["lp_total"] - scores["clinical"]
    # E[lp - E[lp | clinical] | T, N, M] = 0: within each stage group the residual averages to zero
    by_stage = residual.groupby([fresh["T"], fresh["N"], fresh["M"]]).agg(["mean", "count", "std"])
    big = by_stage[by_stage["count"] >= 100]
    assert (big["mean"].abs() <= 3 * big["std"] / np.sqrt(big["count"])).all()
    # the clinical part of lp is a function of the clinical set: its ceiling explains at least that part
    r2 = ceiling_r2(models, fresh)
    clinical_share = 1 - np.var(fresh["lp_total"] - fresh["lp_clinical"]) / np.var(fresh["lp_total"])
    assert r2["clinical"] >= clinical_share
    assert r2["everything"] == 1.0
    assert r2["clinical_roi"] > max(r2["clinical"], r2["roi"]) and r2["image"] > r2["roi"]
    assert np.array_equal(scores["everything"], fresh["lp_total"])


def test_ceiling_auc_matches_scikit_learn_and_ranks_the_information_sets(models, fresh):
    table = ceilings.ceiling_auc_table(fresh, fresh, models, "known_status")
    assert list(table.columns) == ["information_set", "split", "horizon_months", "auc"]
    assert len(table) == 2 * len(ceilings.INFORMATION_SETS) * 3
    test = fresh[fresh["split"] == "test"]
    labels = horizon_labels(test["time_months"], test["event"], 24, "known_status")
    known = labels.notna()
    expected = roc_auc_score(labels[known], models.scores(test)["roi"][known])
    row = table.query("split == 'test' and information_set == 'roi' and horizon_months == 24")
    assert row["auc"].item() == pytest.approx(expected)
    auc = table[table["split"] == "train"].pivot(index="horizon_months", columns="information_set", values="auc")
    assert (auc["everything"] >= auc[["clinical", "roi", "image", "clinical_roi"]].max(axis=1) - 0.005).all()
    assert (auc["clinical_roi"] > auc["roi"]).all() and (auc["image"] > auc["roi"]).all()
    assert auc["everything"].between(0.85, 0.95).all()


def test_a_patient_without_truth_is_refused(models, fresh):
    cohort = fresh.head(20).assign(patient_id=lambda t: t["patient_id"].where(t.index != 3, "SYN-XXXX"))
    with pytest.raises(ValueError, match="SYN-XXXX"):
        ceilings.ceiling_auc_table(cohort, fresh.head(20), models, "known_status")


def test_fitted_ceilings_are_cached_per_spec(tmp_path):
    first = ceilings.fit_ceilings(SPEC, tmp_path)
    assert len(list(tmp_path.glob("ceilings-*.joblib"))) == 1
    again = ceilings.fit_ceilings(SPEC, tmp_path)
    probe = simulate_clinical(replace(SPEC, n_patients=50, seed=1))
    pd.testing.assert_frame_equal(first.scores(probe), again.scores(probe))
    ceilings.fit_ceilings(replace(SPEC, log_hr_stranding=1.0), tmp_path)
    assert len(list(tmp_path.glob("ceilings-*.joblib"))) == 2


def test_each_model_is_set_against_its_own_information_set():
    metrics = pd.DataFrame({"split": "test", "horizon_months": [12, 24, 36], "auc": [0.7, 0.72, 0.74]})
    table = pd.DataFrame(
        [
            {"information_set": name, "split": "test", "horizon_months": h, "auc": auc}
            for name, auc in (("roi", 0.75), ("image", 0.85), ("everything", 0.9))
            for h in (12, 24, 36)
        ]
    )
    shown = ceilings.against_ceiling(metrics, table, "densenet")
    assert list(shown.columns) == [
        "split",
        "horizon_months",
        "AUC",
        "ceiling: image (ROI + context)",
        "gap",
        "ceiling: everything",
    ]
    assert np.allclose(shown["gap"], [0.15, 0.13, 0.11]) and (shown["ceiling: everything"] == 0.9).all()
