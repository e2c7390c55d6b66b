"""The study cohort: train/test split, Table 1 and follow-up summaries.

Table 1 follows the paper: mean (median) for continuous variables, count (%) for
categories; continuous variables are compared with Student's t-test when both groups pass
Shapiro-Wilk at alpha = 0.05 and with the Mann-Whitney U test otherwise, categories with
Pearson's chi-square test (no continuity correction). Missing values are shown as their own
row and left out of the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy import stats

NORMALITY_ALPHA = 0.05
CATEGORY_LEVELS: dict[str, tuple[str, ...]] = {
    "gender": ("male", "female"),
    "T": ("T1", "T2", "T3", "T4"),
    "N": ("N0", "N1", "N2"),
    "M": ("M0", "M1"),
}
LABELS = {
    "age": "Age (years)",
    "gender": "Gender",
    "T": "T stage",
    "N": "N stage",
    "M": "M stage",
    "centre": "Centre",
    "time_months": "Survival time (months)",
    "event": "Outcome",
}


@dataclass(frozen=True)
class Comparison:
    """A between-group test: its name and p-value."""

    test: str
    p_value: float


def compare_continuous(a: pd.Series, b: pd.Series) -> Comparison:
    """t-test if both groups look normal (Shapiro-Wilk), Mann-Whitney U otherwise."""
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    normal = all(len(x) >= 3 and stats.shapiro(x).pvalue > NORMALITY_ALPHA for x in (a, b))
    if normal:
        return Comparison("t-test", float(stats.ttest_ind(a, b).pvalue))
    return Comparison("Mann-Whitney U", float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue))


def compare_categorical(a: pd.Series, b: pd.Series) -> Comparison:
    """Pearson chi-square on the observed (non-missing) levels of both groups."""
    values = pd.concat([a, b], ignore_index=True).astype("object")
    membership = np.r_[np.zeros(len(a)), np.ones(len(b))]
    table = pd.crosstab(values, membership)  # crosstab leaves missing values out
    table = table.loc[table.sum(axis=1) > 0]
    if table.shape[0] < 2:
        return Comparison("chi-square", float("nan"))
    return Comparison("chi-square", float(stats.chi2_contingency(table.to_numpy(), correction=False).pvalue))


def _levels(values: pd.Series, variable: str) -> list[str]:
    """Display order of a categorical variable's levels."""
    known = CATEGORY_LEVELS.get(variable)
    present = sorted(values.dropna().astype(str).unique())
    return [lvl for lvl in known if lvl in present] + [lvl for lvl in present if lvl not in known] if known else present


def table1(cohort: pd.DataFrame, group: str = "split", groups: tuple[str, str] = ("train", "test")) -> pd.DataFrame:
    """Baseline characteristics by group, with the numbers and the formatted cells.

    Returns one row per (variable, level). Columns: variable, level; per group ``g`` the numbers ``n_<g>``,
    ``pct_<g>`` (category rows) or ``mean_<g>``, ``median_<g>``, ``sd_<g>`` (continuous rows, level "mean (median)") and
    the display cell ``<g>``; then stat_test and p_value (on each variable's first row only).
    """
    parts = {g: cohort.loc[cohort[group] == g] for g in groups}
    rows: list[dict[str, object]] = []
    for variable in ("age", "gender", "T", "N", "M", "centre", "time_months", "event"):
        if variable not in cohort or (variable == "centre" and cohort["centre"].nunique() < 2):
            continue
        if variable in ("age", "time_months"):
            comparison = compare_continuous(*(parts[g][variable] for g in groups))
            row: dict[str, object] = {"variable": LABELS[variable], "level": "mean (median)"}
            for g, part in parts.items():
                values = part[variable].dropna().astype(float)
                row.update(
                    {
                        f"mean_{g}": values.mean(),
                        f"median_{g}": values.median(),
                        f"sd_{g}": values.std(),
                        g: f"{values.mean():.1f} ({values.median():.1f})",
                    }
                )
            rows.append(row | {"stat_test": comparison.test, "p_value": comparison.p_value})
            continue
        series = {
            g: part[variable].map({0: "alive/censored", 1: "dead"}) if variable == "event" else part[variable]
            for g, part in parts.items()
        }
        comparison = compare_categorical(*(series[g] for g in groups))
        levels = _levels(pd.concat(series.values()), variable)
        has_missing = any(s.isna().any() for s in series.values())
        for index, level in enumerate(levels + (["missing"] if has_missing else [])):
            row = {"variable": LABELS[variable], "level": level}
            for g, values in series.items():
                count = int(values.isna().sum()) if level == "missing" else int((values.astype(str) == level).sum())
                pct = 100.0 * count / len(values) if len(values) else float("nan")
                row.update({f"n_{g}": count, f"pct_{g}": pct, g: f"{count} ({pct:.1f}%)"})
            first = index == 0
            rows.append(
                row
                | {"stat_test": comparison.test if first else "", "p_value": comparison.p_value if first else np.nan}
            )
    return pd.DataFrame(rows)


