"""Which CPU-size deep-model setting to use, chosen on the training split alone: input size, field of view,
anti-aliasing, the ROI branch's margin and the heads, one at a time from the default profile's setting.

    .venv/bin/python benchmarks/densenet_settings.py runs/default                 # every setting
    .venv/bin/python benchmarks/densenet_settings.py runs/default --settings base aa_on
    .venv/bin/python benchmarks/densenet_settings.py runs/default --curve        # AUC against minutes

Needs a run whose notebook 01 has finished (the cohort and its images). Each setting is cross-fitted over the
run's training split exactly as notebook 06 cross-fits the rigorous arm's DenseNet (3 fold networks, each
choosing its epoch on a validation split of its own folds, IPCW labels), and scored by the IPCW AUC of its
out-of-fold predictions of all training patients. **The test split is never read**: the script drops it before
anything is fitted, so that the default can be chosen on this table without the test split in view. Results
(out-of-fold AUC per horizon, the kept epochs, minutes) are appended to
benchmarks/results/densenet_settings.json after each setting, so an interrupted sweep keeps what it finished.

``--curve`` measures the trade-off instead: the default profile's network given more epochs, a larger input and a
wider trunk, each set against the training split's image ceiling (the run's ceilings.parquet, rigorous arm), in
benchmarks/results/densenet_tradeoff.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import psutil
import torch
import yaml
from sksurv.util import Surv

from helpers.evaluation.binary import horizon_metrics
from helpers.models.crossfit import out_of_fold_predictions
from helpers.models.deep.config import DeepConfig, deep_config
from helpers.models.deep.protocol import densenet_chain
from helpers.vocabulary import RIGOROUS_LABEL_POLICY

ROOT = Path(__file__).resolve().parents[1]
# params/default.yaml's network, with every swept choice pinned at the value it had when the sweep was first run
BASE = replace(
    deep_config(yaml.safe_load((ROOT / "params" / "default.yaml").read_text(encoding="utf-8"))),
    input_size=32,
    field_of_view_mm=80.0,
    anti_aliasing=False,
    roi_margin_mm=10.0,
    heads="multitask",
    epochs=15,
    device="cpu",
)
SETTINGS: dict[str, DeepConfig] = {
    "base": BASE,
    "aa_on": replace(BASE, anti_aliasing=True),
    "roi_margin_3mm": replace(BASE, roi_margin_mm=3.0),
    "fov120": replace(BASE, field_of_view_mm=120.0),
    "size48": replace(BASE, input_size=48),
    "size48_aa_on": replace(BASE, input_size=48, anti_aliasing=True),
    "separate_heads": replace(BASE, heads="separate"),
    "aa_on_roi_margin_3mm": replace(BASE, anti_aliasing=True, roi_margin_mm=3.0),
    "epochs30": replace(BASE, epochs=30),
}
DEFAULT = replace(
    deep_config(yaml.safe_load((ROOT / "params" / "default.yaml").read_text(encoding="utf-8"))), device="cpu"
)
# The trade-off curve: what more CPU buys the default network, along the three axes that cost it.
CURVE: dict[str, DeepConfig] = {
    "default": DEFAULT,
    "epochs30": replace(DEFAULT, epochs=30),
    "epochs60": replace(DEFAULT, epochs=60),
    "size48": replace(DEFAULT, input_size=48),
    "size48_epochs30": replace(DEFAULT, input_size=48, epochs=30),
    "wide": replace(DEFAULT, block_config=(4, 4, 4), growth_rate=16, init_features=32),
}
FOLDS = 3  # notebook 06's oof_folds
VAL_FRACTION = 0.2  # notebook 06's dl_val_fraction


def evaluate_setting(train: pd.DataFrame, config: DeepConfig, cache_dir: Path, seed: int) -> dict:
    """Cross-fit one setting over ``train`` (index patient_id; the training split only): out-of-fold IPCW AUC per
    horizon, the kept epochs, the throughput and the wall time."""
    started = time.perf_counter()
    chain = densenet_chain(config, RIGOROUS_LABEL_POLICY, cache_dir, val_fraction=VAL_FRACTION, seed=seed)
    y = Surv.from_arrays(train["event"].astype(bool), train["time_months"])
    oof = out_of_fold_predictions(train, y, chain, n_folds=FOLDS, random_state=seed)
    scored = horizon_metrics(oof, train.reset_index(), RIGOROUS_LABEL_POLICY, dict.fromkeys(config.horizons, 0.5))
    return {
        "input_size": config.input_size,
        "field_of_view_mm": config.field_of_view_mm,
        "anti_aliasing": config.anti_aliasing,
        "roi_margin_mm": config.roi_margin_mm,
        "heads": config.heads,
        "blocks": list(config.block_config),
        "growth_rate": config.growth_rate,
        "epochs": config.epochs,
        "kept_epochs": [fit["best_epochs"] for fit in chain.trained],
        "oof_auc": {int(r.horizon_months): round(float(r.auc), 4) for r in scored.itertuples()},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def training_image_ceiling(run_dir: Path) -> dict[int, float]:
    """The rigorous arm's image ceiling on the training split per horizon (notebook 01's ceilings.parquet), the
    reference the out-of-fold AUCs are set against (the same patients and IPCW labels)."""
    ceilings = pd.read_parquet(run_dir / "ceilings.parquet")
    rows = ceilings[(ceilings["arm"] == "rigorous") & (ceilings["split"] == "train")]
    rows = rows[rows["information_set"] == "image"]
    return {int(r.horizon_months): round(float(r.auc), 4) for r in rows.itertuples()}


def notebook_06_factor(n_train: int) -> float:
    """Notebook 06's training samples per epoch over the cross-fit's: the final network learns from
    (1 - VAL_FRACTION) of the training split, each of the FOLDS fold networks from (1 - VAL_FRACTION) of its folds,
    so the notebook's training time is about this factor times the cross-fit's."""
    fold = (1 - VAL_FRACTION) * n_train * (FOLDS - 1) / FOLDS
    return (FOLDS * fold + (1 - VAL_FRACTION) * n_train) / (FOLDS * fold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run whose notebook 01 has finished, e.g. runs/default")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--curve", action="store_true", help="measure the AUC-against-minutes curve instead")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/densenet_<kind>.json")
    args = parser.parse_args()
    settings = CURVE if args.curve else {name: SETTINGS[name] for name in args.settings}
    out = args.out or ROOT / "benchmarks" / "results" / f"densenet_{'tradeoff' if args.curve else 'settings'}.json"

    cohort = pd.read_parquet(args.run_dir / "cohort.parquet")
    train = cohort[cohort["split"] == "train"].set_index("patient_id")  # the test split goes no further
    report = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {"settings": {}}
    report["machine"] = {
        "cpus": psutil.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    report["cohort"] = {"run_dir": str(args.run_dir), "train": len(train), "folds": FOLDS}
    if args.curve:
        report["ceiling"] = training_image_ceiling(args.run_dir)
        report["notebook_06_factor"] = round(notebook_06_factor(len(train)), 3)
    for name, config in settings.items():
        print(f"[densenet_settings] {name} ...", flush=True)
        report["settings"][name] = evaluate_setting(train, config, args.run_dir / "cache" / "densenet", args.seed)
        print(json.dumps({name: report["settings"][name]}), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
