"""A survival objective for the deep model: the Cox partial likelihood, and the Breslow baseline that turns a
network's risk score into probabilities of death by 1, 2 and 3 years.

The paper trains three binary classifiers on censored data. A Cox network learns one risk score ``eta`` from
every patient's follow-up instead, censored patients included for as long as they were followed; the
probability of death by ``h`` is then 1 - exp(-H0(h) exp(eta)), with H0 Breslow's estimate of the cumulative
baseline hazard on the training patients (Breslow 1972; ties handled Breslow's way, as scikit-survival and
lifelines do by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def cox_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox log partial likelihood per event (Breslow ties) of a batch; 0 when the batch has no event.

    ``risk``: (B,) log hazard ratios; ``time``: (B,) follow-up; ``event``: (B,) 1 = died, 0 = censored. Each
    death is compared with the patients of the batch still at risk at its time (follow-up at least as long):
    trained on mini-batches, the risk set is the batch's, not the training split's (DeepSurv's approximation,
    noisier the smaller the batch).
    """
    died = event > 0
    if not died.any():
        return risk.sum() * 0.0
    at_risk = time.unsqueeze(0) >= time.unsqueeze(1)  # row i: the patients still followed at time i
    log_risk_set = torch.logsumexp(risk.unsqueeze(0).masked_fill(~at_risk, float("-inf")), dim=1)
    return -(risk - log_risk_set)[died].sum() / died.sum()


@dataclass(frozen=True)
class BreslowBaseline:
    """Breslow's cumulative baseline hazard H0 on the training patients: a step function of time."""

    times: np.ndarray  # distinct death times, increasing
    cumulative_hazard: np.ndarray  # H0 at each of ``times``

    @classmethod
    def fit(cls, risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> BreslowBaseline:
        """H0(t) = sum over death times s <= t of deaths(s) / sum_{j at risk at s} exp(risk_j)."""
        risk, time, event = (np.asarray(a, dtype=float) for a in (risk, time, event))
        times = np.unique(time[event > 0])
        if not len(times):
            raise ValueError("the Breslow baseline needs at least one death among the training patients")
        hazard = np.exp(risk - risk.max())  # scaled for stability; undone below
        order = np.argsort(time)
        tail = np.cumsum(hazard[order][::-1])[::-1]  # sum of exp(risk) over patients with time >= time[order[k]]
        first = np.searchsorted(time[order], times, side="left")
        deaths = np.array([np.sum((time == t) & (event > 0)) for t in times], dtype=float)
        increments = deaths / tail[first] / np.exp(risk.max())
        return cls(times, np.cumsum(increments))

    def at(self, horizon: float) -> float:
        """H0(horizon): the step function's value (0 before the first death)."""
        index = np.searchsorted(self.times, horizon, side="right")
        return float(self.cumulative_hazard[index - 1]) if index else 0.0

    def death_probability(self, risk: np.ndarray, horizons: tuple[int, ...]) -> np.ndarray:
        """(n, n_horizons) probability of death by each horizon: 1 - exp(-H0(h) exp(risk))."""
        cumulative = np.array([self.at(h) for h in horizons])
        return 1.0 - np.exp(-np.outer(np.exp(np.asarray(risk, dtype=float)), cumulative))