def format_table1(
    table: pd.DataFrame, groups: tuple[str, str] = ("train", "test"), sizes: dict[str, int] | None = None
) -> pd.DataFrame:
    """Table 1 as it is printed: variable, level, one column per group, p-value, test.

    Columns: Characteristic (blank after a variable's first row), "" (the level), one per group ("Training set",
    "Test set" or "<g> set", plus " (n=...)" when ``sizes`` is given), p (text: "<0.001" or 3 decimals), test.
    """
    names = {
        g: f"{'Training' if g == 'train' else 'Test' if g == 'test' else g} set" + (f" (n={sizes[g]})" if sizes else "")
        for g in groups
    }
    shown = table[["variable", "level", *groups, "p_value", "stat_test"]].rename(columns=names)
    shown["p_value"] = table["p_value"].map(lambda p: "" if pd.isna(p) else "<0.001" if p < 0.001 else f"{p:.3f}")
    shown.loc[shown["variable"].duplicated(), "variable"] = ""
    return shown.rename(columns={"variable": "Characteristic", "level": "", "p_value": "p", "stat_test": "test"})


def median_follow_up(time: pd.Series, event: pd.Series) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (censoring as the event)."""
    return float(KaplanMeierFitter().fit(time, 1 - event.astype(int)).median_survival_time_)


def split_summary(cohort: pd.DataFrame) -> pd.DataFrame:
    """Patients, deaths, median survival and median follow-up per split and overall.

    Columns: split (train, test, then "all"), patients, deaths, deaths_pct, median_survival_months,
    median_follow_up_months.
    """
    rows = []
    for name, part in [*cohort.groupby("split", sort=False), ("all", cohort)]:
        km = KaplanMeierFitter().fit(part["time_months"], part["event"])
        rows.append(
            {
                "split": name,
                "patients": len(part),
                "deaths": int(part["event"].sum()),
                "deaths_pct": 100.0 * part["event"].mean(),
                "median_survival_months": float(km.median_survival_time_),
                "median_follow_up_months": median_follow_up(part["time_months"], part["event"]),
            }
        )
    order = {"train": 0, "test": 1, "all": 2}
    return pd.DataFrame(rows).sort_values("split", key=lambda s: s.map(order)).reset_index(drop=True)


def missing_summary(cohort: pd.DataFrame) -> pd.DataFrame:
    """Per clinical column: patients with a value and without one (none are dropped).

    Columns: column, present, missing.
    """
    columns = [c for c in ("age", "gender", "T", "N", "M", "time_months", "event", "centre") if c in cohort]
    return pd.DataFrame(
        {
            "column": columns,
            "present": [int(cohort[c].notna().sum()) for c in columns],
            "missing": [int(cohort[c].isna().sum()) for c in columns],
        }
    )


def marginals(cohort: pd.DataFrame) -> dict[str, float]:
    """The Table 1 marginals that the paper reports, as percentages (age as a mean)."""
    values: dict[str, float] = {
        "age_mean": float(cohort["age"].mean()),
        "male_pct": 100.0 * float((cohort["gender"] == "male").mean()),
        "deaths_pct": 100.0 * float(cohort["event"].mean()),
    }
    for variable, levels in (("T", CATEGORY_LEVELS["T"]), ("N", CATEGORY_LEVELS["N"]), ("M", ("M1",))):
        for level in levels:
            values[f"{level}_pct"] = 100.0 * float((cohort[variable] == level).mean())
    return values


def headline_numbers(cohort: pd.DataFrame, summary: pd.DataFrame, ceilings: pd.DataFrame | None) -> dict:
    """The numbers later pages quote from this notebook (via metrics/01_cohort.json).

    ``ceilings``: notebook 01's ceilings.parquet (in silico), quoted as test AUC per information set.
    """
    numbers: dict[str, object] = {
        "patients": len(cohort),
        "by_split": summary.set_index("split")[["patients", "deaths", "median_follow_up_months"]].to_dict("index"),
        "marginals": marginals(cohort),
    }
    if ceilings is not None:
        test = ceilings[ceilings["split"] == "test"]
        numbers["ceiling_auc_test"] = {
            name: {str(h): a for h, a in zip(part["horizon_months"], part["auc"])}
            for name, part in test.groupby("information_set")
        }
    return numbers
