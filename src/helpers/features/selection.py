"""Radiomic feature reduction of the paper's step 04: standardise -> PCA (80 % variance) -> Cox-LASSO.

The paper standardises its 1,037 features, keeps the principal components explaining at
least 80 % of the variance (21 PCs) and runs glmnet's Cox LASSO on them with lambda chosen
by 10-fold cross-validation at the minimum CV error (9 PCs kept). ``RadiomicsReducer`` does
the same as one scikit-learn estimator, so that everything it learns comes from the data
passed to ``fit`` (the training split, or the training part of an outer CV fold) and
``transform`` applies it row by row to any other patients.

glmnet details kept on purpose: the LASSO sees each PC standardised to unit variance
(glmnet's default ``standardize=TRUE``; without it the penalty would favour the
high-variance leading PCs) and reports coefficients on the PC-score scale; the lambda path
is computed once on all the data given to ``fit`` and reused in every fold; the CV error is
glmnet's Cox partial-likelihood deviance (``type.measure="deviance"``, ``grouped=TRUE``).
scikit-survival's ``alpha`` is on glmnet's lambda scale. Departures: folds are stratified
on the event indicator (glmnet draws them at random), and the scaler and PCA are fitted
once on all of ``fit``'s data, not refitted per fold (they are unsupervised, and only
lambda is tuned by the CV). With ``harmonise="combat"`` (the paper had none) the features are first
harmonised across centres by ``helpers.features.harmonise.ComBat``, fitted on the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.util import check_array_survival

from helpers.errors import CohortTooSmallError
from helpers.features.harmonise import ComBat
from helpers.vocabulary import Harmonise, IfEmpty, LambdaRule, UnseenCentre

# Cumulative explained variance is a float sum: a target hit exactly (0.8) must not be missed by rounding.
_VARIANCE_TOL = 1e-12


def n_components_for(explained_variance_ratio: ArrayLike, variance: float) -> int:
    """Fewest leading components whose cumulative explained variance ratio is >= ``variance``."""
    cumulative = np.cumsum(explained_variance_ratio)
    return min(int(np.searchsorted(cumulative, variance - _VARIANCE_TOL, side="left")) + 1, len(cumulative))


def cox_deviance(time: ArrayLike, event: ArrayLike, eta: ArrayLike) -> np.ndarray:
    """Cox partial-likelihood deviance 2 (l_saturated - l(eta)) per column of ``eta``, as glmnet's coxnet.deviance.

    Breslow ties: tied deaths share one risk set, which also holds the patients censored at
    that time; the saturated log-likelihood is -sum over death times of d log d.
    """
    time, event = np.asarray(time, dtype=float), np.asarray(event, dtype=bool)
    eta = np.asarray(eta, dtype=float).reshape(len(time), -1)
    order = np.argsort(time, kind="mergesort")
    time, event, eta = time[order], event[order], eta[order]
    shift = eta.max(axis=0)  # log-sum-exp stabilisation
    at_risk = np.cumsum(np.exp(eta - shift)[::-1], axis=0)[::-1]  # sum over positions >= i
    first_tied = np.searchsorted(time, time, side="left")  # risk set of t_i = everyone with time >= t_i
    log_risk = np.log(at_risk[first_tied]) + shift
    loglik = (eta - log_risk)[event].sum(axis=0)
    _, deaths_per_time = np.unique(time[event], return_counts=True)
    loglik_saturated = -(deaths_per_time * np.log(deaths_per_time)).sum()
    return 2.0 * (loglik_saturated - loglik)


def _lasso_path(
    scores: np.ndarray, y: np.ndarray, n_alphas: int, alphas: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, coefficients n_scores x n_alphas on the score scale) of a Cox LASSO on unit-variance scores."""
    scale = scores.std(axis=0)  # population SD, as glmnet standardises
    model = CoxnetSurvivalAnalysis(l1_ratio=1.0, n_alphas=n_alphas, alphas=alphas, fit_baseline_model=False)
    model.fit(scores / scale, y)
    coef = model.coef_ / scale[:, None]
    if alphas is not None and coef.shape[1] < len(alphas):
        # The solver stops early once the deviance no longer improves; glmnet's CV then carries
        # the last fit forward to the remaining lambdas, and so do we.
        coef = np.hstack([coef, np.repeat(coef[:, -1:], len(alphas) - coef.shape[1], axis=1)])
    return model.alphas_, coef


