"""The reproduction page of step 09: the paper's reported numbers beside this run's and the true ceilings.

The paper's numbers are read from ``book/dou2025_reported.yaml``, a verbatim copy of the
project's transcription of Dou et al. (Table 1 per split, Table 2 for both splits, the pipeline
counts and the paper's own inconsistencies); this run's come from its artifacts. Notable
differences are explained by sentences built from the numbers, stated once per group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from helpers.synthetic.ceilings import INFORMATION_LABELS, MODEL_INFORMATION
from helpers.vocabulary import MODEL_LABELS

SECTIONS = ("source", "cohort", "table1", "pipeline", "table2")
SPLITS = ("train", "test")
SPLIT_NAMES = {"train": "training set", "test": "test set"}
# Table 1 rows: the paper's key, this run's table1.parquet variable label, and the levels in both.
CATEGORY_ROWS: tuple[tuple[str, str, tuple[tuple[Any, str], ...]], ...] = (
    ("gender", "Gender", (("male", "male"), ("female", "female"))),
    ("T_stage", "T stage", ((1, "T1"), (2, "T2"), (3, "T3"), (4, "T4"))),
    ("N_stage", "N stage", ((0, "N0"), (1, "N1"), (2, "N2"))),
    ("M_stage", "M stage", ((0, "M0"), (1, "M1"))),
)
CONTINUOUS_ROWS = (("age", "Age (years)"), ("follow_up_months", "Survival time (months)"))


def load_reported(path: Path) -> dict[str, Any]:
    """The paper's reported numbers (``book/dou2025_reported.yaml``); a missing section is an error naming it."""
    reported = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    missing = set(SECTIONS) - set(reported or {})
    if missing:
        raise ValueError(f"{path}: missing section(s) {sorted(missing)}")
    return reported


def paper_split_sizes(reported: dict[str, Any]) -> dict[str, int]:
    """The paper's training and test set sizes (616 and 264)."""
    return {split: int(reported["cohort"]["split"][split]) for split in SPLITS}


def table1_comparison(reported: dict[str, Any], run_table1: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1 beside this cohort's, per split, with both p-values and the difference in noise units.

    ``run_table1``: notebook 01's table1.parquet. Category rows compare percentages (the paper's on the sum of
    its printed counts, which for M is 607, not 616), continuous rows means. ``z`` is the run-minus-paper
    difference over the standard error of a difference between two independent samples of these sizes.
    Columns: characteristic, level, then per split s: paper_<s>, run_<s>, z_<s> (numbers) and paper_<s>_cell,
    run_<s>_cell (as printed); paper_p, run_p (first row of each characteristic only).
    """
    sizes = paper_split_sizes(reported)
    rows: list[dict[str, Any]] = []
    paper1 = reported["table1"]
    for key, label in CONTINUOUS_ROWS:
        paper, run = paper1[key], run_table1[run_table1["variable"] == label].iloc[0]
        row: dict[str, Any] = {"characteristic": label, "level": "mean (median)"}
        for split in SPLITS:
            run_n = _run_size(run_table1, split)
            spread = float(run[f"sd_{split}"])
            se = spread * np.sqrt(1 / run_n + 1 / sizes[split])
            row |= {
                f"paper_{split}": paper[f"{split}_mean"],
                f"run_{split}": run[f"mean_{split}"],
                f"z_{split}": (run[f"mean_{split}"] - paper[f"{split}_mean"]) / se if se > 0 else np.nan,
                f"paper_{split}_cell": f"{paper[f'{split}_mean']:.1f} ({paper[f'{split}_median']:g})",
                f"run_{split}_cell": f"{run[f'mean_{split}']:.1f} ({run[f'median_{split}']:.1f})",
            }
        rows.append(row | {"paper_p": paper["p"], "run_p": run["p_value"]})
    for key, label, levels in CATEGORY_ROWS:
        paper = paper1[key]
        run_rows = run_table1[run_table1["variable"] == label].set_index("level")
        for index, (paper_level, run_level) in enumerate(levels):
            row = {"characteristic": label, "level": run_level}
            for split in SPLITS:
                counts = paper[split]
                total = sum(counts.values())
                paper_pct = 100.0 * counts[paper_level] / total
                run_pct = float(run_rows.loc[run_level, f"pct_{split}"])
                run_n = _run_size(run_table1, split)
                share = (paper_pct + run_pct) / 200
                se = 100 * np.sqrt(share * (1 - share) * (1 / run_n + 1 / total))
                row |= {
                    f"paper_{split}": paper_pct,
                    f"run_{split}": run_pct,
                    f"z_{split}": (run_pct - paper_pct) / se if se > 0 else np.nan,
                    f"paper_{split}_cell": f"{counts[paper_level]} ({paper_pct:.1f}%)",
                    f"run_{split}_cell": f"{int(run_rows.loc[run_level, f'n_{split}'])} ({run_pct:.1f}%)",
                }
            first = index == 0
            rows.append(
                row | {"paper_p": paper["p"] if first else np.nan, "run_p": _first_p(run_rows) if first else np.nan}
            )
    deaths = paper1["deaths"]
    run_dead = run_table1[(run_table1["variable"] == "Outcome")].set_index("level")
    row = {"characteristic": "Outcome", "level": "dead"}
    for split in SPLITS:
        paper_pct = float(deaths[f"{split}_pct"])
        run_pct = float(run_dead.loc["dead", f"pct_{split}"])
        run_n = _run_size(run_table1, split)
        share = (paper_pct + run_pct) / 200
        se = 100 * np.sqrt(share * (1 - share) * (1 / run_n + 1 / sizes[split]))
        row |= {
            f"paper_{split}": paper_pct,
            f"run_{split}": run_pct,
            f"z_{split}": (run_pct - paper_pct) / se,
            f"paper_{split}_cell": f"{deaths[split]} ({paper_pct:.1f}%)",
            f"run_{split}_cell": f"{int(run_dead.loc['dead', f'n_{split}'])} ({run_pct:.1f}%)",
        }
    rows.append(row | {"paper_p": np.nan, "run_p": _first_p(run_dead)})
    return pd.DataFrame(rows)


def _run_size(run_table1: pd.DataFrame, split: str) -> int:
    """Patients of one split in this run's Table 1 (the gender counts add up to it)."""
    return int(run_table1.loc[run_table1["variable"] == "Gender", f"n_{split}"].sum())


