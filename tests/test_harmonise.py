"""ComBat across centres: R's sva::ComBat on its own test data, neuroCombat on every mode, and the guards."""

from __future__ import annotations

import contextlib
import io
import pickle

import joblib
import neuroCombat as nc
import numpy as np
import pandas as pd
import pytest
from builders import RRandom
from sksurv.util import Surv

from helpers.errors import CohortTooSmallError, InputError
from helpers.features.harmonise import ComBat, centres_by_patient
from helpers.features.selection import RadiomicsReducer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:neuroCombat")  # its NumPy 1.25 idiom

# Gene 1 after sva::ComBat(y, batch) in sva's tests/testthat/test_combat_sim.R (sva-devel 0a5550c), as R printed it
SVA_GENE1_BATCH_ONLY = [
    6.5275687, 1.9434116, 3.3016615, 6.5353399, 5.8317968, -0.3314552, 3.9485709, 4.5368716,
    4.8050618, 7.0422784, 4.2176928, 2.6528653, 2.3037212, 7.1688336, 3.1533711,
]  # fmt: skip


def sva_test_data() -> tuple[pd.DataFrame, pd.Series]:
    """sva's simulated genes (100 x 15, three batches of five), rebuilt with R's generator: samples x genes."""
    batch = np.repeat([1, 2, 3], 5)
    treat = RRandom(0).rbinom_half(15)
    design = np.column_stack([(batch[:, None] == np.arange(1, 4)).astype(float), treat])
    y = RRandom(0).rnorm(15 * 100, design @ np.arange(1.0, 5.0)).reshape(100, 15)  # byrow = TRUE
    samples = [f"s{i:02d}" for i in range(15)]
    return pd.DataFrame(y.T, index=samples), pd.Series(batch.astype(str), index=samples)


