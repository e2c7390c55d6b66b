"""The oracle: the true linear predictors as scores (their parts are pieces of the sum, not ceilings)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.synthetic.oracle import oracle_scores


def _truth_and_cohort(n: int = 900, seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Survival drawn from a known linear predictor: clinical and ROI parts drive it, context is absent (zero)."""
    rng = np.random.default_rng(seed)
    clinical, roi = rng.normal(size=n), rng.normal(size=n)
    truth = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "lp_clinical": clinical,
            "lp_roi": roi,
            "lp_context": np.zeros(n),
            "lp_total": clinical + roi,
            "frailty": rng.normal(0, 0.1, n),
        }
    )
    time = rng.exponential(24 * np.exp(-(clinical + roi)))
    cohort = pd.DataFrame(
        {
            "patient_id": truth["patient_id"],
            "time_months": np.minimum(time, 60.0),
            "event": (time <= 60).astype(int),
            "split": np.where(np.arange(n) % 10 < 7, "train", "test"),
        }
    )
    return truth, cohort.sample(frac=1.0, random_state=1).reset_index(drop=True)  # rows in another order


def test_oracle_scores_are_the_linear_predictors_without_frailty():
    truth, _ = _truth_and_cohort(20)
    scores = oracle_scores(truth.set_index("patient_id"))
    assert list(scores.columns) == ["full", "clinical", "roi", "context"]
    assert np.allclose(scores["full"], truth["lp_clinical"] + truth["lp_roi"])
    assert "frailty" not in scores