def _fold_cv_deviance(scores: np.ndarray, y: np.ndarray, train: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Verweij & van Houwelingen CV partial-likelihood deviance of the fold left out of ``train``, per alpha.

    What: with the coefficients beta_-k fitted without fold k, deviance(all data, beta_-k) -
    deviance(data without fold k, beta_-k), i.e. fold k's contribution to the full-data
    partial likelihood. Why: this is glmnet's Cox CV error (cv.glmnet, type.measure =
    "deviance", grouped = TRUE, the default), and unlike the partial likelihood of the
    held-out fold alone, whose risk sets hold only a tenth of the patients and make it
    noisy, it evaluates every held-out death against its full-data risk set (Verweij &
    van Houwelingen, Stat Med 1993).
    """
    event, time = check_array_survival(scores, y)
    _, coef = _lasso_path(scores[train], y[train], len(alphas), alphas)
    eta = scores @ coef
    return cox_deviance(time, event, eta) - cox_deviance(time[train], event[train], eta[train])


def _cv_summary(raw: np.ndarray, fold_events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cv.glmnet's per-alpha mean and standard error of (n folds x n alphas) deviances, per event, event-weighted."""
    per_event = raw / fold_events[:, None]
    weights = fold_events / fold_events.sum()
    mean = weights @ per_event
    se = np.sqrt(weights @ (per_event - mean) ** 2 / (len(fold_events) - 1))
    return mean, se


