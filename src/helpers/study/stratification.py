"""Risk stratification of step 08 under each arm: where the cut-off is searched and which p-value is honest.

* ``paper``: the cut-off is searched on every patient's in-sample fusion probability (training and
  test together, as the paper did with X-tile); the naive log-rank p of each split is what the
  paper reports, and the search-corrected p (Lausen & Schumacher) is shown beside it.
* ``rigorous``: the cut-off is searched on the *out-of-fold* fusion probabilities of the training
  split, so neither the search nor the score has seen the patients it is tested on; the training
  split's p is the search-corrected one, and the naive log-rank p is reported only for the test
  split, which the search never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.evaluation import stratify
from helpers.vocabulary import PMethod, Protocol

SEARCHED_ON = {"paper": "all patients", "rigorous": "training split (out-of-fold fusion probabilities)"}


@dataclass(frozen=True)
class ArmStratification:
    """One arm's cut-off, the patients' risk groups and each split's log-rank test."""

    arm: Protocol
    cut: stratify.Cutpoint
    patients: pd.DataFrame  # index patient_id: split, time_months, event, risk, risk_group
    searched: pd.DataFrame  # the patients the cut-off was searched on (their risk)
    tests: pd.DataFrame  # split, n_low, n_high, medians, chi_square, p_value (naive), p_reported, p_reported_kind

    def summary(self, risk_horizon: int, model: str) -> dict[str, object]:
        """The cut-off's JSON record (cutpoint.json's entry for this arm)."""
        naive = self.tests.set_index("split")["p_value"].to_dict()
        return {
            "searched_on": SEARCHED_ON[self.arm],
            "risk_horizon_months": risk_horizon,
            "model": model,
            "cutpoint": self.cut.cutpoint,
            "statistic": self.cut.statistic,
            "p_value_corrected": self.cut.p_value,
            "p_method": self.cut.p_method,
            "p_value_naive": naive,
        }


def stratify_arm(
    arm: Protocol,
    cohort: pd.DataFrame,
    risk: pd.Series,
    out_of_fold_risk: pd.Series | None,
    *,
    min_prop: float,
    max_prop: float,
    p_method: PMethod,
) -> ArmStratification:
    """Search one arm's cut-off and test its risk groups per split.

    ``cohort``: index patient_id with split, time_months, event; ``risk``: the arm's fusion probability per
    patient (every split); ``out_of_fold_risk``: the rigorous arm's out-of-fold training probabilities
    (required for "rigorous", whose training patients are grouped by them).
    """
    patients = cohort[["split", "time_months", "event"]].join(risk.rename("risk"), how="inner")
    if arm == "rigorous":
        if out_of_fold_risk is None:
            raise ValueError("the rigorous cut-off is searched on out-of-fold training predictions: none were given")
        train = patients["split"] == "train"
        oof = out_of_fold_risk.reindex(patients.index[train])
        if oof.isna().any():
            raise ValueError(f"no out-of-fold risk for training patient(s) {oof.index[oof.isna()][:10].tolist()}")
        patients.loc[train, "risk"] = oof.to_numpy()
        searched = patients[train]
    else:
        searched = patients
    cut = stratify.optimal_cutpoint(
        searched["time_months"],
        searched["event"],
        searched["risk"],
        min_prop=min_prop,
        max_prop=max_prop,
        p_method=p_method,
    )
    patients["risk_group"] = stratify.assign_groups(patients["risk"], cut.cutpoint)
    tests = stratify.group_tests(patients)
    seen = tests["split"].isin(set(searched["split"]))
    corrected = seen & (arm == "rigorous")  # the paper reports the naive p even where it searched
    tests["p_reported"] = np.where(corrected, cut.p_value, tests["p_value"])
    tests["p_reported_kind"] = np.where(
        corrected,
        f"search-corrected ({cut.p_method})",
        np.where(seen, "naive, on the searched patients", "naive, unseen"),
    )
    return ArmStratification(arm, cut, patients, searched, tests)


def arm_risk(
    arm: Protocol, predictions: pd.DataFrame, out_of_fold: pd.DataFrame, model: str, horizon: int
) -> tuple[pd.Series, pd.Series | None]:
    """(the arm's fusion probability per patient, the rigorous arm's out-of-fold training ones or None) for
    ``model`` at ``horizon``, from notebook 07's predictions_fusion.parquet and predictions_fusion_oof.parquet."""

    def pick(frame: pd.DataFrame) -> pd.Series:
        rows = frame[(frame["model"] == model) & (frame["horizon_months"] == horizon)]
        return rows.set_index("patient_id")["probability"]

    risk = pick(predictions[predictions["arm"] == arm])
    return risk, (pick(out_of_fold) if arm == "rigorous" else None)
