"""Harrell's and Uno's C, Brier and integrated Brier score of horizon probabilities, by hand and against lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from sksurv.metrics import brier_score, concordance_index_ipcw
from sksurv.util import Surv

from helpers.evaluation.survival import (
    evaluation_times,
    horizon_frame,
    kaplan_meier_predictions,
    survival_score_table,
    survival_scores,
)
from helpers.evaluation.uncertainty import bootstrap_survival_scores, survival_scores_with_ci

HORIZONS = (12, 24, 36)


def _long(ids: list[str], death: np.ndarray) -> pd.DataFrame:
    """Long predictions from a (patients x horizons) array of death probabilities."""
    return pd.DataFrame(
        {
            "patient_id": np.repeat(ids, len(HORIZONS)),
            "horizon_months": np.tile(HORIZONS, len(ids)),
            "probability": np.asarray(death, dtype=float).ravel(),
        }
    )


def test_uncensored_scores_by_hand() -> None:
    """No censoring in the test split and none in training before 80 months: every IPC weight is 1, so
    Brier(t) = mean((died by t - p_t)^2), and Uno's C is Harrell's C over the pairs whose first death is before tau."""
    test_time = [3, 10, 20, 30, 40, 50]
    cohort = pd.DataFrame(
        {
            "patient_id": [f"t{i}" for i in range(6)] + [f"r{i}" for i in range(8)],
            "split": ["test"] * 6 + ["train"] * 8,
            "time_months": test_time + [2, 6, 11, 18, 25, 33, 45, 80],
            "event": [1] * 13 + [0],
        }
    )
    death = np.array(
        [[0.9, 0.95, 0.99], [0.7, 0.8, 0.9], [0.4, 0.6, 0.7], [0.2, 0.5, 0.8], [0.1, 0.3, 0.4], [0.3, 0.4, 0.5]]
    )
    predictions = _long(list(cohort["patient_id"][:6]), death)
    scores = survival_scores(predictions, cohort)
    died = np.array([[t <= h for h in HORIZONS] for t in test_time], dtype=float)
    brier = ((died - death) ** 2).mean(axis=0)
    assert [scores[f"brier_{h}m"] for h in HORIZONS] == pytest.approx(brier)
    assert scores["ibs"] == pytest.approx((brier[0] + 2 * brier[1] + brier[2]) / 4)  # trapezoid over 12-36 / 24
    # Risk = 36-month probability: of the 15 pairs, (20, 30) (0.7 < 0.8) and (40, 50) (0.4 < 0.5) are discordant.
    assert scores["harrell_c"] == pytest.approx(13 / 15)
    # Uno's C, truncated at tau = 36, drops the pair (40, 50), whose earlier death is after tau: 13/14.
    assert scores["uno_c"] == pytest.approx(13 / 14)
    assert (scores["n"], scores["events"], scores["tau"]) == (6, 6, 36.0)


@pytest.fixture(scope="module")
def tcga(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TCGA-PAAD overall survival in months, a seeded 2:1 split, and a toy risk model (older + later stage = riskier)."""
    table = pd.read_csv(shared_data / "tcga_paad" / "tcga_paad_patients.csv").dropna(subset=["os_days", "os_event"])
    split = np.random.default_rng(0).permutation(np.resize(["train", "train", "test"], len(table)))
    cohort = pd.DataFrame(
        {
            "patient_id": table["patient_id"],
            "time_months": table["os_days"] / 30.4375,
            "event": table["os_event"].astype(int),
            "split": split,
        }
    )
    stage = table["ajcc_stage_group"].map({"I": 0, "II": 1, "III": 2, "IV": 3}).fillna(1).to_numpy()
    linear = 0.03 * (table["age_years"].to_numpy() - 65) + 0.5 * stage
    death = 1 - np.exp(-np.outer(np.exp(linear), HORIZONS) / 20)
    return cohort, _long(list(cohort["patient_id"]), death)


def test_real_data_scores_match_lifelines_and_scikit_survival(tcga) -> None:
    cohort, predictions = tcga
    scores = survival_scores(predictions, cohort)
    frame = horizon_frame(predictions, cohort)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    # lifelines scores predicted survival (higher = longer), so the risk enters negated.
    assert scores["harrell_c"] == pytest.approx(concordance_index(test["time_months"], -test[36], test["event"]))
    y_train = Surv.from_arrays(train["event"].astype(bool), train["time_months"])
    y_test = Surv.from_arrays(test["event"].astype(bool), test["time_months"])
    assert scores["uno_c"] == pytest.approx(concordance_index_ipcw(y_train, y_test, test[36].to_numpy(), tau=36)[0])
    _, brier = brier_score(y_train, y_test, 1 - test[list(HORIZONS)].to_numpy(), list(HORIZONS))
    assert [scores[f"brier_{h}m"] for h in HORIZONS] == pytest.approx(brier)