class RadiomicsReducer(TransformerMixin, BaseEstimator):
    """StandardScaler -> PCA (>= ``variance`` explained) -> Cox-LASSO with lambda by K-fold CV; keeps the selected PCs.

    After ``fit``: ``n_components_`` PCs kept by the variance rule, ``explained_variance_ratio_``
    of every component (not only the kept ones, for the scree plot), the lambda path
    ``alphas_`` (descending) with ``coef_path_`` (n_components_ x n_alphas, PC-score scale),
    ``n_nonzero_`` per alpha, the CV curve ``cv_deviance_mean_`` / ``cv_deviance_se_``,
    ``alpha_min_`` (largest alpha at the minimum CV deviance), ``alpha_1se_`` (largest
    alpha whose mean CV deviance is <= the minimum plus the SE at the minimum, so
    alpha_1se_ >= alpha_min_), the chosen ``alpha_`` (by ``rule``) with its ``coef_``, and
    ``selected_`` (0-based indices of the kept PCs with a non-zero coefficient) with their
    names ``selected_names_`` ("PC1", "PC7", ...). If no PC survives at the chosen alpha,
    ``if_empty="raise"`` (default) raises: an empty radiomics signature is a finding to
    report. ``if_empty="first_to_enter"`` keeps the PC(s) that enter the LASSO path first and
    sets ``fallback_`` — for cross-fitting on small folds, where one empty fold must not stop
    the chain; callers report ``fallback_``. ``harmonise="combat"`` puts ``ComBat(centres, reference_centre,
    unseen_centre)`` (``harmoniser_``) before the scaler; ``centres`` maps each patient id (X's index) to its centre.
    """

    def __init__(
        self,
        variance: float = 0.80,
        n_alphas: int = 100,
        n_folds: int = 10,
        rule: LambdaRule = "min",
        random_state: int | None = None,
        if_empty: IfEmpty = "raise",
        harmonise: Harmonise = "none",
        centres: pd.Series | None = None,
        reference_centre: str | None = None,
        unseen_centre: UnseenCentre = "error",
    ) -> None:
        self.variance = variance
        self.n_alphas = n_alphas
        self.n_folds = n_folds
        self.rule = rule
        self.random_state = random_state
        self.if_empty = if_empty
        self.harmonise = harmonise
        self.centres = centres
        self.reference_centre = reference_centre
        self.unseen_centre = unseen_centre

    def _scores(self, X: ArrayLike) -> np.ndarray:
        """Scores of the kept principal components of (harmonised, then) standardised ``X``."""
        if self.harmoniser_ is not None:
            X = self.harmoniser_.transform(X)
        return self.pca_.transform(self.scaler_.transform(X))[:, : self.n_components_]

    def fit(self, X: ArrayLike, y: np.ndarray) -> RadiomicsReducer:
        """Learn scaler, PCA, lambda path, CV curve and selection from (X, y) only; y from ``Surv.from_arrays``."""
        if self.rule not in ("min", "1se"):
            raise ValueError(f"rule must be 'min' or '1se', not {self.rule!r}")
        if self.if_empty not in ("raise", "first_to_enter"):
            raise ValueError(f"if_empty must be 'raise' or 'first_to_enter', not {self.if_empty!r}")
        if not 0 < self.variance <= 1:
            raise ValueError(f"variance must be in (0, 1]; got {self.variance}")
        event, _ = check_array_survival(X, y)
        patients, deaths = len(event), int(event.sum())
        if patients < self.n_folds or deaths < self.n_folds:
            raise CohortTooSmallError(
                f"Cox-LASSO with {self.n_folds}-fold cross-validation needs at least {self.n_folds} training patients "
                f"and {self.n_folds} deaths (one per fold); the training split has {patients} patients and {deaths} "
                "deaths: lower lasso_folds (3 at least) or use a larger cohort"
            )
        if self.harmonise not in ("none", "combat"):
            raise ValueError(f"harmonise must be 'none' or 'combat', not {self.harmonise!r}")
        self.harmoniser_ = None
        if self.harmonise == "combat":
            self.harmoniser_ = ComBat(self.centres, self.reference_centre, self.unseen_centre).fit(X)
        harmonised = X if self.harmoniser_ is None else self.harmoniser_.transform(X)
        self.scaler_ = StandardScaler().fit(harmonised)
        self.pca_ = PCA(svd_solver="full").fit(self.scaler_.transform(harmonised))
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        self.n_components_ = n_components_for(self.explained_variance_ratio_, self.variance)
        scores = self._scores(X)
        self.alphas_, self.coef_path_ = _lasso_path(scores, y, self.n_alphas)
        self.n_nonzero_ = (self.coef_path_ != 0).sum(axis=0)

        folds = list(StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state).split(scores, event))
        fold_events = np.array([event[test].sum() for _, test in folds], dtype=float)  # >= 1: stratified
        raw = np.array([_fold_cv_deviance(scores, y, train, self.alphas_) for train, _ in folds])
        self.cv_deviance_mean_, self.cv_deviance_se_ = _cv_summary(raw, fold_events)

        best = int(np.argmin(self.cv_deviance_mean_))  # first = largest alpha at the minimum
        within_1se = self.cv_deviance_mean_ <= self.cv_deviance_mean_[best] + self.cv_deviance_se_[best]
        self.alpha_min_ = float(self.alphas_[best])
        self.alpha_1se_ = float(self.alphas_[within_1se].max())
        self.alpha_ = self.alpha_min_ if self.rule == "min" else self.alpha_1se_
        self.coef_ = self.coef_path_[:, int(np.flatnonzero(self.alphas_ == self.alpha_)[0])]
        self.selected_ = np.flatnonzero(self.coef_ != 0)
        self.fallback_ = not self.selected_.size and self.if_empty == "first_to_enter"
        entering = np.flatnonzero(self.n_nonzero_ > 0)
        if self.fallback_ and entering.size:
            self.selected_ = np.flatnonzero(self.coef_path_[:, entering[0]] != 0)
        if not self.selected_.size:
            raise ValueError(
                f"Cox-LASSO kept no principal component at the {self.rule} lambda "
                f"(alpha = {self.alpha_:.4g}): the {self.n_components_} PCs carry no "
                "cross-validated prognostic signal"
            )
        self.selected_names_ = [f"PC{i + 1}" for i in self.selected_]
        return self

    def transform(self, X: ArrayLike) -> pd.DataFrame:
        """Selected PC scores of any patients, one row each (X's index), named "PC1", "PC7", ..."""
        check_is_fitted(self, "selected_")
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(np.asarray(X)))
        return pd.DataFrame(self._scores(X)[:, self.selected_], index=index, columns=self.selected_names_)
