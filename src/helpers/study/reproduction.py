"""The reproduction page of step 09: the paper's reported numbers beside this run's and the oracle.

The paper's numbers live in ``book/paper_reported.yaml`` (values not verified from a copy of
the paper are null there and shown as "not on file"); this run's come from its artifacts.
Every row carries one sentence that explains the difference, so the page never leaves a
gap unexplained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from helpers.vocabulary import MODEL_LABELS

NOT_ON_FILE = "not on file"
TABLE1_LABELS = {
    "male_pct": "male, %",
    "age_mean": "age, mean years",
    "T1_pct": "T1, %",
    "T2_pct": "T2, %",
    "T3_pct": "T3, %",
    "T4_pct": "T4, %",
    "N0_pct": "N0, %",
    "N1_pct": "N1, %",
    "N2_pct": "N2, %",
    "M1_pct": "M1, %",
    "deaths_pct": "deaths, %",
}
WHY_TABLE1 = (
    "the in-silico generator draws each marginal from the paper's Table 1, so the cohort matches it up "
    "to sampling noise of {n} patients"
)
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


def load_reported(path: Path) -> dict[str, Any]:
    """The paper's reported numbers (``book/paper_reported.yaml``)."""
    reported = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    missing = {"cohort", "table1", "pipeline", "table2"} - set(reported)
    if missing:
        raise ValueError(f"{path}: missing section(s) {sorted(missing)}")
    return reported


def _shown(value: Any) -> Any:
    """A reported value, or "not on file" when the paper's number is not recorded."""
    return NOT_ON_FILE if value is None else value


def table1_comparison(reported: dict[str, Any], marginals: dict[str, float], n_patients: int) -> pd.DataFrame:
    """The paper's Table 1 marginals beside this cohort's, with the difference and why.

    Columns: quantity, paper, this run, difference, why.
    """
    rows = []
    for key, label in TABLE1_LABELS.items():
        paper = reported["table1"].get(key)
        rows.append(
            {
                "quantity": label,
                "paper": _shown(paper),
                "this run": round(marginals[key], 1),
                "difference": None if paper is None else round(marginals[key] - paper, 1),
                "why": WHY_TABLE1.format(n=n_patients),
            }
        )
    return pd.DataFrame(rows)


def pipeline_comparison(reported: dict[str, Any], run: dict[str, float]) -> pd.DataFrame:
    """Counts and summaries along the pipeline (cohort, ICC, features, PCA, LASSO, cut-off): paper, run, why.

    Columns: quantity, paper, this run, why.
    """
    paper = {**reported["cohort"], **reported["pipeline"]}
    return pd.DataFrame(
        [
            {
                "quantity": key.replace("_", " "),
                "paper": _shown(paper.get(key)),
                "this run": value,
                "why": WHY_PIPELINE[key],
            }
            for key, value in run.items()
        ]
    )


def table2_comparison(reported: dict[str, Any], run_metrics: pd.DataFrame, oracle: pd.DataFrame | None) -> pd.DataFrame:
    """Table 2 in long form: model, split, horizon, this run's AUC and accuracy, the paper's, and the oracle AUC.

    ``run_metrics``: notebook 07's metrics_fusion.parquet; ``oracle``: notebook 01's oracle_auc.parquet
    (None for a real cohort). The oracle is the AUC of the true risk on the same split.
    Columns: model (label), split, horizon_months, auc, accuracy, paper_auc, paper_accuracy, and oracle_auc
    when ``oracle`` is given.
    """
    paper = reported.get("table2") or {}
    rows = []
    for r in run_metrics.itertuples():
        label = MODEL_LABELS[r.model]
        published = paper.get(label, {}).get(r.split, {}).get(int(r.horizon_months), {})
        rows.append(
            {
                "model": label,
                "split": r.split,
                "horizon_months": int(r.horizon_months),
                "auc": r.auc,
                "accuracy": r.accuracy,
                "paper_auc": _shown(published.get("auc")),
                "paper_accuracy": _shown(published.get("accuracy")),
            }
        )
    table = pd.DataFrame(rows)
    if oracle is not None:
        full = oracle[oracle["score"] == "full"][["split", "horizon_months", "auc"]].rename(
            columns={"auc": "oracle_auc"}
        )
        table = table.merge(full, on=["split", "horizon_months"], how="left")
    return table


def wide_table2(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """One split of ``table2_comparison`` laid out like the paper: the AUC of this run beside the paper's.

    Index ``model`` (model labels, then "Oracle (true risk)" when present); columns (``"<k>-year AUC"``,
    "this run" or "paper") for each horizon.
    """
    part = table[table["split"] == split]
    horizon = {h: f"{h // 12}-year AUC" for h in sorted(part["horizon_months"].unique())}
    rows: dict[str, dict[tuple[str, str], Any]] = {}
    for r in part.itertuples():
        rows.setdefault(r.model, {})[(horizon[r.horizon_months], "this run")] = r.auc
        rows[r.model][(horizon[r.horizon_months], "paper")] = r.paper_auc
    if "oracle_auc" in part:
        for h, value in part.groupby("horizon_months")["oracle_auc"].first().items():
            rows.setdefault("Oracle (true risk)", {})[(horizon[h], "this run")] = value
            rows["Oracle (true risk)"][(horizon[h], "paper")] = "-"
    wide = pd.DataFrame.from_dict(rows, orient="index")
    wide.columns = pd.MultiIndex.from_tuples(wide.columns)
    order = [label for label in MODEL_LABELS.values() if label in wide.index] + [
        i for i in wide.index if i not in MODEL_LABELS.values()
    ]
    return wide.loc[order].rename_axis("model")
