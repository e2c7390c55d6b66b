"""The two scikit-survival splitting rules that bracket randomForestSRC's ``nsplit = 11``, at the paper's size.

randomForestSRC draws 11 random cut points per candidate feature and keeps the best; scikit-survival
offers every cut point ("exhaustive", nsplit = 0) or one random cut point ("random": extremely
randomised trees) and cannot run nsplit = 11 itself. The best of 11 uniformly drawn cut points is,
in expectation, within the top twelfth of all candidates, so nsplit = 11 sits much nearer the
exhaustive search than the single random cut; this measures how far apart the two brackets are: for
each rule, on one run's training split only (notebook 04's components, notebook 05's node-size
candidates), the OOB error of the tuned forest, its out-of-bag training AUC per horizon, the node
size chosen and the wall time.

    .venv/bin/python benchmarks/rsf_splitting.py runs/default

Results go to benchmarks/results/rsf_splitting.json. The test split is not read.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
from sksurv.util import Surv

from helpers.evaluation.binary import auc_known, with_labels
from helpers.models.rsf import fit_rsf, out_of_bag_death_probabilities, tune_node_size

ROOT = Path(__file__).resolve().parents[1]
NODE_SIZES = (1, 3, 5, 10, 15, 20, 30)


def measure(run_dir: Path, splitting: str, trees: int, seed: int) -> dict[str, object]:
    """Tune, fit and score one splitting rule on the run's training split."""
    cohort = pd.read_parquet(run_dir / "cohort.parquet")
    components = pd.read_parquet(run_dir / "components.parquet").drop(columns="split")
    train = cohort[cohort["split"] == "train"]
    y = Surv.from_arrays(train["event"].astype(bool), train["time_months"])
    X = components.loc[train["patient_id"]]
    started = time.perf_counter()
    tuning = tune_node_size(X, y, NODE_SIZES, n_estimators=trees, splitting=splitting, random_state=seed, n_jobs=-1)
    forest = fit_rsf(X, y, tuning.best, n_estimators=trees, splitting=splitting, random_state=seed, n_jobs=-1)
    oob = out_of_bag_death_probabilities(forest, X)
    seconds = time.perf_counter() - started
    labelled = with_labels(oob, cohort, "paper")
    return {
        "splitting": splitting,
        "node_size": tuning.best,
        "oob_error": float(tuning.table["oob_error"].min()),
        "oob_auc": {
            int(h): auc_known(part["label"], part["probability"]) for h, part in labelled.groupby("horizon_months")
        },
        "seconds": round(seconds, 1),
        "training_patients": len(train),
    }


def main() -> None:
    """Measure both rules and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--trees", type=int, default=345)
    parser.add_argument("--seed", type=int, default=20250101)
    args = parser.parse_args()
    results = [measure(args.run_dir, rule, args.trees, args.seed) for rule in ("exhaustive", "random")]
    record = {"machine": platform.processor() or platform.machine(), "run_dir": str(args.run_dir), "results": results}
    out = ROOT / "benchmarks" / "results" / "rsf_splitting.json"
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for r in results:
        print(r)


if __name__ == "__main__":
    main()