def centres_data(seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """Three centres of 20, 15 and 25 patients, 30 features with additive and multiplicative centre effects."""
    rng = np.random.default_rng(seed)
    blocks, labels = [], []
    for i, (centre, n) in enumerate({"A": 20, "B": 15, "C": 25}.items()):
        blocks.append(rng.normal(5, 2, (n, 30)) * np.exp(rng.normal(0, 0.3, 30) * i) + rng.normal(0, 1, 30) * i)
        labels += [centre] * n
    index = [f"p{i:02d}" for i in range(len(labels))]
    return pd.DataFrame(np.vstack(blocks), index=index), pd.Series(labels, index=index)


def neuro_combat(X: pd.DataFrame, centres: pd.Series, **options) -> dict:
    """neuroCombat on float64 arrays (features x patients; a DataFrame would be cast to float32), quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        covars = pd.DataFrame({"batch": centres.loc[X.index].to_numpy()})
        return nc.neuroCombat(dat=X.to_numpy().T.copy(), covars=covars, batch_col="batch", **options)


def test_combat_reproduces_svas_own_test_values():
    X, batch = sva_test_data()
    harmonised = ComBat(batch).fit_transform(X)
    np.testing.assert_allclose(harmonised[0].to_numpy(), SVA_GENE1_BATCH_ONLY, atol=1e-7)  # R printed 8 digits


def test_combat_equals_neurocombat_on_all_centres_and_on_new_patients():
    X, centres = centres_data()
    np.testing.assert_allclose(
        ComBat(centres).fit_transform(X).to_numpy(), neuro_combat(X, centres)["data"].T, atol=1e-12
    )
    train, test = X.index[::2], X.index[1::2]
    estimates = neuro_combat(X.loc[train], centres)["estimates"]
    with contextlib.redirect_stdout(io.StringIO()):
        applied = nc.neuroCombatFromTraining(dat=X.loc[test].to_numpy().T.copy(), batch=centres.loc[test].to_numpy(),
                                             estimates=estimates)["data"]  # fmt: skip
    np.testing.assert_allclose(
        ComBat(centres).fit(X.loc[train]).transform(X.loc[test]).to_numpy(), applied.T, atol=1e-12
    )


def test_a_reference_centre_is_left_unchanged_and_an_unseen_centre_can_be_estimated_from_its_own_features(
    monkeypatch,
):
    monkeypatch.setattr(np, "int", int, raising=False)  # neuroCombat's ref_batch still calls np.int
    X, centres = centres_data()
    reference = ComBat(centres, reference="A").fit_transform(X)
    np.testing.assert_allclose(reference.to_numpy(), neuro_combat(X, centres, ref_batch="A")["data"].T, atol=1e-12)
    np.testing.assert_allclose(reference.loc[centres == "A"].to_numpy(), X.loc[centres == "A"].to_numpy(), atol=1e-12)
    two = X.index[centres.isin(["A", "B"])]
    trained_on_a = ComBat(centres, unseen="own_features").fit(X.loc[centres == "A"])
    expected = neuro_combat(X.loc[two], centres, ref_batch="A")["data"].T
    np.testing.assert_allclose(trained_on_a.transform(X.loc[two]).to_numpy(), expected, atol=1e-12)


def test_combat_removes_a_centres_shift_and_scale():
    X, centres = centres_data()
    harmonised = ComBat(centres).fit_transform(X)
    raw_gap = X.groupby(centres).mean().std().mean()
    assert harmonised.groupby(centres).mean().std().mean() < 0.1 * raw_gap
    spread = harmonised.groupby(centres).std()
    assert (spread.max() / spread.min()).median() < (
        X.groupby(centres).std().max() / X.groupby(centres).std().min()
    ).median()


def test_an_unseen_centre_is_refused_naming_it_and_the_centres_fitted():
    X, centres = centres_data()
    fitted = ComBat(centres).fit(X.loc[centres != "C"])
    with pytest.raises(InputError, match=r"fitted on centre\(s\) A, B and has no estimate for centre C \(25 patients"):
        fitted.transform(X)


def test_a_centre_of_one_training_patient_and_a_patient_without_a_centre_are_refused():
    X, centres = centres_data()
    lone = X.index[centres == "C"][:1]
    with pytest.raises(CohortTooSmallError, match=r"at least 2 patients of each; the training split has C \(1\)"):
        ComBat(centres).fit(X.loc[X.index[centres != "C"].append(lone)])
    with pytest.raises(InputError, match="no centre for patient"):
        ComBat(centres.drop(X.index[0])).fit(X)


def test_a_feature_constant_within_a_centre_is_left_as_it_is():
    X, centres = centres_data()
    X[3] = np.where(centres == "B", 7.0, X[3])
    harmonised = ComBat(centres).fit_transform(X)
    np.testing.assert_array_equal(harmonised[3].to_numpy(), X[3].to_numpy())
    assert not np.allclose(harmonised[4], X[4])


def test_the_centre_mapping_carries_no_attrs_and_pickles_alike_from_two_runs():
    cohort = pd.DataFrame({"patient_id": ["b", "a"], "centre": ["C1", "C2"]})
    cohort.attrs["source"] = "/private/site/manifest.csv"
    other = cohort.copy()
    other.attrs["source"] = "/elsewhere/manifest.csv"
    centres = centres_by_patient(cohort)
    assert centres.attrs == {} and centres.to_dict() == {"b": "C1", "a": "C2"} and centres.index.name == "patient_id"
    assert pickle.dumps(centres) == pickle.dumps(centres_by_patient(other))
    assert centres_by_patient(cohort.set_index("patient_id")).equals(centres)


def test_the_reducer_harmonises_on_its_training_patients_only():
    X, centres = centres_data()
    rng = np.random.default_rng(2)
    risk = ((X[0] - X[0].mean()) / X[0].std()).to_numpy()
    y = Surv.from_arrays(np.ones(len(X), bool), 20 * np.exp(-2 * risk) * rng.exponential(size=len(X)))  # strong
    train = np.arange(len(X)) % 3 != 0
    reducer = RadiomicsReducer(
        n_folds=3, harmonise="combat", centres=centres, if_empty="first_to_enter", random_state=0
    )
    reducer.fit(X.loc[train], y[train])
    np.testing.assert_allclose(reducer.harmoniser_.grand_mean_, X.loc[train].mean().to_numpy())
    alone = ComBat(centres).fit(X.loc[train])
    scores = reducer.pca_.transform(reducer.scaler_.transform(alone.transform(X.loc[~train])))
    expected = scores[:, : reducer.n_components_][:, reducer.selected_]
    np.testing.assert_allclose(reducer.transform(X.loc[~train]).to_numpy(), expected)
    assert RadiomicsReducer(n_folds=3).fit(X.loc[train], y[train]).harmoniser_ is None


@pytest.mark.slow
def test_the_smoke_run_harmonises_on_training_patients_and_notebook_10_compares_both(smoke_run):
    reducer = joblib.load(smoke_run / "reducer.joblib")
    assert reducer.harmonise == "combat" and set(reducer.harmoniser_.effects_) == {"C1", "C2"}
    cohort = pd.read_parquet(smoke_run / "cohort.parquet")
    train = cohort.loc[cohort["split"] == "train", "patient_id"]
    features = pd.read_parquet(smoke_run / "features.parquet")[reducer.harmoniser_.feature_names_in_]
    np.testing.assert_allclose(reducer.harmoniser_.grand_mean_, features.loc[train].mean().to_numpy())
    transfer = pd.read_parquet(smoke_run / "protocol_centre_transfer.parquet")
    both = transfer[["AUC C1 -> C2", "AUC C1 -> C2, ComBat"]]
    assert both.notna().all().all() and ((both > 0) & (both < 1)).all().all()
    metrics = pd.read_parquet(smoke_run / "metrics_radiomics.parquet")
    reported = metrics[metrics["split"] == "test"].set_index("horizon_months")["auc"]
    shown = transfer.set_index("horizon_months")["AUC random split (test), ComBat"]  # the profile's setting: 05's
    np.testing.assert_allclose(shown.to_numpy(), reported.loc[shown.index].to_numpy(), atol=1e-12)
    assert not np.allclose(transfer["AUC random split (test)"], shown.to_numpy())  # the other, refitted here


def test_a_feature_constant_within_an_unseen_centre_is_left_as_it_is_and_kept_out_of_its_priors():
    X, centres = centres_data()
    two = X.index[centres.isin(["A", "B"])]
    X.loc[centres == "B", 5] = 3.0
    trained_on_a = ComBat(centres, unseen="own_features").fit(X.loc[centres == "A"])
    harmonised = trained_on_a.transform(X.loc[two])
    np.testing.assert_array_equal(harmonised[5].to_numpy(), X.loc[two, 5].to_numpy())
    without = ComBat(centres, unseen="own_features").fit(X.loc[centres == "A"].drop(columns=5))
    np.testing.assert_allclose(harmonised.drop(columns=5).to_numpy(), without.transform(X.loc[two].drop(columns=5)))
