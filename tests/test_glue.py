"""The headline numbers a stage glues for its captions: flattened keys, scalars only, nothing outside a kernel."""

from __future__ import annotations

import math

import numpy as np

from helpers.pipeline.glue import flat_numbers, glue_numbers, in_kernel


def test_nested_metrics_flatten_to_caption_keys():
    metrics = {
        "node_size": np.int64(3),
        "auc": {"test_36": np.float64(0.7522), "train_12": 0.7434},
        "best": {"paper": "logistic_regression"},
        "ci": {"radiomics_36": [0.61, 0.83]},
        "kept": None,
        "fallback": False,
        "converged": np.bool_(True),
        "arm": np.str_("paper"),
    }
    flat = flat_numbers(metrics)
    assert flat == {
        "node_size": 3,
        "auc_test_36": 0.7522,
        "auc_train_12": 0.7434,
        "best_paper": "logistic_regression",
        "ci_radiomics_36_0": 0.61,
        "ci_radiomics_36_1": 0.83,
        "kept": flat["kept"],
        "fallback": False,
        "converged": True,
        "arm": "paper",
    }
    assert type(flat["converged"]) is bool and type(flat["arm"]) is str  # numpy scalars would glue as np.str_('paper')
    assert type(flat["node_size"]) is int and type(flat["auc_test_36"]) is float  # plain Python: glue's repr is clean
    assert math.isnan(flat["kept"])  # None still formats under a caption's ":.3f"
    assert format(flat["auc_test_36"], ".3f") == "0.752"


def test_outside_a_kernel_nothing_is_glued_or_printed(capsys):
    assert not in_kernel()
    glue_numbers({"auc": {"test_36": 0.75}})
    assert capsys.readouterr().out == ""
