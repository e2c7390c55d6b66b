"""Figures shared by the notebooks, in one consistent style."""

from __future__ import annotations

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


def icc_figure(icc: pd.DataFrame) -> plt.Figure:
    """Figure S1 analogue: ICC per feature, sorted, coloured by image type, with Koo & Li bands."""
    shown = icc.dropna(subset=["icc"]).sort_values("icc").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.scatterplot(data=shown, x=shown.index, y="icc", hue="image_type", s=10, linewidth=0, ax=ax)
    for edge, name in ((0.5, "moderate"), (0.75, "good"), (0.9, "excellent")):
        ax.axhline(edge, color="grey", linestyle=":", linewidth=1)
        ax.text(len(shown) * 1.01, edge, name, va="bottom", fontsize=8, color="grey")
    ax.set(xlabel="Feature (sorted by ICC)", ylabel="ICC between readers", ylim=(min(0.0, shown["icc"].min()), 1.02),
           title=f"Inter-reader ICC of {len(shown)} features (mean {shown['icc'].mean():.2f})")
    ax.legend(title="Image type", loc="lower right")
    fig.tight_layout()
    return fig
