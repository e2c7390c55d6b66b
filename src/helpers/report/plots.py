"""Figures shared by the notebooks, in one consistent style."""

from __future__ import annotations

from typing import cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts


def use_book_style() -> None:
    """Seaborn's paper style and reproducible SVG ids (so figures are byte-stable)."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "pdac-fusion-book", "figure.dpi": 100})


def kaplan_meier_figure(
    groups: dict[str, pd.DataFrame], title: str, xmax: float | None = None, note: str = "", ax: plt.Axes | None = None
) -> plt.Figure:
    """Kaplan-Meier curves with 95% CIs and an at-risk table, one curve per group.

    ``groups`` maps a label to a frame with ``time_months`` and ``event``; ``note`` (e.g. a
    log-rank p-value) is written in the lower left corner.
    """
    fig, ax = plt.subplots(figsize=(7, 5)) if ax is None else (cast(plt.Figure, ax.figure), ax)
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
    ax.set(
        xlabel="Feature (sorted by ICC)",
        ylabel="ICC between readers",
        ylim=(min(0.0, shown["icc"].min()), 1.02),
        title=f"Inter-reader ICC of {len(shown)} features (mean {shown['icc'].mean():.2f})",
    )
    ax.legend(title="Image type", loc="lower right")
    fig.tight_layout()
    return fig


def pca_variance_figure(explained_variance_ratio, n_components: int, target: float) -> plt.Figure:
    """Figure S2 analogue: cumulative explained variance with the target line and the count kept."""

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


def lasso_figure(
    log_lambdas, coef_path, names, cv_mean, cv_se, lambda_min: float, lambda_1se: float, chosen: float
) -> plt.Figure:
    """Figure 3 analogue, drawn as glmnet does: (A) coefficient paths, (B) CV deviance with SE bars."""

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
        ax.set(
            xlabel="1 - specificity",
            ylabel="Sensitivity",
            title=f"{title}: {'training' if split == 'train' else 'test'} set",
            xlim=(0, 1),
            ylim=(0, 1.01),
            aspect="equal",
        )
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


def risk_group_figure(patients: pd.DataFrame, tests: pd.DataFrame, title: str = "") -> plt.Figure:
    """Figure 9 analogue: Kaplan-Meier curves of the low and high risk groups, training and test, with the p-value
    each split reports (``tests``' p_reported when present, else its naive log-rank p_value)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    shown = "p_reported" if "p_reported" in tests else "p_value"
    for ax, split in zip(axes, ("train", "test")):
        part = patients[patients["split"] == split]
        p_value = tests.set_index("split").loc[split, shown]
        groups = {
            f"{group} risk": part[part["risk_group"] == group]
            for group in ("low", "high")
            if (part["risk_group"] == group).any()
        }
        kaplan_meier_figure(
            groups, f"{'Training' if split == 'train' else 'Test'} set", ax=ax, note=f"log-rank p = {p_value:.2g}"
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def roc_grid(curves: dict[str, pd.DataFrame], splits: tuple[str, ...], title: str) -> plt.Figure:
    """ROC curves of several models: one row per split, one column per horizon (Figures 6 and 7)."""
    horizons = sorted(next(iter(curves.values()))["horizon_months"].unique())
    fig, axes = plt.subplots(len(splits), len(horizons), figsize=(5 * len(horizons), 4.8 * len(splits)), squeeze=False)
    for row, split in enumerate(splits):
        for col, horizon in enumerate(horizons):
            ax = axes[row, col]
            for name, frame in curves.items():
                part = frame[(frame["split"] == split) & (frame["horizon_months"] == horizon)]
                ax.plot(part["fpr"], part["tpr"], label=f"{name} ({part['auc'].iloc[0]:.3f})")
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
            ax.set(
                title=f"{'Training' if split == 'train' else 'Test'} set, {horizon // 12}-year",
                xlim=(0, 1),
                ylim=(0, 1.01),
                xlabel="1 - specificity",
                ylabel="Sensitivity",
                aspect="equal",
            )
            ax.legend(loc="lower right", fontsize=8, title="AUC", title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def importance_figure(gini: pd.DataFrame, permutation: pd.DataFrame, title: str) -> plt.Figure:
    """Figure 8 analogue: the random forest's mean decrease in Gini, and permutation importance on the test split."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    sns.barplot(data=gini, x="importance", y="feature", ax=left, color="steelblue")
    left.set(xlabel="Mean decrease in Gini (normalised)", ylabel="", title="Random forest (as the paper)")
    sns.barplot(data=permutation, x="importance_mean", y="feature", ax=right, color="darkorange")
    right.errorbar(
        permutation["importance_mean"],
        range(len(permutation)),
        xerr=permutation["importance_std"],
        fmt="none",
        color="black",
        linewidth=1,
    )
    right.set(xlabel="Drop in test AUC when shuffled", ylabel="", title=title)
    fig.tight_layout()
    return fig


def optimism_figure(optimism: pd.DataFrame) -> plt.Figure:
    """Each protocol's reported fusion model: test AUC (filled) against external AUC (open) per horizon, with both
    ceilings of everything (test: dotted, external: solid bar)."""
    reported = optimism[optimism["reported"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for offset, (arm, rows) in zip((-0.12, 0.12), reported.groupby("arm", sort=True)):
        x = np.arange(len(rows)) + offset
        colour = "tab:red" if arm == "paper" else "tab:blue"
        ax.vlines(x, rows["external_auc"], rows["test_auc"], colors=colour, alpha=0.5)
        ax.scatter(x, rows["test_auc"], color=colour, label=f"{arm}: reported test AUC ({rows['model'].iloc[0]})")
        ax.scatter(x, rows["external_auc"], facecolors="white", edgecolors=colour, label=f"{arm}: external AUC")
    ceiling = reported.drop_duplicates("horizon_months")
    ax.scatter(
        np.arange(len(ceiling)),
        ceiling["external_ceiling"],
        marker="_",
        s=600,
        color="black",
        label="ceiling (external)",
    )
    ax.scatter(
        np.arange(len(ceiling)), ceiling["test_ceiling"], marker="_", s=600, color="grey", label="ceiling (test)"
    )
    ax.set_xticks(
        np.arange(len(ceiling)), [f"{h // 12} year" + ("s" if h > 12 else "") for h in ceiling["horizon_months"]]
    )
    ax.set_ylabel("AUC")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Reported against true (external) AUC")
    return fig


def deep_inputs_figure(examples: list[tuple[str, np.ndarray, np.ndarray]]) -> plt.Figure:
    """Middle axial slice of each example's whole-image and ROI input (patient id, image, roi arrays)."""
    fig, axes = plt.subplots(2, len(examples), figsize=(3.2 * len(examples), 6.4), squeeze=False)
    for col, (patient, image, roi) in enumerate(examples):
        for row, (name, volume) in enumerate((("whole image", image), ("ROI", roi))):
            ax = axes[row, col]
            ax.imshow(volume[volume.shape[0] // 2], cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{patient}: {name}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


def training_curves(history: pd.DataFrame, best_epochs: dict[int, int], evaluated_on: str) -> plt.Figure:
    """Training loss and per-horizon evaluation metrics by epoch, with the kept epoch(s) marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.plot(history["epoch"], history["train_loss"], marker=".")
    left.set(xlabel="Epoch", ylabel="Training loss (cross-entropy)")
    metric_columns = [c for c in history.columns if c.endswith("m") and ("_auc_" in c or "_accuracy_" in c)]
    for column in metric_columns:
        right.plot(history["epoch"], history[column], marker=".", linewidth=1, label=column)
    for epoch in sorted(set(best_epochs.values())):
        for ax in (left, right):
            ax.axvline(epoch, color="grey", linestyle=":", linewidth=1)
    right.set(xlabel="Epoch", ylabel="Metric", title=f"Kept epoch(s) dotted: {evaluated_on}", ylim=(0, 1.02))
    right.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def bootstrap_ci_figure(long: pd.DataFrame, labels: dict[str, str] | None = None) -> plt.Figure:
    """Test AUC and accuracy with bootstrap CIs: one panel per metric, models down, horizons side by side."""
    labels = labels or {}
    models = list(dict.fromkeys(long["model"]))
    horizons = sorted(long["horizon_months"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.8 * len(models) + 1.5), sharey=True)
    for ax, metric, chance in zip(axes, ("auc", "accuracy"), (0.5, None)):
        for k, horizon in enumerate(horizons):
            part = long[long["horizon_months"] == horizon].set_index("model").loc[models]
            y = np.arange(len(models)) + (k - (len(horizons) - 1) / 2) * 0.22
            ax.errorbar(
                part[metric],
                y,
                xerr=[part[metric] - part[f"{metric}_low"], part[f"{metric}_high"] - part[metric]],
                fmt="o",
                capsize=3,
                markersize=4,
                label=f"{horizon // 12}-year",
            )
        if chance is not None:
            ax.axvline(chance, color="grey", linestyle=":", linewidth=1)
        ax.set(xlabel=f"Test {'AUC' if metric == 'auc' else 'accuracy'} (95% bootstrap CI)", xlim=(0, 1.02))
    axes[0].set_yticks(range(len(models)), [labels.get(m, m) for m in models])
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower left", title="Horizon")
    fig.tight_layout()
    return fig


def survival_scores_figure(table: pd.DataFrame, labels: dict[str, str] | None = None) -> plt.Figure:
    """Concordance (Harrell, Uno), time-dependent AUC and Brier score per horizon of each model on the test split."""
    labels = labels or {}
    names = [labels.get(m, m) for m in table["model"]]
    horizons = [int(c.split("_")[1][:-1]) for c in table.columns if c.startswith("auc_")]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.5))
    y = np.arange(len(table))
    left.scatter(table["harrell_c"], y, label="Harrell's C", marker="o")
    left.scatter(table["uno_c"], y, label=f"Uno's C (tau {table['tau'].iloc[0]:g} months)", marker="s")
    left.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    left.set_yticks(y, names)
    left.invert_yaxis()
    left.set(xlabel="Concordance index", xlim=(0, 1.02), title="Concordance (risk = 3-year death probability)")
    left.legend(loc="lower left", fontsize=8)
    for name, row in zip(names, table.itertuples()):
        middle.plot(horizons, [getattr(row, f"auc_{h}m") for h in horizons], marker="o", label=name)
        right.plot(
            horizons, [getattr(row, f"brier_{h}m") for h in horizons], marker="o", label=f"{name} (IBS {row.ibs:.3f})"
        )
    middle.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    middle.set(
        xlabel="Months", ylabel="Cumulative/dynamic AUC", xticks=horizons, ylim=(0, 1.02), title="Time-dependent AUC"
    )
    right.set(xlabel="Months", ylabel="Brier score (IPCW)", xticks=horizons, title="Brier score")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), title="Model (integrated Brier score)")
    fig.tight_layout()
    return fig


def calibration_figure(curves: pd.DataFrame, table: pd.DataFrame, labels: dict[str, str] | None = None) -> plt.Figure:
    """Calibration curves, one panel per horizon, each model's slope and its O/E ratio (CITL when the table has no
    ``observed_to_expected``) in the legend."""
    labels = labels or {}
    horizons = sorted(curves["horizon_months"].unique())
    summary = table.set_index(["model", "horizon_months"])
    fig, axes = plt.subplots(1, len(horizons), figsize=(5 * len(horizons), 5), squeeze=False)
    for ax, horizon in zip(axes[0], horizons):
        for model, part in curves[curves["horizon_months"] == horizon].groupby("model", sort=False):
            row = summary.loc[(model, horizon)]
            ax.plot(
                part["predicted"],
                part["observed"],
                marker="o",
                markersize=4,
                linewidth=1,
                label=f"{labels.get(model, model)} (slope {row['slope']:.2f}, "
                + (
                    f"O/E {row['observed_to_expected']:.2f})"
                    if "observed_to_expected" in row
                    else f"CITL {row['citl']:.2f})"
                ),
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(
            xlabel="Predicted probability of death",
            ylabel="Observed risk of death",
            xlim=(0, 1),
            ylim=(0, 1.02),
            aspect="equal",
            title=f"{horizon // 12}-year (test set)",
        )
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def decision_curve_figure(curves: pd.DataFrame, labels: dict[str, str] | None = None) -> plt.Figure:
    """Net benefit against threshold probability, one panel per horizon, with the treat-all and treat-none lines."""
    labels = labels or {}
    horizons = sorted(curves["horizon_months"].unique())
    fig, axes = plt.subplots(1, len(horizons), figsize=(5 * len(horizons), 4.5), squeeze=False)
    defaults = {"treat_all": {"color": "grey", "linestyle": "--"}, "treat_none": {"color": "black", "linestyle": "-"}}
    for ax, horizon in zip(axes[0], horizons):
        part = curves[curves["horizon_months"] == horizon]
        for strategy, rows in part.groupby("strategy", sort=False):
            ax.plot(
                rows["threshold"],
                rows["net_benefit"],
                linewidth=1.2,
                label=labels.get(strategy, strategy),
                **defaults.get(strategy, {}),
            )
        top = part["net_benefit"].max()
        ax.set(
            xlabel="Threshold probability",
            ylabel="Net benefit",
            xlim=(0, 1),
            ylim=(-0.05, top + 0.05),
            title=f"{horizon // 12}-year (test set)",
        )
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig


def optimism_seeds_figure(rows: pd.DataFrame, labels: dict[str, str]) -> plt.Figure:
    """Oracle-adjusted optimism of every model over the split seeds, one panel per horizon, both arms side by side
    (``rows``: optimism_seeds.parquet); zero is a protocol whose test AUC is as far from its ceiling as the
    external AUC is from its own."""
    adjusted = rows.assign(
        optimism=(rows["test_auc"] - rows["test_ceiling"]) - (rows["external_auc"] - rows["external_ceiling"])
    )
    models = list(dict.fromkeys(adjusted["model"]))
    horizons = sorted(adjusted["horizon_months"].unique())
    fig, axes = plt.subplots(1, len(horizons), figsize=(5 * len(horizons), 4.8), sharey=True, squeeze=False)
    colours = {"paper": "tab:red", "rigorous": "tab:blue"}
    for ax, horizon in zip(axes[0], horizons):
        part = adjusted[adjusted["horizon_months"] == horizon]
        for offset, arm in zip((-0.18, 0.18), colours):
            values = [part[(part["arm"] == arm) & (part["model"] == m)]["optimism"].to_numpy() for m in models]
            positions = np.arange(len(models)) + offset
            box = ax.boxplot(values, positions=positions, widths=0.3, patch_artist=True, showfliers=False)
            for patch in box["boxes"]:
                patch.set(facecolor=colours[arm], alpha=0.35)
            ax.scatter(
                np.repeat(positions, [len(v) for v in values]),
                np.concatenate(values),
                s=6,
                color=colours[arm],
                label=f"{arm} arm" if horizon == horizons[0] else None,
            )
        ax.axhline(0, color="grey", linewidth=1, linestyle=":")
        ax.set_xticks(np.arange(len(models)), [labels.get(m, m) for m in models], rotation=45, ha="right")
        ax.set_title(f"{horizon // 12}-year")
    axes[0, 0].set_ylabel("(test - ceiling) - (external - ceiling)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
