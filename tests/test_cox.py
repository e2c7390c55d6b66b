"""The Cox objective and the Breslow baseline against scikit-survival on the real TCGA-PAAD follow-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from helpers.data.manifest import DAYS_PER_MONTH
from helpers.models.deep.cox import BreslowBaseline, cox_loss


@pytest.fixture(scope="module")
def tcga(shared_data) -> pd.DataFrame:
    """Months of overall survival, event, and age / 10 of the TCGA-PAAD patients with a follow-up."""
    table = pd.read_csv(shared_data / "tcga_paad" / "tcga_paad_patients.csv")
    table = table[pd.to_numeric(table["os_days"], errors="coerce") > 0].dropna(subset=["age_years"])
    return pd.DataFrame(
        {
            "time": table["os_days"].astype(float).to_numpy() / DAYS_PER_MONTH,
            "event": table["os_event"].astype(int).to_numpy(),
            "age": table["age_years"].astype(float).to_numpy() / 10,
        }
    )


def _partial_likelihood(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Breslow's log partial likelihood, written out patient by patient."""
    return sum(risk[i] - np.log(np.exp(risk[time >= time[i]]).sum()) for i in np.flatnonzero(event))


def test_cox_loss_is_the_negative_partial_likelihood_per_event(tcga):
    risk = np.random.default_rng(0).normal(size=len(tcga))
    loss = cox_loss(torch.tensor(risk), torch.tensor(tcga["time"].to_numpy()), torch.tensor(tcga["event"].to_numpy()))
    expected = -_partial_likelihood(risk, tcga["time"].to_numpy(), tcga["event"].to_numpy()) / tcga["event"].sum()
    assert float(loss) == pytest.approx(expected, rel=1e-10)
    none = cox_loss(torch.zeros(3, requires_grad=True), torch.ones(3), torch.zeros(3))
    assert float(none) == 0.0 and none.requires_grad


def test_minimising_the_loss_recovers_scikit_survivals_cox_coefficient(tcga):
    y = Surv.from_arrays(tcga["event"].astype(bool), tcga["time"])
    reference = CoxPHSurvivalAnalysis(ties="breslow").fit(tcga[["age"]], y)
    beta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    age, time, event = (torch.tensor(tcga[c].to_numpy(), dtype=torch.float64) for c in ("age", "time", "event"))
    optimiser = torch.optim.LBFGS([beta], max_iter=100, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = cox_loss(age * beta, time, event)
        loss.backward()
        return loss

    optimiser.step(closure)
    assert float(beta) == pytest.approx(float(reference.coef_[0]), abs=1e-5)


def test_breslow_baseline_and_probabilities_match_scikit_survival(tcga):
    y = Surv.from_arrays(tcga["event"].astype(bool), tcga["time"])
    reference = CoxPHSurvivalAnalysis(ties="breslow").fit(tcga[["age"]], y)
    risk = tcga["age"].to_numpy() * reference.coef_[0]
    ours = BreslowBaseline.fit(risk, tcga["time"].to_numpy(), tcga["event"].to_numpy())
    cumulative = reference.cum_baseline_hazard_  # at a linear predictor of 0, as ours
    for horizon in (12, 24, 36):
        assert ours.at(horizon) == pytest.approx(float(cumulative(horizon)), rel=1e-8)
    probability = ours.death_probability(risk[:5], (12, 24, 36))
    curves = reference.predict_survival_function(tcga[["age"]].iloc[:5])
    expected = np.array([[1 - float(curve(h)) for h in (12, 24, 36)] for curve in curves])
    np.testing.assert_allclose(probability, expected, rtol=1e-8)
    assert ours.at(0.0) == 0.0
    with pytest.raises(ValueError, match="at least one death"):
        BreslowBaseline.fit(np.zeros(3), np.ones(3), np.zeros(3))
