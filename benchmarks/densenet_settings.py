"""What the CPU-size deep model costs in AUC: several input sizes, fields of view and epoch counts
trained on one run's cohort, each with its epoch chosen on a validation split (protocol rigorous).

    .venv/bin/python benchmarks/densenet_settings.py runs/default                 # every setting
    .venv/bin/python benchmarks/densenet_settings.py runs/default --settings fov80_e15

Needs a run whose notebook 01 has finished (the cohort and its images). Each setting trains
on 80 % of the training split, keeps the epoch with the best validation AUC and predicts the
test split once, so the settings are compared without looking at the test split; the table
reports validation AUC (what a user may choose a setting on) beside test AUC, wall time and
training samples/s. Results are appended to benchmarks/results/densenet_settings.json after
each setting, so an interrupted sweep keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import psutil
import torch

from helpers.data.outcomes import horizon_label_frame
from helpers.evaluation.binary import auc_known, with_labels
from helpers.models.deep.config import DeepConfig
from helpers.models.deep.protocol import fit_for_protocol
from helpers.models.deep.training import predict_densenet

ROOT = Path(__file__).resolve().parents[1]
CPU_NETWORK = DeepConfig(
    block_config=(2, 2, 2),
    growth_rate=8,
    init_features=16,
    roi_channels=(8, 16),
    batch_size=8,
    learning_rate=1e-3,
    device="cpu",
)  # params/default.yaml's network
SETTINGS: dict[str, DeepConfig] = {
    "fov120_e15": replace(CPU_NETWORK, input_size=32, field_of_view_mm=120.0, epochs=15),  # the default profile
    "fov80_e15": replace(CPU_NETWORK, input_size=32, field_of_view_mm=80.0, epochs=15),
    "fov80_e30": replace(CPU_NETWORK, input_size=32, field_of_view_mm=80.0, epochs=30),
    "size48_fov80_e15": replace(CPU_NETWORK, input_size=48, field_of_view_mm=80.0, epochs=15),
}


def evaluate_setting(
    cases: pd.DataFrame, cohort: pd.DataFrame, config: DeepConfig, label_policy: str, cache_dir: Path, seed: int
) -> dict:
    """Train one setting under the rigorous checkpoint rule; validation and test AUC per horizon, timings."""
    labels = horizon_label_frame(cases["time_months"], cases["event"], label_policy)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result, _ = fit_for_protocol(
            cases,
            labels,
            config,
            "rigorous",
            cache_dir=cache_dir,
            history_path=Path(scratch) / "history.csv",
            checkpoint_path=Path(scratch) / "densenet.pt",
            val_fraction=0.2,
            seed=seed,
        )
    test = cases[cases["split"] == "test"]
    labelled = with_labels(predict_densenet(result.model, test, config, cache_dir), cohort, label_policy)
    best = result.history.set_index("epoch").loc[next(iter(result.best_epochs.values()))]
    return {
        "input_size": config.input_size,
        "field_of_view_mm": config.field_of_view_mm,
        "epochs": config.epochs,
        "best_epoch": int(next(iter(result.best_epochs.values()))),
        "val_auc": {h: round(float(best[f"val_auc_{h}m"]), 4) for h in config.horizons},
        "test_auc": {
            int(h): round(auc_known(part["label"], part["probability"]), 4)
            for h, part in labelled.groupby("horizon_months")
        },
        "train_samples_per_s": round(result.samples_per_s, 2),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run whose notebook 01 has finished, e.g. runs/default")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--label-policy", default="known_status")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "densenet_settings.json")
    args = parser.parse_args()

    cohort = pd.read_parquet(args.run_dir / "cohort.parquet")
    cases = cohort.set_index("patient_id")
    report = json.loads(args.out.read_text()) if args.out.exists() else {"settings": {}}
    report["machine"] = {
        "cpus": psutil.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    report["cohort"] = {
        "run_dir": str(args.run_dir),
        "patients": len(cases),
        "train": int((cases["split"] == "train").sum()),
        "test": int((cases["split"] == "test").sum()),
    }
    for name in args.settings:
        print(f"[densenet_settings] {name} ...", flush=True)
        report["settings"][name] = evaluate_setting(
            cases, cohort, SETTINGS[name], args.label_policy, args.run_dir / "cache" / "densenet", args.seed
        )
        print(json.dumps({name: report["settings"][name]}), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
