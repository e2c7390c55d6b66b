"""Deep-model throughput: training and inference samples/s of the dual-input DenseNet at each profile's size.

    .venv/bin/python benchmarks/densenet.py                       # smoke, default, paper (paper time-boxed)
    .venv/bin/python benchmarks/densenet.py --profiles smoke default --seconds 20
    .venv/bin/python benchmarks/densenet.py --epochs-of runs/default --label after   # real epochs

Network mode times ``helpers.models.deep.training.train_step`` (forward + masked cross-entropy + backward +
Adam, mixed precision on CUDA) and eval-mode forward passes on batches of random tensors, so it measures
the network alone, without data loading; it needs only PyTorch, MONAI, pandas and psutil (so that it runs on
a GPU machine with PyTorch and MONAI's wheel carried along: ``benchmarks/gpu_check.sh``) and writes
benchmarks/results/densenet.json. Epoch mode
(``--epochs-of``) trains the default profile's network for ``--epochs`` real epochs on the training split
of a finished run's cohort at 32³ and 48³, through ``train_densenet`` as notebook 06 trains (eight training
patients stand in as the validation set, so that evaluation costs almost nothing), and
reports its end-to-end training samples/s (loading, augmentation and batching included; the one-off
preprocessing into the cache is not); it appends to benchmarks/results/densenet_epoch.json under
``--label``.
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

from helpers.models.deep.config import DeepConfig, deep_config, resolve_device
from helpers.models.deep.network import architecture_summary, build_model
from helpers.models.deep.step import MEMORY_FORMAT, train_step

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(block_config=(1, 1), growth_rate=4, init_features=8, roi_channels=(4, 8), hidden=16)
REDUCED = dict(block_config=(2, 2, 2), growth_rate=8, init_features=16, roi_channels=(8, 16), hidden=64)
PROFILES: dict[str, DeepConfig] = {
    "smoke": DeepConfig(input_size=24, batch_size=4, **TINY),
    "default_32": DeepConfig(input_size=32, batch_size=8, **REDUCED),
    "default_48": DeepConfig(input_size=48, batch_size=8, **REDUCED),
    "default_64": DeepConfig(input_size=64, batch_size=8, **REDUCED),
    # params/paper.yaml's network: 96³, DenseNet-121 blocks (6, 12, 24, 16), one network per horizon
    "paper": deep_config(yaml.safe_load((ROOT / "params" / "paper.yaml").read_text(encoding="utf-8"))),
}
GROUPS = {"default": ("default_32", "default_48", "default_64")}
TRAIN_PATIENTS, TEST_PATIENTS = 616, 264  # the paper's 7:3 split of 880
EPOCH_SIZES = (32, 48)  # notebook 06's default input size and the larger one issue 15 asks about


def _batch(config: DeepConfig, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Random (image, roi, labels) of one batch in the trainer's memory format; a quarter of the labels unknown."""
    shape = (config.batch_size, 1, *(config.input_size,) * 3)
    labels = torch.randint(0, 2, (config.batch_size, len(config.horizons))).float()
    labels[torch.rand(labels.shape) < 0.25] = float("nan")
    image, roi = (torch.rand(shape, device=device).contiguous(memory_format=MEMORY_FORMAT) for _ in range(2))
    return image, roi, labels.to(device)


