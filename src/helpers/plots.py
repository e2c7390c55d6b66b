"""Figures shared by the notebooks, in one consistent style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts


def use_book_style() -> None:
    """Seaborn's paper style and reproducible SVG ids (so figures are byte-stable)."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "pdac-fusion-book", "figure.dpi": 100})


def kaplan_meier_figure(groups: dict[str, pd.DataFrame], title: str, xmax: float | None = None) -> plt.Figure:
    """Kaplan-Meier curves with 95% CIs and an at-risk table, one curve per group.

    ``groups`` maps a label to a frame with ``time_months`` and ``event``.
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    fitters = []
    for label, frame in groups.items():
        km = KaplanMeierFitter(label=f"{label} (n={len(frame)})").fit(frame["time_months"], frame["event"])
        km.plot_survival_function(ax=ax, ci_show=True)
        fitters.append(km)
    ax.set(xlabel="Months since diagnosis", ylabel="Overall survival probability", title=title, ylim=(0, 1.02))
    if xmax is not None:
        ax.set_xlim(0, xmax)
    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    fig.tight_layout()
    return fig
