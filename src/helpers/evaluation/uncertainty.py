"""Bootstrap confidence intervals for the AUCs and accuracies of Table 2.

The paper reports Table 2 without any measure of uncertainty; on a test split of a few
hundred patients an AUC moves by several hundredths between samples. Here each test-split
cell gets a **percentile** bootstrap interval from stratified resamples: the patients who died
by the horizon and those who survived it are resampled separately (with replacement), so
every resample keeps the split's event count and both classes, and the AUC is always
defined. Patients whose status at the horizon is unknown (censored before it, under
``label_policy: known_status`` or ``ipcw``) are left out, exactly as in
``helpers.evaluation.binary.horizon_metrics``; under ``ipcw`` every resample keeps each patient's weight.
All models are scored on the same resampled patients per horizon (paired resamples), so
their intervals are comparable cell by cell.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from helpers.evaluation.binary import binary_metrics, horizon_metrics, with_labels
from helpers.evaluation.survival import ScoredSplit, horizon_frame
from helpers.vocabulary import MODEL_LABELS, LabelPolicy

CI_COLUMNS = ["auc", "auc_low", "auc_high", "accuracy", "accuracy_low", "accuracy_high"]


def known_rows(predictions: pd.DataFrame, cohort: pd.DataFrame, policy: LabelPolicy, split: str) -> pd.DataFrame:
    """One split's predictions with a known horizon label, ordered by (horizon, patient) so models line up.

    Columns: those of ``helpers.evaluation.binary.with_labels`` (the predictions' plus split, time_months,
    event, label, weight); a fresh RangeIndex.
    """
    labelled = with_labels(predictions, cohort, policy)
    rows = labelled[(labelled["split"] == split) & labelled["label"].notna()]
    return rows.sort_values(["horizon_months", "patient_id"], ignore_index=True)


def stratified_resamples(labels: ArrayLike, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) row indices; each row draws the events among the events and the non-events among the non-events.

    Written here because scipy.stats.bootstrap has no strata and sklearn.utils.resample draws
    one resample a call; this draws them all at once from one seeded generator.
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(y == value) for value in np.unique(y)]
    draws = [stratum[rng.integers(0, len(stratum), size=(n_resamples, len(stratum)))] for stratum in strata]
    return np.hstack(draws) if draws else np.empty((n_resamples, 0), dtype=int)


def resampled_auc(
    probability: ArrayLike, labels: ArrayLike, indices: np.ndarray, weights: ArrayLike | None = None
) -> np.ndarray:
    """ROC AUC of each resample (a row of ``indices``): Mann-Whitney U on mid-ranks / (events x non-events).

    Vectorised over resamples (scikit-learn's roc_auc_score takes one at a time); NaN without both classes.
    With ``weights`` (each patient keeps the weight of the full split) the weighted AUC of each resample, one
    roc_auc_score call per resample.
    """
    if weights is not None:
        p, y, w = np.asarray(probability, dtype=float), np.asarray(labels).astype(int), np.asarray(weights, float)
        return np.array(
            [
                roc_auc_score(y[row], p[row], sample_weight=w[row]) if len(set(y[row])) == 2 else np.nan
                for row in indices
            ]
        )
    p, y = np.asarray(probability, dtype=float)[indices], np.asarray(labels).astype(int)[indices]
    ranks = rankdata(p, axis=1)
    events = y.sum(axis=1)
    pairs = events * (y.shape[1] - events)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - events * (events + 1) / 2) / pairs
    return np.where(pairs > 0, auc, np.nan)


def resampled_accuracy(
    probability: ArrayLike, labels: ArrayLike, threshold: float, indices: np.ndarray, weights: ArrayLike | None = None
) -> np.ndarray:
    """Accuracy of each resample at a fixed ``threshold`` (positive = probability >= it), weighted if ``weights``."""
    p, y = np.asarray(probability, dtype=float), np.asarray(labels).astype(int)
    correct = (p[indices] >= threshold) == y[indices]
    if weights is None:
        return correct.mean(axis=1)
    w = np.asarray(weights, dtype=float)[indices]
    return (correct * w).sum(axis=1) / w.sum(axis=1)


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of bootstrap replicates (percentile method)."""
    if np.isnan(values).all():
        return float("nan"), float("nan")
    low, high = np.nanquantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def bootstrap_binary_metrics(
    probability: ArrayLike,
    labels: ArrayLike,
    threshold: float,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    weights: ArrayLike | None = None,
) -> dict[str, float]:
    """AUC and accuracy with percentile CIs from stratified resamples; labels must be known (0/1).

    The accuracy threshold stays fixed (the training split's Youden cut-off): it is not re-learned
    in each resample, so the interval reflects test-sample variation only, not threshold choice.
    IPCW ``weights`` stay those of the full split (the censoring distribution is not re-estimated per
    resample, a small understatement of the interval's width).
    """
    p, y = np.asarray(probability, dtype=float), np.asarray(labels).astype(int)
    indices = stratified_resamples(y, n_resamples, seed)
    auc_low, auc_high = percentile_interval(resampled_auc(p, y, indices, weights), confidence)
    accuracy = resampled_accuracy(p, y, threshold, indices, weights)
    accuracy_low, accuracy_high = percentile_interval(accuracy, confidence)
    point = binary_metrics(p, y, threshold, weights)
    return {
        "auc": point["auc"],
        "auc_low": auc_low,
        "auc_high": auc_high,
        "accuracy": point["accuracy"],
        "accuracy_low": accuracy_low,
        "accuracy_high": accuracy_high,
        "n": point["n"],
        "events": int(y.sum()),
    }


def bootstrap_horizon_metrics(
    predictions: pd.DataFrame,
    cohort: pd.DataFrame,
    policy: LabelPolicy,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    split: str = "test",
    thresholds: Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """``horizon_metrics``' AUC and accuracy on ``split`` with bootstrap CIs, accuracy at ``thresholds`` (per
    horizon; default: the training split's Youden cut-off).

    Columns: horizon_months, threshold, auc, auc_low, auc_high, accuracy, accuracy_low, accuracy_high, n, events.
    """
    if thresholds is None:
        thresholds = horizon_metrics(predictions, cohort, policy).groupby("horizon_months")["threshold"].first()
    rows = []
    for horizon, part in known_rows(predictions, cohort, policy, split).groupby("horizon_months"):
        weights = None if policy != "ipcw" else part["weight"]
        values = bootstrap_binary_metrics(
            part["probability"], part["label"], float(thresholds[horizon]), n_resamples, seed, confidence, weights
        )
        rows.append({"horizon_months": horizon, "threshold": float(thresholds[horizon]), **values})
    return pd.DataFrame(rows)


def bootstrap_table2(
    predictions: Mapping[str, pd.DataFrame],
    cohort: pd.DataFrame,
    policy: LabelPolicy,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    thresholds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long table of every Table 2 test cell with its CI: one row per model (MODEL_LABELS' keys) and horizon.

    Every model uses the same ``seed``, hence the same resampled patients per horizon (paired). Accuracy is
    taken at Table 2's own cut-offs when ``thresholds`` (rows model, horizon_months, threshold: notebook 07's
    metrics of one arm) is given, else at each model's training Youden cut-off.
    Columns: model, horizon_months, n, events, threshold, auc, auc_low, auc_high, accuracy, accuracy_low,
    accuracy_high.
    """
    unknown = sorted(set(predictions) - set(MODEL_LABELS))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; Table 2's models are {list(MODEL_LABELS)}")
    cuts = None if thresholds is None else thresholds.groupby(["model", "horizon_months"])["threshold"].first()
    parts = [
        bootstrap_horizon_metrics(
            frame,
            cohort,
            policy,
            n_resamples,
            seed,
            confidence,
            thresholds=None if cuts is None else {int(h): float(t) for h, t in cuts.loc[name].items()},
        ).assign(model=name)
        for name, frame in predictions.items()
    ]
    table = pd.concat(parts, ignore_index=True)
    return table[["model", "horizon_months", "n", "events", "threshold", *CI_COLUMNS]]


def _interval_text(estimate: float, low: float, high: float, digits: int) -> str:
    """An estimate and its interval as text, e.g. 0.812 (0.741-0.877)."""
    return f"{estimate:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def table2_with_ci(long: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``bootstrap_table2`` laid out as Table 2's test rows: index model label, columns (horizon, AUC/Accuracy).

    Index ``model`` (MODEL_LABELS' labels); column levels horizon ("1-year", ...) and metric ("AUC",
    "Accuracy"); cells text such as "0.812 (0.741-0.877)".
    """
    records = []
    for key, label in MODEL_LABELS.items():
        rows = long[long["model"] == key]
        if rows.empty:
            continue
        record: dict[tuple[str, str] | str, str] = {"model": label}
        for row in rows.itertuples():
            horizon = f"{row.horizon_months // 12}-year"
            record[(horizon, "AUC")] = _interval_text(row.auc, row.auc_low, row.auc_high, digits)
            record[(horizon, "Accuracy")] = _interval_text(row.accuracy, row.accuracy_low, row.accuracy_high, digits)
        records.append(record)
    table = pd.DataFrame(records).set_index("model")
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["horizon", "metric"])
    return table


def bootstrap_survival_scores(
    predictions: Mapping[str, pd.DataFrame],
    cohort: pd.DataFrame,
    n_resamples: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    split: str = "test",
) -> pd.DataFrame:
    """Percentile CIs of every survival score (Harrell's and Uno's C, time-dependent AUC, Brier, IBS) per model.

    The patients of ``split`` are resampled with replacement, deaths and censored patients separately, and
    every model is scored on the same resamples (paired); the censoring weights stay the training split's.
    Columns: model, score, estimate, low, high.
    """
    train = cohort[cohort["split"] == "train"]
    patients = cohort.loc[cohort["split"] == split, "patient_id"]
    event = cohort.set_index("patient_id").loc[patients, "event"].to_numpy()
    indices = stratified_resamples(event, n_resamples, seed)
    rows = []
    for name, frame in predictions.items():
        wide = horizon_frame(frame, cohort).reindex(patients)
        horizons = tuple(int(h) for h in wide.columns.drop(["split", "time_months", "event"]))
        scored = ScoredSplit.of(train, wide, horizons)
        point = scored.scores(np.arange(len(wide)))
        replicates = pd.DataFrame([scored.scores(rows_) for rows_ in indices])
        for score, estimate in point.items():
            if score == "tau":
                continue
            low, high = percentile_interval(replicates[score].to_numpy(dtype=float), confidence)
            rows.append({"model": name, "score": score, "estimate": estimate, "low": low, "high": high})
    return pd.DataFrame(rows)


def headline_numbers(
    intervals: pd.DataFrame, scores: pd.DataFrame, calibration: pd.DataFrame
) -> dict[str, dict[str, object]]:
    """What notebook 11 records of one arm in metrics/11_uncertainty.json: the Table 2 intervals, the
    survival scores and the calibration numbers, keyed "<model>_<months>" (or by model)."""
    by_cell = {f"{r.model}_{r.horizon_months}": r for r in intervals.itertuples()}
    calibrated = {f"{r.model}_{r.horizon_months}": r for r in calibration.itertuples()}
    return {
        "test_auc_ci": {key: [r.auc_low, r.auc_high] for key, r in by_cell.items()},
        "test_accuracy_ci": {key: [r.accuracy_low, r.accuracy_high] for key, r in by_cell.items()},
        "harrell_c": dict(zip(scores["model"], scores["harrell_c"])),
        "uno_c": dict(zip(scores["model"], scores["uno_c"])),
        "ibs": dict(zip(scores["model"], scores["ibs"])),
        "calibration_slope": {key: r.slope for key, r in calibrated.items()},
        "citl": {key: r.citl for key, r in calibrated.items()},
        "observed_to_expected": {key: r.observed_to_expected for key, r in calibrated.items()},
    }


def survival_scores_with_ci(table: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """``bootstrap_survival_scores`` as printed: one row per model (its label), one "estimate (low-high)" column
    per score, in the table's order."""
    cells = table.assign(
        cell=[_interval_text(r.estimate, r.low, r.high, 3) for r in table.itertuples()],
        model=table["model"].map(lambda m: labels.get(m, m)),
    )
    wide = cells.pivot(index="model", columns="score", values="cell")
    return wide.loc[cells["model"].unique(), list(table["score"].unique())]
