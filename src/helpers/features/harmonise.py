"""ComBat harmonisation of radiomic features across centres, fitted on the training split and applied to others.

Two scanners give the same tumour different feature values (noise, kernel sharpness, HU calibration). ComBat
(Johnson, Li & Rabinovic 2007; for radiomics Orlhac et al. 2018) models each feature of each centre as a
location shift ``gamma`` and a scale ``delta`` of the standardised feature, shrinks both towards their mean over
features by parametric empirical Bayes, and removes them. ``ComBat`` follows R's ``sva::ComBat`` (``par.prior``
true, ``mean.only`` false, no covariates): residual variances over n patients, batch variances over n - 1,
method-of-moments hyperpriors, and the alternating posterior updates until every relative change is below
``convergence``.

What it learns comes from ``fit``'s patients only: the pooled mean and variance of each feature and each seen
centre's posterior ``gamma``/``delta``, which ``transform`` applies to any patient of a seen centre (as
neuroCombat's ``neuroCombatFromTraining``). With a ``reference`` centre (sva's ``ref.batch``; a training split
of one centre is its own reference) the standardisation is that centre's and its patients are left unchanged.
A centre ``fit`` never saw has no estimates: ``unseen="error"`` stops naming it; ``unseen="own_features"``
estimates that centre's ``gamma``/``delta`` from its own patients' features (never their outcomes) against the
training standardisation, which for a model trained on one centre and scored on another is ``sva::ComBat`` of
both with the training centre as ``ref.batch``. A feature constant within a training centre is left as it is
(sva does the same, with a message).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from helpers.errors import CohortTooSmallError, InputError
from helpers.vocabulary import UnseenCentre

MAX_ITERATIONS = 10_000  # sva iterates without a limit; the posterior updates contract, so this is never reached


def centres_by_patient(cohort: pd.DataFrame) -> pd.Series:
    """Each patient's centre (index patient_id, values str) as ComBat looks it up: a fresh Series that carries
    none of ``cohort``'s attrs (the manifest's path), so the reducer that keeps it pickles to the same bytes on
    every run. ``cohort``: indexed by patient_id or with a patient_id column, and a centre column."""
    table = cohort if "patient_id" not in cohort else cohort.set_index("patient_id")
    return pd.Series(
        table["centre"].astype(str).to_numpy(),
        index=pd.Index(table.index.astype(str), name="patient_id"),
        name="centre",
    )


@dataclass(frozen=True)
class CentreEffect:
    """One centre's empirical-Bayes location (``gamma``) and scale (``delta``) per adjusted feature."""

    gamma: np.ndarray
    delta: np.ndarray

    @classmethod
    def none(cls, n_features: int) -> CentreEffect:
        """No effect: the reference centre's (and a feature's left as it is)."""
        return cls(np.zeros(n_features), np.ones(n_features))


def _moments_prior(delta_hat: np.ndarray) -> tuple[float, float]:
    """sva's aprior and bprior: the inverse-gamma prior of the variances by the method of moments."""
    mean, var = float(delta_hat.mean()), float(delta_hat.var(ddof=1))
    return (2 * var + mean**2) / var, (mean * var + mean**3) / var


def centre_effect(standardised: np.ndarray, convergence: float) -> CentreEffect:
    """The posterior ``gamma`` and ``delta`` of one centre's standardised features (patients x features), by
    sva's ``it.sol``: normal prior on gamma, inverse-gamma on delta, their hyperparameters from the features."""
    n = standardised.shape[0]
    gamma_hat, delta_hat = standardised.mean(axis=0), standardised.var(axis=0, ddof=1)
    gamma_bar, tau2 = float(gamma_hat.mean()), float(gamma_hat.var(ddof=1))
    a_prior, b_prior = _moments_prior(delta_hat)
    gamma, delta = gamma_hat, delta_hat
    for _ in range(MAX_ITERATIONS):
        gamma_new = (tau2 * n * gamma_hat + delta * gamma_bar) / (tau2 * n + delta)
        squares = ((standardised - gamma_new) ** 2).sum(axis=0)
        delta_new = (0.5 * squares + b_prior) / (n / 2 + a_prior - 1)
        # sva divides by the signed old gamma, so features with a negative gamma never hold the loop back
        change = max(np.max(np.abs(gamma_new - gamma) / gamma), np.max(np.abs(delta_new - delta) / delta))
        gamma, delta = gamma_new, delta_new
        if change < convergence:
            break
    return CentreEffect(gamma, delta)


