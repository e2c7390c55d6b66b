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


def kaplan_meier_figure(groups: dict[str, pd.DataFrame], title: str, xmax: float | None = None,
                        note: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Kaplan-Meier curves with 95% CIs and an at-risk table, one curve per group.

    ``groups`` maps a label to a frame with ``time_months`` and ``event``; ``note`` (e.g. a
    log-rank p-value) is written in the lower left corner.
    """
    fig, ax = plt.subplots(figsize=(7, 5)) if ax is None else (ax.figure, ax)
    fitters = []
    for label, frame in groups.items():
        km = KaplanMeierFitter(label=f"{label} (n={len(frame)})").fit(frame["time_months"], frame["event"])
        km.plot_survival_function(ax=ax, ci_show=True)
        fitters.append(km)
    ax.set(xlabel="Months since diagnosis", ylabel="Overall survival probability", title=title, ylim=(0, 1.02))
    if xmax is not None:
        ax.set_xlim(0, xmax)
    if note:
        ax.text(0.02, 0.04, note, transform=ax.transAxes, fontsize=10)
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


def pca_variance_figure(explained_variance_ratio, n_components: int, target: float) -> plt.Figure:
    """Figure S2 analogue: cumulative explained variance with the target line and the count kept."""
    import numpy as np

    cumulative = np.cumsum(explained_variance_ratio)
    shown = min(len(cumulative), max(3 * n_components, 30))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, shown + 1), cumulative[:shown], marker="o", markersize=3)
    ax.axhline(target, color="firebrick", linestyle="--", linewidth=1, label=f"{target:.0%} of variance")
    ax.axvline(n_components, color="grey", linestyle=":", linewidth=1, label=f"{n_components} components kept")
    ax.set(xlabel="Number of principal components", ylabel="Cumulative explained variance", ylim=(0, 1.01))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def lasso_figure(log_lambdas, coef_path, names, cv_mean, cv_se, lambda_min: float, lambda_1se: float,
                 chosen: float) -> plt.Figure:
    """Figure 3 analogue, drawn as glmnet does: (A) coefficient paths, (B) CV deviance with SE bars."""
    import numpy as np

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, path in zip(names, np.asarray(coef_path)):
        left.plot(log_lambdas, path, linewidth=1, label=name)
    left.axvline(np.log(chosen), color="black", linestyle=":", linewidth=1)
    left.set(xlabel="log(lambda)", ylabel="Coefficient", title="A  Coefficient paths")
    right.errorbar(log_lambdas, cv_mean, yerr=cv_se, fmt="o", color="firebrick", ecolor="grey", markersize=3, capsize=2)
    for value, label in ((lambda_min, "lambda.min"), (lambda_1se, "lambda.1se")):
        right.axvline(np.log(value), color="black", linestyle=":", linewidth=1)
        right.text(np.log(value), right.get_ylim()[1], label, rotation=90, va="top", ha="right", fontsize=8)
    right.set(xlabel="log(lambda)", ylabel="Partial-likelihood deviance (CV)", title="B  Cross-validation")
    fig.tight_layout()
    return fig


def node_size_figure(table: pd.DataFrame, best: int) -> plt.Figure:
    """Out-of-bag error against node size, with the chosen size marked (tune.nodesize analogue)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(table["node_size"], table["oob_error"], marker="o")
    ax.axvline(best, color="grey", linestyle=":", label=f"chosen: {best}")
    ax.set(xlabel="Node size (minimum samples per leaf)", ylabel="OOB error (1 - C-index)")
    ax.legend()
    fig.tight_layout()
    return fig


def roc_figure(curves: pd.DataFrame, title: str) -> plt.Figure:
    """ROC curves per horizon, one panel per split; ``curves`` has split, horizon_months, fpr, tpr, auc."""
    splits = [s for s in ("train", "test") if s in set(curves["split"])]
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 5), squeeze=False)
    for ax, split in zip(axes[0], splits):
        for (horizon, auc), part in curves[curves["split"] == split].groupby(["horizon_months", "auc"], sort=True):
            ax.plot(part["fpr"], part["tpr"], label=f"{horizon / 12:.0f}-year AUC {auc:.3f}")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(xlabel="1 - specificity", ylabel="Sensitivity", title=f"{title}: {'training' if split == 'train' else 'test'} set",
               xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
        ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def cutpoint_figure(table: pd.DataFrame, cutpoint: float, score: pd.Series, title: str) -> plt.Figure:
    """Figure S3 analogue: standardised log-rank statistic per cut-point, and the score histogram split at the cut."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.plot(table["cutpoint"], table["statistic"], marker=".", linewidth=1)
    left.axvline(cutpoint, color="firebrick", linestyle="--", label=f"cut-off {cutpoint:.3f}")
    left.set(xlabel="Candidate cut-off (risk score)", ylabel="Standardised log-rank statistic", title=title)
    left.legend()
    bins = 30
    right.hist(score[score <= cutpoint], bins=bins, range=(score.min(), score.max()), alpha=0.7, label="low risk")
    right.hist(score[score > cutpoint], bins=bins, range=(score.min(), score.max()), alpha=0.7, label="high risk")
    right.axvline(cutpoint, color="firebrick", linestyle="--")
    right.set(xlabel="Risk score", ylabel="Patients", title="Scores split at the cut-off")
    right.legend()
    fig.tight_layout()
    return fig


def risk_group_figure(patients: pd.DataFrame, tests: pd.DataFrame) -> plt.Figure:
    """Figure 9 analogue: Kaplan-Meier curves of the low and high risk groups, training and test, with log-rank p."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, split in zip(axes, ("train", "test")):
        part = patients[patients["split"] == split]
        p_value = tests.set_index("split").loc[split, "p_value"]
        groups = {f"{group} risk": part[part["risk_group"] == group] for group in ("low", "high")
                  if (part["risk_group"] == group).any()}
        kaplan_meier_figure(groups, f"{'Training' if split == 'train' else 'Test'} set", ax=ax,
                            note=f"log-rank p = {p_value:.2g}")
    fig.tight_layout()
    return fig
