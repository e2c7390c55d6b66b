"""Selection module: PCA component rule, glmnet-style CV deviance, lambda rules, train-only fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.util import Surv

from helpers.errors import CohortTooSmallError
from helpers.features.selection import RadiomicsReducer, cox_deviance, n_components_for

FACTOR_SD = np.array([3.0, 2.0, 1.5])  # three strong latent factors of decreasing strength


def _cohort(n: int = 200, n_features: int = 40, beta: float = 1.0, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Features = 3 latent factors + unit noise; exponential survival driven by factor 1 (log-HR ``beta`` per SD)."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 3)) * FACTOR_SD
    values = factors @ rng.normal(size=(3, n_features)) + rng.normal(size=(n, n_features))
    X = pd.DataFrame(values, index=[f"p{i:03d}" for i in range(n)], columns=[f"f{j}" for j in range(n_features)])
    driver = (factors[:, 0] - factors[:, 0].mean()) / factors[:, 0].std()
    death = rng.exponential(12.0 * np.exp(-beta * driver))
    censor = rng.uniform(6.0, 60.0, n)
    return X, Surv.from_arrays(death <= censor, np.minimum(death, censor))


def _learned(reducer: RadiomicsReducer) -> dict[str, np.ndarray]:
    """Every learned attribute of a fitted reducer, as arrays."""
    names = (
        "explained_variance_ratio_",
        "alphas_",
        "coef_path_",
        "cv_deviance_mean_",
        "cv_deviance_se_",
        "coef_",
        "selected_",
        "n_components_",
        "alpha_min_",
        "alpha_1se_",
        "alpha_",
    )
    return {name: np.asarray(getattr(reducer, name)) for name in names}


@pytest.fixture(scope="module")
def fitted() -> tuple[RadiomicsReducer, pd.DataFrame, np.ndarray]:
    """A reducer fitted on the default simulated cohort."""
    X, y = _cohort()
    return RadiomicsReducer(random_state=0).fit(X, y), X, y


def test_n_components_is_smallest_k_reaching_the_variance_checked_against_svd(
    fitted: tuple[RadiomicsReducer, pd.DataFrame, np.ndarray],
) -> None:
    """3 strong factors + noise: n_components_ = fewest k with cumulative SVD variance >= 0.8."""
    reducer, X, _ = fitted
    z = (X - X.mean()) / X.std(ddof=0)
    singular = np.linalg.svd(z.to_numpy(), compute_uv=False)
    cumulative = np.cumsum(singular**2) / np.sum(singular**2)
    k = int(np.argmax(cumulative >= 0.8)) + 1
    assert reducer.n_components_ == k
    assert cumulative[k - 2] < 0.8 <= cumulative[k - 1]
    np.testing.assert_allclose(np.cumsum(reducer.explained_variance_ratio_), cumulative, atol=1e-10)
    assert reducer.transform(X).shape[1] <= k


def test_n_components_rule_counts_an_exact_hit_and_caps_at_all() -> None:
    """Cumulative exactly 0.8 (0.5 + 0.3, a float sum) stops there; an unreachable target keeps every component."""
    assert n_components_for([0.5, 0.3, 0.2], 0.8) == 2
    assert n_components_for([0.5, 0.29, 0.21], 0.8) == 3
    assert n_components_for([0.9, 0.1], 1.0) == 2


def test_cox_deviance_reproduces_scikit_survival_deviance_ratio(
    fitted: tuple[RadiomicsReducer, pd.DataFrame, np.ndarray],
) -> None:
    """1 - deviance(beta)/deviance(0) equals scikit-survival's (glmnet's) deviance_ratio_ along the whole path."""
    reducer, X, y = fitted
    scores = reducer._scores(X)
    model = CoxnetSurvivalAnalysis(l1_ratio=1.0).fit(scores, y)
    deviance = cox_deviance(y["time"], y["event"], scores @ model.coef_)
    null = cox_deviance(y["time"], y["event"], np.zeros(len(y)))
    np.testing.assert_allclose(1 - deviance / null, model.deviance_ratio_, atol=1e-10)


def test_cox_deviance_breslow_ties_by_hand() -> None:
    """Two tied deaths at t=1 share the risk set of all 3 patients; lsat = -2 log 2."""
    eta = np.array([0.5, -0.2, 0.1])
    expected_loglik = 0.5 - 0.2 - 2 * np.log(np.exp(eta).sum())
    expected = 2 * (-2 * np.log(2) - expected_loglik)
    assert cox_deviance([1.0, 1.0, 2.0], [1, 1, 0], eta)[0] == pytest.approx(expected)


def test_cv_curve_shape_and_lambda_rules(fitted: tuple[RadiomicsReducer, pd.DataFrame, np.ndarray]) -> None:
    """One finite CV mean and SE >= 0 per alpha; alpha_min at the minimum; alpha_1se >= alpha_min within 1 SE."""
    reducer, _, _ = fitted
    n_alphas = len(reducer.alphas_)
    assert 1 < n_alphas <= reducer.n_alphas
    assert np.all(np.diff(reducer.alphas_) < 0)
    assert reducer.coef_path_.shape == (reducer.n_components_, n_alphas)
    assert reducer.cv_deviance_mean_.shape == reducer.cv_deviance_se_.shape == (n_alphas,)
    assert np.isfinite(reducer.cv_deviance_mean_).all() and np.isfinite(reducer.cv_deviance_se_).all()
    assert (reducer.cv_deviance_se_ >= 0).all()
    best = np.argmin(reducer.cv_deviance_mean_)
    assert reducer.alpha_min_ == reducer.alphas_[best] == reducer.alpha_
    assert reducer.alpha_1se_ >= reducer.alpha_min_
    limit = reducer.cv_deviance_mean_[best] + reducer.cv_deviance_se_[best]
    assert reducer.cv_deviance_mean_[reducer.alphas_ == reducer.alpha_1se_][0] <= limit
    assert (reducer.cv_deviance_mean_[reducer.alphas_ > reducer.alpha_1se_] > limit).all()
    # The null model (largest alpha) must be worse than the minimum on data with real signal.
    assert reducer.cv_deviance_mean_[0] > reducer.cv_deviance_mean_[best]


def test_rule_1se_uses_alpha_1se_and_keeps_no_more_pcs(
    fitted: tuple[RadiomicsReducer, pd.DataFrame, np.ndarray],
) -> None:
    """rule='1se' selects at alpha_1se (the same CV curve), a sparser or equal model."""
    reducer_min, X, y = fitted
    reducer = RadiomicsReducer(rule="1se", random_state=0).fit(X, y)
    np.testing.assert_array_equal(reducer.cv_deviance_mean_, reducer_min.cv_deviance_mean_)
    assert reducer.alpha_ == reducer.alpha_1se_ == reducer_min.alpha_1se_
    assert set(reducer.selected_) <= set(reducer_min.selected_)


def test_pc1_is_selected_when_it_drives_the_hazard(fitted: tuple[RadiomicsReducer, pd.DataFrame, np.ndarray]) -> None:
    """Hazard driven by the strongest factor (= PC1): PC1 is kept, with the largest |coefficient| per SD."""
    reducer, X, _ = fitted
    assert "PC1" in reducer.selected_names_
    scaled = np.abs(reducer.coef_) * reducer._scores(X).std(axis=0)
    assert np.argmax(scaled) == 0
    out = reducer.transform(X)
    assert list(out.columns) == reducer.selected_names_ and out.index.equals(X.index)


def test_learns_from_training_rows_only_and_transforms_row_by_row() -> None:
    """Same training rows with different test rows around them: the same fit and the same train transform.

    Equal up to floating-point rounding only: pandas may lay the two training blocks out
    differently in memory, and BLAS then sums in another order (differences ~1e-16).
    """
    X, y = _cohort(n=260)
    train = X.index[:200]
    test_a = X.index[200:]
    X_b = X.copy()
    X_b.loc[test_a] = np.random.default_rng(7).normal(size=(len(test_a), X.shape[1])) * 10
    reducer_a = RadiomicsReducer(random_state=0).fit(X.loc[train], y[:200])
    reducer_b = RadiomicsReducer(random_state=0).fit(X_b.loc[train], y[:200])
    for name, value in _learned(reducer_a).items():
        np.testing.assert_allclose(value, _learned(reducer_b)[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert reducer_a.selected_names_ == reducer_b.selected_names_
    alone = reducer_a.transform(X.loc[train])
    pd.testing.assert_frame_equal(reducer_a.transform(X).loc[train], alone, rtol=1e-12)
    pd.testing.assert_frame_equal(reducer_a.transform(X_b).loc[train], alone, rtol=1e-12)
    shuffled = X.loc[test_a].sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(
        reducer_a.transform(shuffled), reducer_a.transform(X.loc[test_a]).loc[shuffled.index], rtol=1e-12
    )


def test_deterministic_given_random_state() -> None:
    """Same random_state, same folds and curve; another random_state, other folds."""
    X, y = _cohort(n=150, seed=2)
    first, second = (RadiomicsReducer(random_state=5).fit(X, y) for _ in range(2))
    for name, value in _learned(first).items():
        np.testing.assert_array_equal(value, _learned(second)[name], err_msg=name)
    other = RadiomicsReducer(random_state=6).fit(X, y)
    assert not np.array_equal(other.cv_deviance_mean_, first.cv_deviance_mean_)
    np.testing.assert_array_equal(other.coef_path_, first.coef_path_)  # the path does not depend on the folds


def test_no_surviving_component_raises_a_clear_error() -> None:
    """Survival unrelated to the features, rule='1se': the null model wins and fit says so."""
    X, y = _cohort(n=150, beta=0.0, seed=3)
    with pytest.raises(ValueError, match="kept no principal component"):
        RadiomicsReducer(rule="1se", random_state=0).fit(X, y)


def test_empty_selection_can_fall_back_to_the_first_pc_on_the_path() -> None:
    """if_empty='first_to_enter' keeps the PC(s) entering the path first and flags it."""
    X, y = _cohort(n=150, beta=0.0, seed=3)
    reducer = RadiomicsReducer(rule="1se", random_state=0, if_empty="first_to_enter").fit(X, y)
    first = int(np.flatnonzero(reducer.n_nonzero_ > 0)[0])
    assert reducer.fallback_ and reducer.selected_.tolist() == np.flatnonzero(reducer.coef_path_[:, first]).tolist()
    assert list(reducer.transform(X).columns) == reducer.selected_names_


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_invalid_parameters_raise() -> None:
    """Unknown rule, variance outside (0, 1], fewer deaths (or patients) than folds."""
    X, y = _cohort(n=60)
    with pytest.raises(ValueError, match="rule"):
        RadiomicsReducer(rule="max").fit(X, y)
    with pytest.raises(ValueError, match="variance"):
        RadiomicsReducer(variance=1.5).fit(X, y)
    few_events = Surv.from_arrays(np.arange(60) < 3, np.arange(1.0, 61.0))
    with pytest.raises(
        CohortTooSmallError, match="at least 5 training patients and 5 deaths.*60 patients and 3 deaths"
    ):
        RadiomicsReducer(n_folds=5, random_state=0).fit(X, few_events)
    with pytest.raises(CohortTooSmallError, match="9 patients"):
        RadiomicsReducer(n_folds=10, random_state=0).fit(X[:9], y[:9])
