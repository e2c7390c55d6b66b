"""The book's figures draw what their data say: curves, labels, markers and panels checked on known inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers.report import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _curves() -> pd.DataFrame:
    """ROC points of a perfect model at 12 months and a chance one at 36, for both splits."""
    rows = []
    for split in ("train", "test"):
        rows += [
            {"split": split, "horizon_months": 12, "fpr": f, "tpr": t, "auc": 1.0} for f, t in ((0, 0), (0, 1), (1, 1))
        ]
        rows += [{"split": split, "horizon_months": 36, "fpr": f, "tpr": f, "auc": 0.5} for f in (0, 0.5, 1)]
    return pd.DataFrame(rows)


def test_roc_figure_has_one_panel_per_split_and_one_labelled_curve_per_horizon():
    fig = plots.roc_figure(_curves(), "Radiomics RSF")
    assert [ax.get_title() for ax in fig.axes] == ["Radiomics RSF: training set", "Radiomics RSF: test set"]
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1-year AUC 1.000", "3-year AUC 0.500"]
        perfect = ax.lines[0]
        assert list(perfect.get_xdata()) == [0, 0, 1] and list(perfect.get_ydata()) == [0, 1, 1]


def test_a_test_only_roc_figure_has_one_panel():
    curves = _curves()
    assert len(plots.roc_figure(curves[curves["split"] == "test"], "x").axes) == 1


def test_kaplan_meier_figure_draws_each_group_with_its_size_and_the_note():
    groups = {
        "Low risk": pd.DataFrame({"time_months": [5.0, 10, 20, 30], "event": [0, 1, 0, 1]}),
        "High risk": pd.DataFrame({"time_months": [1.0, 2, 3], "event": [1, 1, 1]}),
    }
    fig = plots.kaplan_meier_figure(groups, "Risk groups", note="log-rank p = 0.01")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Low risk (n=4)", "High risk (n=3)"]
    assert ax.get_title() == "Risk groups" and "log-rank p = 0.01" in [t.get_text() for t in ax.texts]
    # every high-risk patient dies by month 3: that curve ends at 0
    high = next(line for line in ax.lines if line.get_label() == "High risk (n=3)")
    assert high.get_ydata()[-1] == pytest.approx(0.0)


def test_optimism_figure_marks_each_arms_reported_model_and_both_ceilings():
    optimism = pd.DataFrame(
        [
            {
                "arm": arm,
                "model": model,
                "reported": model == "Fusion RF",
                "horizon_months": h,
                "test_auc": 0.8 if arm == "paper" else 0.75,
                "external_auc": 0.7,
                "optimism": 0.1,
                "test_ceiling": 0.85,
                "external_ceiling": 0.9,
            }
            for arm in ("paper", "rigorous")
            for model in ("Fusion RF", "Fusion LR")
            for h in (12, 24, 36)
        ]
    )
    ax = plots.optimism_figure(optimism).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "paper: reported test AUC (Fusion RF)",
        "paper: external AUC",
        "rigorous: reported test AUC (Fusion RF)",
        "rigorous: external AUC",
        "ceiling (external)",
        "ceiling (test)",
    ]
    external, test = (ax.collections[i].get_offsets() for i in (-2, -1))
    assert np.allclose(external[:, 1], 0.9) and np.allclose(test[:, 1], 0.85) and len(external) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 year", "2 years", "3 years"]


def test_node_size_figure_marks_the_chosen_node_size():
    table = pd.DataFrame({"node_size": [3, 5, 10], "oob_error": [0.53, 0.517, 0.513]})
    ax = plots.node_size_figure(table, 10).axes[0]
    assert list(ax.lines[0].get_xdata()) == [3, 5, 10]
    assert "chosen: 10" in [t.get_text() for t in ax.get_legend().get_texts()]