def _timed(step, device: torch.device, iterations: int, seconds: float) -> tuple[int, float]:
    """Run ``step`` after one warm-up call until ``iterations`` or ``seconds`` (at least once); (count, seconds)."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while count < iterations and (count == 0 or time.perf_counter() - start < seconds):
        step()
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count, time.perf_counter() - start


def measure(config: DeepConfig, device: torch.device, iterations: int, seconds: float) -> dict:
    """Training and inference samples/s of one configuration, with its parameter counts."""
    torch.manual_seed(0)
    model = build_model(config).to(device, memory_format=MEMORY_FORMAT)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    image, roi, labels = _batch(config, device)
    if amp:
        torch.cuda.reset_peak_memory_stats()

    model.train()
    train_steps, train_seconds = _timed(
        lambda: train_step(model, image, roi, labels, optimizer, scaler, amp), device, iterations, seconds
    )

    def forward() -> None:
        with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            model(image, roi)

    model.eval()
    eval_steps, eval_seconds = _timed(forward, device, iterations, seconds)
    summary = architecture_summary(model).set_index("branch")["parameters"]
    return {
        "input_size": config.input_size,
        "batch_size": config.batch_size,
        "block_config": list(config.block_config),
        "growth_rate": config.growth_rate,
        "init_features": config.init_features,
        "roi_channels": list(config.roi_channels),
        "hidden": config.hidden,
        "parameters": int(summary["total"]),
        "trunk_parameters": int(summary.iloc[0]),
        "train_steps": train_steps,
        "train_samples_per_s": round(train_steps * config.batch_size / train_seconds, 3),
        "eval_steps": eval_steps,
        "eval_samples_per_s": round(eval_steps * config.batch_size / eval_seconds, 3),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if amp else None,
        # notebook 06's single network under the paper protocol: 100 epochs of the 616 training patients, each
        # epoch also scoring the 264 test patients (network time only: the trainer holds its inputs in memory);
        # the rigorous arm's cross-fitted fold networks come on top
        "minutes_for_100_epochs": round(
            100
            * (
                TRAIN_PATIENTS * train_seconds / (train_steps * config.batch_size)
                + TEST_PATIENTS * eval_seconds / (eval_steps * config.batch_size)
            )
            / 60,
            1,
        ),
    }


def measure_epochs(run_dir: Path, input_size: int, epochs: int, device: torch.device) -> dict:
    """End-to-end training samples/s of the default profile's network over ``epochs`` real epochs at
    ``input_size`` on the run's training split (a fresh preprocessing cache, filled before the timing)."""
    # Imported here: reading images needs SimpleITK and MONAI's transforms, which network mode (what a bare GPU
    # machine with PyTorch runs) does without.
    from helpers.data.outcomes import horizon_label_frame
    from helpers.models.deep.training import train_densenet

    cohort = pd.read_parquet(run_dir / "cohort.parquet").set_index("patient_id")
    train = cohort[cohort["split"] == "train"]
    labels = horizon_label_frame(train["time_months"], train["event"], "known_status")
    # default_32's network (the default profile's, with a 64-unit head) with the default profile's field of view
    # and learning rate: the network every measurement in densenet_epoch.json has used
    config = replace(
        PROFILES["default_32"],
        input_size=input_size,
        field_of_view_mm=80.0,
        learning_rate=1e-3,
        epochs=epochs,
        device=str(device),
    )
    with tempfile.TemporaryDirectory() as scratch:
        result = train_densenet(
            train,
            labels,
            config,
            cache_dir=Path(scratch),
            eval_sets={"val": train.head(8)},
            select_on="val",
            select_metric="auc",
            seed=0,
            progress=False,
        )
    return {
        "input_size": input_size,
        "epochs": epochs,
        "patients": len(train),
        "train_samples_per_s": round(result.samples_per_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["smoke", "default", "paper"],
        help=f"any of {sorted(PROFILES)} or {sorted(GROUPS)}",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--iterations", type=int, default=20, help="timed batches per measurement (at most)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time box per measurement")
    parser.add_argument(
        "--paper-seconds",
        type=float,
        default=None,
        help="time box for the paper profile (default: --seconds on CUDA, 1 batch on CPU)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "densenet.json")
    parser.add_argument("--epochs-of", type=Path, default=None, help="a finished run's folder: time real epochs")
    parser.add_argument("--epochs", type=int, default=2, help="real epochs per size (epoch mode)")
    parser.add_argument("--label", default="current", help="name of this measurement (epoch mode)")
    parser.add_argument("--note", default="", help="what the measured code does (epoch mode)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    if args.epochs_of is not None:
        epoch_results(args, device)
        return
    names = [name for requested in args.profiles for name in GROUPS.get(requested, (requested,))]
    results = {}
    for name in names:
        config = replace(PROFILES[name], device=str(device))
        seconds = args.seconds
        if name == "paper":
            seconds = (
                args.paper_seconds
                if args.paper_seconds is not None
                else (args.seconds if device.type == "cuda" else 0.0)
            )
        results[name] = measure(config, device, args.iterations, seconds)
        print(
            f"{name}: {results[name]['train_samples_per_s']} train samples/s, "
            f"{results[name]['eval_samples_per_s']} eval samples/s",
            flush=True,
        )
    report = {
        "device": str(device),
        "mixed_precision": device.type == "cuda",
        "machine": _machine(device),
        "profiles": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _machine(device: torch.device) -> dict:
    """What the numbers were measured on."""
    return {
        "cpus": psutil.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def epoch_results(args: argparse.Namespace, device: torch.device) -> None:
    """Epoch mode: measure every EPOCH_SIZES size and append the measurement to densenet_epoch.json."""
    sizes = [measure_epochs(args.epochs_of, size, args.epochs, device) for size in EPOCH_SIZES]
    for row in sizes:
        print(f"{args.label}: {row['input_size']}³: {row['train_samples_per_s']} training samples/s", flush=True)
    out = ROOT / "benchmarks" / "results" / "densenet_epoch.json"
    report = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    report[args.label] = {"device": str(device), "machine": _machine(device), "note": args.note, "sizes": sizes}
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
