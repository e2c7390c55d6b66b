"""The deep model's two objectives on the same budget: the paper's per-horizon cross-entropy against one Cox risk
score (``dl_loss: cox``), both trained as the rigorous arm trains its networks, scored on the external cohort.

    .venv/bin/python benchmarks/densenet_objectives.py runs/default

Needs a default run whose notebook 10 has drawn the external in-silico cohort (runs/default/external). Each
objective trains the default profile's network for the same epochs on 80 % of the training split, keeps the
epoch with the best validation AUC on the other 20 % (IPCW labels; the cross-entropy fit IPCW-weighted, the Cox
fit on the censored times themselves) and predicts the external patients once; the table gives the validation
AUC of the kept epoch, the external IPCW AUC per horizon, the external Harrell C of the 3-year risk, and the
minutes. The run's test split is not read. Writes benchmarks/results/densenet_objectives.json.
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
import yaml
from sksurv.metrics import concordance_index_censored

from helpers.data.manifest import read_manifest
from helpers.data.outcomes import fitting_weights, horizon_label_frame
from helpers.evaluation.binary import horizon_metrics
from helpers.models.deep.config import deep_config
from helpers.models.deep.protocol import fit_for_protocol
from helpers.models.deep.training import predict_densenet
from helpers.vocabulary import RIGOROUS_LABEL_POLICY

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = replace(
    deep_config(yaml.safe_load((ROOT / "params" / "default.yaml").read_text(encoding="utf-8"))), device="cpu"
)


def evaluate_objective(
    train: pd.DataFrame, external: pd.DataFrame, loss: str, cache_dir: Path, seed: int
) -> dict[str, object]:
    """Train one objective on ``train`` (index patient_id, split "train") and score it on ``external``."""
    config = replace(DEFAULT, loss=loss)
    labels = horizon_label_frame(train["time_months"], train["event"], RIGOROUS_LABEL_POLICY)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result, _ = fit_for_protocol(
            train,
            labels,
            config,
            "rigorous",
            cache_dir=cache_dir,
            history_path=Path(scratch) / "history.csv",
            checkpoint_path=Path(scratch) / "densenet.pt",
            val_fraction=0.2,
            seed=seed,
            weights=fitting_weights(train, RIGOROUS_LABEL_POLICY),
        )
    predictions = predict_densenet(result.model, external, config, cache_dir)
    scored = horizon_metrics(
        predictions,
        external.reset_index().assign(split="test"),
        RIGOROUS_LABEL_POLICY,
        dict.fromkeys(config.horizons, 0.5),
    )
    risk = predictions[predictions["horizon_months"] == max(config.horizons)].set_index("patient_id")["probability"]
    harrell = concordance_index_censored(
        external["event"].astype(bool).to_numpy(),
        external["time_months"].to_numpy(),
        risk.loc[external.index].to_numpy(),
    )[0]
    kept = next(iter(result.best_epochs.values()))
    best = result.history.set_index("epoch").loc[kept]
    return {
        "loss": loss,
        "epochs": config.epochs,
        "kept_epoch": int(kept),
        "val_auc": {h: round(float(best[f"val_auc_{h}m"]), 4) for h in config.horizons},
        "external_auc": {int(r.horizon_months): round(float(r.auc), 4) for r in scored.itertuples()},
        "external_harrell_c": round(float(harrell), 4),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a default run whose notebook 10 has finished")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "densenet_objectives.json")
    args = parser.parse_args()
    cohort = pd.read_parquet(args.run_dir / "cohort.parquet")
    train = cohort[cohort["split"] == "train"].set_index("patient_id")  # the test split goes no further
    external = read_manifest(args.run_dir / "external" / "manifest.csv", check_images=False).set_index("patient_id")
    report = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
        "cohort": {"run_dir": str(args.run_dir), "train": len(train), "external": len(external)},
        "objectives": {},
    }
    for loss in ("cross_entropy", "cox"):
        print(f"[densenet_objectives] {loss} ...", flush=True)
        report["objectives"][loss] = evaluate_objective(
            train, external, loss, args.run_dir / "cache" / "densenet", args.seed
        )
        print(json.dumps(report["objectives"][loss]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