def _first_p(rows: pd.DataFrame) -> float:
    """The p-value a characteristic carries on its first row."""
    values = rows["p_value"].dropna()
    return float(values.iloc[0]) if len(values) else float("nan")


def format_table1_comparison(table: pd.DataFrame, reported: dict[str, Any], run_sizes: dict[str, int]) -> pd.DataFrame:
    """``table1_comparison`` as printed: characteristic once per group, the four cells, both p-values.

    Columns: Characteristic, "", "<split>: paper (n=...)", "<split>: this run (n=...)" for each split,
    "p: paper", "p: this run".
    """
    sizes = paper_split_sizes(reported)
    names = {}
    for split in SPLITS:
        names[f"paper_{split}_cell"] = f"{SPLIT_NAMES[split]}: paper (n={sizes[split]})"
        names[f"run_{split}_cell"] = f"{SPLIT_NAMES[split]}: this run (n={run_sizes[split]})"
    shown = table[["characteristic", "level", *names]].rename(columns=names)
    for source in ("paper", "run"):
        shown[f"p: {'paper' if source == 'paper' else 'this run'}"] = table[f"{source}_p"].map(_p_text)
    shown.loc[shown["characteristic"].duplicated(), "characteristic"] = ""
    return shown.rename(columns={"characteristic": "Characteristic", "level": ""})