class ComBat(TransformerMixin, BaseEstimator):
    """sva's parametric ComBat as a scikit-learn transformer; ``centres`` maps every patient id (X's index) to
    its centre. Learned: ``grand_mean_``, ``pooled_sd_`` and ``adjusted_`` (the features it adjusts) per
    feature, ``reference_`` (the centre left unchanged, or None) and ``effects_`` (centre -> ``CentreEffect``)."""

    def __init__(
        self,
        centres: pd.Series | None = None,
        reference: str | None = None,
        unseen: UnseenCentre = "error",
        convergence: float = 1e-4,
    ) -> None:
        self.centres = centres
        self.reference = reference
        self.unseen = unseen
        self.convergence = convergence

    def _centres_of(self, X: pd.DataFrame) -> pd.Series:
        """Each row's centre, with an error naming the patients the mapping lacks."""
        if self.centres is None:
            raise InputError("ComBat needs each patient's centre (centres=), none was given")
        missing = X.index.difference(self.centres.index)
        if len(missing):
            raise InputError(f"ComBat: no centre for patient(s) {', '.join(map(str, missing[:10]))}")
        return self.centres.loc[X.index].astype(str)

    def fit(self, X: pd.DataFrame, y: object = None) -> ComBat:
        """Pooled standardisation and each centre's posterior effects, from ``X`` (patients x features, indexed by
        patient id) only."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ComBat needs a DataFrame indexed by patient id, to look up each patient's centre")
        if self.unseen not in ("error", "own_features"):
            raise ValueError(f"unseen must be 'error' or 'own_features', not {self.unseen!r}")
        centres = self._centres_of(X)
        counts = centres.value_counts()
        if (counts < 2).any():
            small = ", ".join(f"{c} ({n})" for c, n in counts[counts < 2].items())
            raise CohortTooSmallError(
                f"ComBat estimates a variance per centre and needs at least 2 patients of each; the training split "
                f"has {small}: merge the centre with another or set harmonise: none"
            )
        values = X.to_numpy(dtype=float)
        members = {c: (centres == c).to_numpy() for c in counts.index}
        means = {c: values[rows].mean(axis=0) for c, rows in members.items()}
        self.reference_ = self.reference if self.reference is not None or len(counts) > 1 else str(counts.index[0])
        if self.reference_ is not None and self.reference_ not in members:
            raise InputError(f"ComBat: the reference centre {self.reference_} has no training patient")
        if self.reference_ is None:  # the batch-design fit: each patient's centre mean, residuals over n
            self.grand_mean_ = sum(counts[c] * means[c] for c in counts.index) / len(X)
            residual_var = ((values - np.vstack([means[c] for c in centres])) ** 2).mean(axis=0)
        else:
            self.grand_mean_ = means[self.reference_]
            residual_var = values[members[self.reference_]].var(axis=0)
        spread = np.vstack([np.ptp(values[rows], axis=0) for rows in members.values()])
        self.adjusted_ = (spread > 0).all(axis=0)  # sva leaves a feature constant within a centre as it is
        self.pooled_sd_ = np.sqrt(np.where(self.adjusted_, residual_var, 1.0))
        self.feature_names_in_ = np.asarray(X.columns)
        standardised = self._standardise(values)[:, self.adjusted_]
        self.effects_ = {
            c: CentreEffect.none(int(self.adjusted_.sum()))
            if c == self.reference_
            else centre_effect(standardised[rows], self.convergence)
            for c, rows in members.items()
        }
        return self

    def _own_effect(self, standardised: np.ndarray) -> CentreEffect:
        """An unseen centre's effect from its own standardised rows; a feature constant within it is left as it is
        and kept out of its priors (sva drops such a feature from the whole adjustment)."""
        varies = np.ptp(standardised, axis=0) > 0
        estimated = centre_effect(standardised[:, varies], self.convergence)
        effect = CentreEffect.none(standardised.shape[1])
        effect.gamma[varies], effect.delta[varies] = estimated.gamma, estimated.delta
        return effect

    def _standardise(self, values: np.ndarray) -> np.ndarray:
        """Features minus the pooled mean, over the pooled SD."""
        return (values - self.grand_mean_) / self.pooled_sd_

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with each centre's effects removed, on the pooled scale; a centre ``fit`` never saw is refused
        or, under ``unseen="own_features"``, estimated from its own rows here."""
        check_is_fitted(self, "effects_")
        centres = self._centres_of(X)
        effects = dict(self.effects_)
        standardised = self._standardise(X.to_numpy(dtype=float))
        for centre in centres.unique():
            if centre in effects:
                continue
            rows = (centres == centre).to_numpy()
            if self.unseen == "error":
                raise InputError(
                    f"ComBat was fitted on centre(s) {', '.join(self.effects_)} and has no estimate for centre "
                    f"{centre} ({int(rows.sum())} patients, e.g. {X.index[rows][0]}): fit it on a training split "
                    "that holds the centre, or estimate the centre from its own features (unseen='own_features')"
                )
            if rows.sum() < 2:  # sva would fall back to a mean-only adjustment; this refuses instead
                raise CohortTooSmallError(f"ComBat: centre {centre} has 1 patient; its variance needs at least 2")
            effects[centre] = self._own_effect(standardised[rows][:, self.adjusted_])
        harmonised = X.to_numpy(dtype=float).copy()
        for centre in centres.unique():
            rows, effect = (centres == centre).to_numpy(), effects[centre]
            cells = standardised[rows][:, self.adjusted_]
            scaled = (cells - effect.gamma) / np.sqrt(effect.delta)
            harmonised[np.ix_(rows, self.adjusted_)] = (
                scaled * self.pooled_sd_[self.adjusted_] + self.grand_mean_[self.adjusted_]
            )
        return pd.DataFrame(harmonised, index=X.index, columns=X.columns)
