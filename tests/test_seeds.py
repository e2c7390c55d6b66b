"""The seed study's bookkeeping: declarations, agreement rates and optimism summaries on tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.study import seeds


def _aucs(test: dict[str, float], external: dict[str, float]) -> pd.DataFrame:
    rows = {(model, h): {"test": test[model], "external": external[model]} for model in test for h in (12, 24, 36)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["model", "horizon_months"])


def test_a_declaration_needs_the_reported_model_above_both_base_models_at_every_horizon():
    test = {
        "radiomics": 0.70,
        "densenet": 0.72,
        "logistic_regression": 0.80,
        "random_forest": 0.78,
        "svm": 0.79,
        "decision_tree": 0.71,
    }
    external = test | {"logistic_regression": 0.71, "random_forest": 0.76}
    found = seeds.declarations_of(_aucs(test, external), "logistic_regression")
    assert found == {
        "declares_fusion_beats_both": True,
        "external_fusion_beats_both": False,
        "declares_lr_best": True,
        "external_lr_best": False,
    }
    aucs = _aucs(test, test)
    aucs.loc[("logistic_regression", 24), "test"] = 0.71  # below the DenseNet at one horizon
    assert not seeds.declarations_of(aucs, "logistic_regression")["declares_fusion_beats_both"]


def test_agreement_rates_count_declarations_and_external_confirmations():
    declarations = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4],
            "arm": "paper",
            "declares_fusion_beats_both": [True, True, True, False],
            "external_fusion_beats_both": [True, False, False, True],
            "declares_lr_best": [True, False, False, False],
            "external_lr_best": [False, False, False, False],
        }
    )
    table = seeds.agreement_rates(declarations).set_index("claim")
    beats = table.loc["fusion beats both single-modality models"]
    assert (beats["declared"], beats["external_true"], beats["agrees_when_declared"]) == (
        0.75,
        0.5,
        pytest.approx(1 / 3),
    )
    assert table.loc["logistic regression is the best fusion model", "agrees_when_declared"] == 0.0


def test_optimism_is_measured_against_each_splits_ceiling():
    rng = np.random.default_rng(0)
    n = 40
    rows = pd.DataFrame(
        {
            "seed": np.arange(n),
            "arm": "rigorous",
            "model": "svm",
            "horizon_months": 36,
            "test_ceiling": rng.uniform(0.8, 0.95, n),
            "external_ceiling": rng.uniform(0.8, 0.95, n),
            "reported": True,
        }
    )
    # a model exactly 0.1 below its ceiling on both samples: zero optimism whatever the ceilings
    rows["test_auc"], rows["external_auc"] = rows["test_ceiling"] - 0.1, rows["external_ceiling"] - 0.1
    summary = seeds.optimism_summary(rows).iloc[0]
    assert summary["optimism_mean"] == pytest.approx(0.0) and summary["optimism_sd"] == pytest.approx(0.0, abs=1e-12)
    raw = rows["test_auc"] - rows["external_auc"]
    assert raw.std() > 0.03  # the raw difference would have moved with the samples' own ceilings
    rows["test_auc"] += 0.05
    reported = seeds.reported_optimism(rows).iloc[0]
    assert reported["mean"] == pytest.approx(0.05) and reported["seeds"] == n
    assert reported["low"] == pytest.approx(0.05) and reported["high"] == pytest.approx(0.05)
    assert seeds.seed_list(7, 3) == [7, 8, 9]
    with pytest.raises(ValueError, match="at least 1"):
        seeds.seed_list(7, 0)