def _p_text(p: float) -> str:
    """A p-value as printed: blank, "<0.001" or three decimals."""
    return "" if pd.isna(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def table1_notes(table: pd.DataFrame, reported: dict[str, Any], z_limit: float = 2.0) -> list[str]:
    """One sentence listing the Table 1 cells that differ from the paper's by more than ``z_limit`` standard
    errors, then the paper's own noted inconsistencies and what the p-values of a random split mean."""
    beyond = []
    for r in table.itertuples():
        for split in SPLITS:
            z = getattr(r, f"z_{split}")
            if pd.notna(z) and abs(z) > z_limit:
                unit = "%" if r.level != "mean (median)" else " months" if "time" in r.characteristic else " years"
                beyond.append(
                    f"{r.characteristic} {r.level}, {SPLIT_NAMES[split]}: paper {getattr(r, f'paper_{split}'):.1f}{unit}, "
                    f"this run {getattr(r, f'run_{split}'):.1f}{unit} ({z:+.1f} SE)"
                )
    if beyond:
        notes = [
            f"More than {z_limit:g} standard errors of a difference between two samples of these sizes from the "
            "paper's, so more than sampling noise between two draws of the same population: " + "; ".join(beyond) + "."
        ]
    else:
        notes = [
            f"Every cell lies within {z_limit:g} standard errors of the paper's: the differences are what two samples "
            "of the same population show."
        ]
    notes += [f"The paper: {reported['table1']['M_stage']['note']}."]
    notes.append(
        "The p-values compare the training and test sets of one random split: under the null they are uniform on "
        "[0, 1], so the paper's and this run's differ by chance, not by design."
    )
    return notes


def pipeline_comparison(reported: dict[str, Any], run: dict[str, float]) -> pd.DataFrame:
    """Counts and summaries along the pipeline (cohort, ICC, features, PCA, LASSO, cut-off): paper, run, why.

    ``run`` keys: patients, train, test, mean_icc (None: not assessable, no second reader), features,
    pca_components, lasso_components, cutpoint; shown as text (``_shown``). Columns: quantity, paper, this run,
    why.
    """
    pipeline = reported["pipeline"]
    paper = {
        "patients": reported["cohort"]["patients"],
        "train": reported["cohort"]["split"]["train"],
        "test": reported["cohort"]["split"]["test"],
        "mean_icc": pipeline["mean_icc"],
        "features": pipeline["features"]["total"],
        "pca_components": pipeline["pca_components"],
        "lasso_components": pipeline["lasso_components_kept"],
        "cutpoint": pipeline["cutpoint"]["value"],
    }
    return pd.DataFrame(
        [
            {
                "quantity": key.replace("_", " "),
                "paper": _shown(paper[key]),
                "this run": _shown(value),
                "why": WHY_PIPELINE[key],
            }
            for key, value in run.items()
        ]
    )


def _shown(value: float | int | None) -> str:
    """A pipeline quantity as the table shows it: a count as an integer, a fraction to at most 3 decimals
    (the paper's 0.81 as 0.81), a missing one as not assessable."""
    if value is None:
        return "not assessable"
    return f"{round(value, 3):g}" if isinstance(value, float) else str(value)


WHY_PIPELINE = {
    "patients": "the default profile generates the paper's cohort size; a real cohort brings its own",
    "train": "the same 7:3 split, stratified on the event",
    "test": "the same 7:3 split, stratified on the event",
    "mean_icc": "the second reader's boundary noise of the generator is tuned so that the mean ICC(2,1) lands near "
    "the paper's; the ICC form is not stated in the paper",
    "features": "the same PyRadiomics families and filters (original, LoG at two sigmas, eight wavelets)",
    "pca_components": "synthetic tumours vary along fewer independent properties than real CT, so fewer components "
    "reach 80 % of the variance",
    "lasso_components": "the number of components LASSO keeps follows the survival signal the generator puts inside "
    "the ROI; the paper's 9 of 21 is not a target",
    "cutpoint": "the cut-off is a maximally selected log-rank statistic on this run's fusion probabilities, whose "
    "scale depends on the fusion model and the cohort",
}


def table2_comparison(
    reported: dict[str, Any], run_metrics: pd.DataFrame, ceilings: pd.DataFrame | None
) -> pd.DataFrame:
    """Table 2 in long form: this run's AUC and accuracy beside the paper's and the ceiling of each model's information.

    ``run_metrics``: notebook 07's metrics_fusion.parquet (all six models); ``ceilings``: notebook 01's
    ceilings.parquet (None for a real cohort). Columns: model (label), split, horizon_months, auc, accuracy,
    paper_auc, paper_accuracy, information_set and, when ``ceilings`` is given, ceiling.
    """
    paper = reported["table2"]
    rows = []
    for r in run_metrics.itertuples():
        label = MODEL_LABELS[r.model]
        published = paper[r.split][label][int(r.horizon_months)]
        rows.append(
            {
                "model": label,
                "split": r.split,
                "horizon_months": int(r.horizon_months),
                "auc": r.auc,
                "accuracy": r.accuracy,
                "paper_auc": float(published["auc"]),
                "paper_accuracy": float(published["accuracy"]),
                "information_set": MODEL_INFORMATION[r.model],
            }
        )
    table = pd.DataFrame(rows)
    if ceilings is not None:
        table = table.merge(
            ceilings.rename(columns={"auc": "ceiling"}), on=["information_set", "split", "horizon_months"], how="left"
        )
    return table


def wide_table2(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """One split of ``table2_comparison`` laid out like the paper: per horizon the paper's AUC, this run's, the
    ceiling, and both accuracies.

    Index model (the six labels in Table 2's order); columns (``"<k>-year"``, quantity) with quantities
    "AUC paper", "AUC this run", "ceiling" (when known), "accuracy paper", "accuracy this run".
    """
    part = table[table["split"] == split]
    quantities = {"paper_auc": "AUC paper", "auc": "AUC this run"}
    quantities |= {"ceiling": "ceiling"} if "ceiling" in part else {}
    quantities |= {"paper_accuracy": "accuracy paper", "accuracy": "accuracy this run"}
    wide = part.pivot(index="model", columns="horizon_months", values=list(quantities))
    wide.columns = pd.MultiIndex.from_tuples([(f"{h // 12}-year", quantities[q]) for q, h in wide.columns])
    order = [(f"{h // 12}-year", q) for h in sorted(part["horizon_months"].unique()) for q in quantities.values()]
    models = [label for label in MODEL_LABELS.values() if label in wide.index]
    return wide.loc[models, order].rename_axis("model")


def table2_notes(table: pd.DataFrame, margin: float = 0.03) -> list[str]:
    """Sentences for Table 2's notable differences, each explanation stated once with the model-and-split cells it
    applies to: this run's or the paper's AUC above this cohort's ceiling of the model's information, this run far
    below the paper; then the training-test gaps and what the accuracies mean."""
    cells: dict[str, list[str]] = {"run above": [], "paper above": [], "below": []}
    has_ceiling = "ceiling" in table and table["ceiling"].notna().any()
    for (split, model), rows in table.groupby(["split", "model"], sort=False):
        paper, run = rows["paper_auc"], rows["auc"]
        cell = f"{model}, {SPLIT_NAMES[split]} (paper {_span(paper)}, this run {_span(run)}"
        if has_ceiling:
            information = INFORMATION_LABELS[rows["information_set"].iloc[0]]
            with_ceiling = f"{cell}; ceiling of {information}: {_span(rows['ceiling'])})"
            if (run > rows["ceiling"] + margin).any():
                cells["run above"].append(with_ceiling)
            if (paper > rows["ceiling"] + margin).any():
                cells["paper above"].append(with_ceiling)
                continue
        if (paper - run > 0.1).any():
            cells["below"].append(cell + ")")
    explanations = {
        "run above": "This run's AUC exceeds the ceiling of its information by more than sampling noise and the "
        "ceiling's approximation allow, the mark of a model scoring patients it was fitted on",
        "paper above": "The paper's AUC exceeds this cohort's ceiling of its information: the two cohorts differ in "
        "how predictable they are, so compare each model's distance to its own cohort's ceiling, not the levels",
        "below": "This run stays well below the paper",
    }
    notes = [f"{explanations[kind]}: {'; '.join(listed)}." for kind, listed in cells.items() if listed]
    paper_gap = _train_test_gap(table, "paper_auc")
    run_gap = _train_test_gap(table, "auc")
    notes.append(
        "Training minus test AUC, averaged over the three horizons: "
        + "; ".join(f"{m} paper {paper_gap[m]:+.3f}, this run {run_gap[m]:+.3f}" for m in paper_gap.index)
        + "."
    )
    notes.append(
        "Accuracy depends on the threshold that turns a probability into a prediction and on how patients censored "
        "before a horizon are labelled; the paper states neither, so its accuracies are not comparable cell by cell."
    )
    return notes


def _span(values: pd.Series) -> str:
    """A range of AUCs as printed: "0.712" or "0.712–0.845"."""
    low, high = float(values.min()), float(values.max())
    return f"{low:.3f}" if np.isclose(low, high, atol=5e-4) else f"{low:.3f}–{high:.3f}"


def _train_test_gap(table: pd.DataFrame, column: str) -> pd.Series:
    """Mean over horizons of training minus test ``column`` per model label, in Table 2's model order."""
    wide = table.pivot_table(index="model", columns="split", values=column, aggfunc="mean")
    gap = wide["train"] - wide["test"]
    return gap.reindex([label for label in MODEL_LABELS.values() if label in gap.index])