def test_kaplan_meier_reference_matches_lifelines(tcga) -> None:
    cohort, _ = tcga
    train = cohort[cohort["split"] == "train"]
    survival = KaplanMeierFitter().fit(train["time_months"], train["event"]).survival_function_at_times(HORIZONS)
    reference = kaplan_meier_predictions(cohort)
    assert len(reference) == 3 * len(cohort)
    first = reference[reference["patient_id"] == cohort["patient_id"].iloc[0]]
    np.testing.assert_allclose(first["probability"], 1 - survival.to_numpy())


def test_perfect_information_beats_the_kaplan_meier_reference() -> None:
    """A predictor that knows each death time has Brier 0 everywhere and C = 1; Kaplan-Meier's constant does not."""
    rng = np.random.default_rng(3)
    n = 400
    death_time, censor_time = rng.exponential(24, n), rng.uniform(6, 80, n)
    ids = [f"p{i}" for i in range(n)]
    cohort = pd.DataFrame(
        {
            "patient_id": ids,
            "split": np.where(np.arange(n) % 3 == 0, "test", "train"),
            "time_months": np.minimum(death_time, censor_time),
            "event": (death_time <= censor_time).astype(int),
        }
    )
    knows = np.column_stack([death_time <= h for h in HORIZONS]).astype(float)
    table = survival_score_table({"oracle": _long(ids, knows), "km": kaplan_meier_predictions(cohort)}, cohort)
    oracle, km = table.set_index("model").loc["oracle"], table.set_index("model").loc["km"]
    assert oracle["ibs"] == pytest.approx(0.0) and km["ibs"] > 0.15
    assert km["harrell_c"] == pytest.approx(0.5) and oracle["harrell_c"] > 0.6


def test_evaluation_times_stay_inside_the_test_follow_up() -> None:
    np.testing.assert_allclose(evaluation_times(np.array([5.0, 10, 20, 30]), HORIZONS), [12, 20, 20])
    np.testing.assert_allclose(evaluation_times(np.array([5.0, 10, 20, 60]), HORIZONS), [12, 20, 20])
    np.testing.assert_allclose(evaluation_times(np.array([5.0, 40, 50, 60]), HORIZONS), [12, 24, 36])


def test_test_follow_up_beyond_the_training_split_is_cut_without_changing_the_scores(tcga) -> None:
    """A test patient followed beyond the last training time (no censoring weight there) scores as if censored at it."""
    cohort, predictions = tcga
    last_train = cohort.loc[cohort["split"] == "train", "time_months"].max()
    longest = cohort.loc[cohort["split"] == "test", "time_months"].idxmax()
    beyond = cohort.assign(time_months=cohort["time_months"].where(cohort.index != longest, last_train + 100))
    cut = cohort.assign(
        time_months=cohort["time_months"].where(cohort.index != longest, last_train),
        event=cohort["event"].where(cohort.index != longest, 0),
    )
    scores_beyond, scores_cut = survival_scores(predictions, beyond), survival_scores(predictions, cut)
    for key in ("uno_c", "auc_12m", "auc_36m", "brier_12m", "brier_36m", "ibs"):
        assert scores_beyond[key] == pytest.approx(scores_cut[key])


def test_bootstrap_intervals_of_the_survival_scores_surround_the_estimates_and_are_paired(tcga) -> None:
    cohort, predictions = tcga
    reference = kaplan_meier_predictions(cohort)
    table = bootstrap_survival_scores({"model": predictions, "km": reference}, cohort, n_resamples=60, seed=2)
    scores = survival_scores(predictions, cohort)
    model = table[table["model"] == "model"].set_index("score")
    for score in ("harrell_c", "uno_c", "auc_24m", "brier_36m", "ibs"):
        assert model.loc[score, "estimate"] == pytest.approx(scores[score])
        assert model.loc[score, "low"] <= scores[score] <= model.loc[score, "high"]
        assert model.loc[score, "high"] - model.loc[score, "low"] > 0.005  # a real interval on ~60 patients
    km = table[table["model"] == "km"].set_index("score")
    assert km.loc["harrell_c", ["estimate", "low", "high"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    again = bootstrap_survival_scores({"model": predictions}, cohort, n_resamples=60, seed=2)
    pd.testing.assert_frame_equal(again, table[table["model"] == "model"].reset_index(drop=True))
    shown = survival_scores_with_ci(table, {"model": "The model"})
    assert list(shown.index) == ["The model", "km"] and shown.loc["The model", "ibs"].startswith(
        f"{scores['ibs']:.3f} ("
    )
