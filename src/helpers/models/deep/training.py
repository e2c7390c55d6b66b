"""Training the dual-input DenseNet and predicting with it, per protocol, with cross-fitting."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from monai.utils import set_determinism
from torch import nn
from tqdm import tqdm

from helpers.evaluation.binary import binary_metrics
from helpers.models.deep.checkpoint import (
    atomic_csv,
    atomic_save,
    load_resume_state,
    restore_rng,
    resume_path,
    rng_state,
)
from helpers.models.deep.config import DeepConfig, Observer, resolve_device
from helpers.models.deep.cox import BreslowBaseline
from helpers.models.deep.network import CoxNetwork, SeparateHorizonNets, build_model
from helpers.models.deep.pretrained import load_pretrained
from helpers.models.deep.step import MEMORY_FORMAT, train_step
from helpers.models.deep.transforms import CaseTensors, augment_batch, cache_cases, load_case_tensors
from helpers.pipeline.files import file_sha256, json_digest, resolve_path
from helpers.vocabulary import PREDICTION_COLUMNS, Metric

# ----------------------------------------------------------------------------- device and determinism


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch, numpy and random (MONAI's set_determinism); deterministic kernels on CPU, cuDNN's autotuner on
    CUDA; the previous settings restored after."""
    previous = torch.are_deterministic_algorithms_enabled()
    cudnn = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    set_determinism(seed=seed)
    # CUDA has no deterministic kernel for some 3D backward passes: GPU runs are seeded, not bit-exact, so they
    # may as well let cuDNN pick its fastest convolution for the fixed input size.
    torch.use_deterministic_algorithms(device.type == "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn


# ----------------------------------------------------------------------------- evaluation


def _on_device(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` moved to ``device`` in the memory format the network runs in."""
    return model.to(device, memory_format=MEMORY_FORMAT)  # type: ignore[call-overload]  # stubs omit memory_format


def _network_input(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch moved to ``device`` in the memory format the network runs in."""
    return tensor.to(device, non_blocking=True).contiguous(memory_format=MEMORY_FORMAT)


def _index_batches(n: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Row indices of consecutive batches over ``n`` cases, in ``order`` (default: as stored); the last may be short."""
    rows = torch.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield rows[start : start + batch_size]


def _probabilities(model: nn.Module, inputs: CaseTensors, batch_size: int, device: torch.device) -> np.ndarray:
    """(n cases, n heads) softmax probability of class 1 (death by the horizon), in the order of ``inputs``."""
    model.eval()
    parts = []
    with (
        torch.inference_mode(),
        torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"),
    ):
        for rows in _index_batches(len(inputs), batch_size):
            image, roi = _network_input(inputs.image[rows], device), _network_input(inputs.roi[rows], device)
            parts.append(torch.softmax(model(image, roi).float(), dim=-1)[..., 1].cpu().numpy())
    return np.concatenate(parts).astype(float)


def _metrics_row(
    name: str, probability: np.ndarray, labels: np.ndarray, horizons: tuple[int, ...], weights: np.ndarray | None
) -> dict[str, float]:
    """Accuracy at 0.5 and AUC per horizon over the known labels (weighted if ``weights``), as history columns."""
    row = {}
    for column, horizon in enumerate(horizons):
        weight = None if weights is None else weights[:, column]
        values = binary_metrics(probability[:, column], labels[:, column], 0.5, weight)
        row[f"{name}_accuracy_{horizon}m"] = values["accuracy"]
        row[f"{name}_auc_{horizon}m"] = values["auc"]
    return row


def predict_densenet(
    model: nn.Module, cases: pd.DataFrame, config: DeepConfig, cache_dir: Path, *, observer: Observer | None = None
) -> pd.DataFrame:
    """Long table patient_id, horizon_months, probability (softmax P(death by horizon)) for every case."""
    device = next(model.parameters()).device
    model = _on_device(model, device)
    if observer is not None:
        observer("predict", list(map(str, cases.index)))
    inputs = load_case_tensors(cases, config, cache_dir)
    probability = _probabilities(model, inputs, config.batch_size, device)
    wide = pd.DataFrame(
        probability,
        index=pd.Index(cases.index, name="patient_id"),
        columns=pd.Index(config.horizons, name="horizon_months"),
    )
    return wide.stack().rename("probability").reset_index()[PREDICTION_COLUMNS]


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainResult:
    """The model at its selected epoch(s), the per-epoch history and how fast it trained."""

    model: nn.Module
    history: pd.DataFrame
    best_epochs: dict[int, int]  # horizon -> 1-based epoch whose weights the model holds
    device: str
    samples_per_s: float  # training samples/s (loading and augmentation included) over this call's epochs
    resumed_from: int  # epochs already done by an earlier, interrupted call (0 = fresh start)
    training_seconds: float  # wall time of this call's epochs, evaluation included
    peak_gpu_memory_gb: float | None  # the most GPU memory PyTorch held during the call (None on CPU)

    def describe(self, selected_on: str) -> str:
        """One line for the notebook: device, speed, a resumption, and the epoch kept per horizon."""
        resumed = f" (resumed after epoch {self.resumed_from} of an interrupted run)" if self.resumed_from else ""
        memory = "" if self.peak_gpu_memory_gb is None else f", peak GPU memory {self.peak_gpu_memory_gb:.1f} GB"
        return (
            f"trained on {self.device} at {self.samples_per_s:.1f} samples/s in {self.training_seconds / 60:.1f} "
            f"min{memory}{resumed}; epoch kept per horizon: {self.best_epochs} ({selected_on})"
        )

    def run_notes(self) -> dict[str, float | str | None]:
        """What the run manifest records of the training: device, samples/s, minutes and peak GPU memory."""
        return {
            "device": self.device,
            "samples_per_s": self.samples_per_s,
            "training_minutes": self.training_seconds / 60,
            "peak_gpu_memory_gb": self.peak_gpu_memory_gb,
        }


@dataclass
class _Selection:
    """The best state so far of one selectable unit (the multitask net, or one per-horizon net)."""

    module: nn.Module
    columns: list[int]
    score: float = float("-inf")
    epoch: int = 0
    state: dict[str, torch.Tensor] | None = None

    def offer(self, row: dict[str, float], prefix: str, horizons: tuple[int, ...], epoch: int) -> None:
        """Keep the module's weights when its mean metric beats the best so far (ties keep the earlier epoch)."""
        score = _mean_metric(row, prefix, [horizons[c] for c in self.columns])
        if self.state is None or score > self.score:
            self.score, self.epoch = score, epoch
            self.state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}


def _mean_metric(row: dict[str, float], prefix: str, horizons: Sequence[int]) -> float:
    """Mean of a history row's ``prefix`` metric over horizons, ignoring NaN; -inf when all are NaN."""
    values = np.array([row[f"{prefix}_{h}m"] for h in horizons], dtype=float)
    return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float("-inf")


def _selections(model: nn.Module, n_horizons: int) -> list[_Selection]:
    """One selection unit per network: all horizons of a multitask or Cox net, or net h for horizon h."""
    if isinstance(model, SeparateHorizonNets):
        return [_Selection(net, [h]) for h, net in enumerate(model.nets)]
    return [_Selection(model, list(range(n_horizons)))]


def _survival(cases: pd.DataFrame, config: DeepConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """(follow-up months, event) of the training cases under the Cox loss; None under cross-entropy."""
    if config.loss != "cox":
        return None
    missing = {"time_months", "event"} - set(cases.columns)
    if missing:
        raise ValueError(f"dl_loss 'cox' needs the training cases' follow-up: columns {sorted(missing)} are missing")
    return cases["time_months"].to_numpy(dtype=float), cases["event"].to_numpy(dtype=float)


def _refit_baseline(training: _Training, config: DeepConfig, device: torch.device) -> None:
    """Breslow's baseline of the Cox network on its training cases (eval mode, no augmentation), stored in it."""
    model = cast(CoxNetwork, training.model)
    if training.survival is None:
        raise RuntimeError("a Cox network's training carries the follow-up of its cases (``_survival``)")
    model.eval()
    risks = []
    with torch.inference_mode():
        for rows in _index_batches(len(training.inputs), config.batch_size):
            image, roi = (_network_input(t[rows], device) for t in (training.inputs.image, training.inputs.roi))
            risks.append(model.risk(image, roi).float().cpu().numpy())
    time_months, event = (part.numpy() for part in training.survival)
    baseline = BreslowBaseline.fit(np.concatenate(risks), time_months, event)
    model.set_baseline(torch.tensor([baseline.at(h) for h in config.horizons], device=device))


def _label_array(labels: pd.DataFrame, ids: pd.Index, horizons: tuple[int, ...], what: str) -> np.ndarray:
    """(n, n_horizons) float labels (or weights) of ``ids``; raises naming patients without a row."""
    missing = ids.difference(labels.index)
    if len(missing):
        raise ValueError(f"labels lack {what} patient(s) {missing.tolist()[:20]}")
    absent = [h for h in horizons if h not in labels.columns]
    if absent:
        raise ValueError(f"labels lack the horizon column(s) {absent}")
    return labels.loc[ids, list(horizons)].to_numpy(dtype=float)


def _check_arguments(
    config: DeepConfig, eval_sets: dict[str, pd.DataFrame], select_on: str, select_metric: str
) -> None:
    """Refuse settings that cannot train or cannot select a checkpoint."""
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1; got {config.epochs}")
    if select_on not in eval_sets:
        raise ValueError(f"select_on {select_on!r} is not one of the eval sets {sorted(eval_sets)}")
    if select_metric not in ("accuracy", "auc"):
        raise ValueError(f"select_metric must be 'accuracy' or 'auc', not {select_metric!r}")


def _training_fingerprint(
    config: DeepConfig,
    seed: int,
    cases: pd.DataFrame,
    train_labels: np.ndarray,
    eval_sets: dict[str, pd.DataFrame],
    select: list[str],
    train_weights: np.ndarray | None,
) -> str:
    """What a resume checkpoint must match: data, labels (and weights; the follow-up under the Cox loss),
    settings except the epoch count, the pretrained file's content, seed, selection rule."""
    content: dict[str, object] = {
        "config": {**config.to_dict(), "epochs": None},
        "seed": seed,
        "train": [list(map(str, cases.index)), np.where(np.isnan(train_labels), -1, train_labels).tolist()],
        "eval": {k: list(map(str, v.index)) for k, v in eval_sets.items()},
        "select": select,
    }
    if train_weights is not None:
        content["weights"] = np.round(train_weights, 12).tolist()
    survival = _survival(cases, config)
    if survival is not None:
        content["survival"] = [np.round(part, 9).tolist() for part in survival]
    if config.pretrained:
        content["pretrained_sha256"] = file_sha256(resolve_path(config.pretrained))
    return json_digest(content)


@dataclass
class _Training:
    """Everything one training run updates epoch by epoch, and what a resume checkpoint restores."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    generator: torch.Generator  # shuffling and augmentation
    noise_generator: torch.Generator | None  # the augmentation noise's on a GPU; None on the CPU (``generator``)
    inputs: CaseTensors
    labels: torch.Tensor  # (n, n_horizons), NaN = unknown
    weights: torch.Tensor | None  # (n, n_horizons) loss weights, or None (unweighted)
    survival: tuple[torch.Tensor, torch.Tensor] | None  # (time, event) of each case under the Cox loss, else None
    selections: list[_Selection]
    history: list[dict[str, float]] = field(default_factory=list)
    start: int = 0

    def resume(self, last: dict[str, Any]) -> None:
        """Continue an interrupted run from its last finished epoch (weights, optimiser, selections, RNG)."""
        self.model.load_state_dict(last["model"])
        self.optimizer.load_state_dict(last["optimizer"])
        self.scaler.load_state_dict(last["scaler"])
        for selection, saved in zip(self.selections, last["best"], strict=True):
            selection.score, selection.epoch, selection.state = saved["score"], saved["epoch"], saved["state"]
        self.history, self.start = list(last["history"]), int(last["epoch"])
        restore_rng(last["rng"], self.generator, self.noise_generator)

    def resume_state(self, fingerprint: str, epoch: int) -> dict[str, Any]:
        """The per-epoch resume checkpoint's content."""
        return {
            "fingerprint": fingerprint,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best": [{"score": s.score, "epoch": s.epoch, "state": s.state} for s in self.selections],
            "history": self.history,
            "rng": rng_state(self.generator, self.noise_generator),
        }


def _new_training(
    inputs: CaseTensors,
    train_labels: np.ndarray,
    train_weights: np.ndarray | None,
    survival: tuple[np.ndarray, np.ndarray] | None,
    config: DeepConfig,
    device: torch.device,
    amp: bool,
    seed: int,
) -> _Training:
    """A fresh model (its whole-image trunk read from ``config.pretrained`` when set), optimiser and shuffling
    generator (call inside ``_seeded``: the initial weights draw from it)."""
    built = build_model(config)
    if config.pretrained:
        load_pretrained(built, resolve_path(config.pretrained))
    model = _on_device(built, device)
    return _Training(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=config.learning_rate),
        scaler=torch.amp.GradScaler(device.type, enabled=amp),
        generator=torch.Generator().manual_seed(seed),
        noise_generator=torch.Generator(device).manual_seed(seed) if device.type == "cuda" else None,
        inputs=inputs.to(device),
        labels=torch.as_tensor(train_labels, dtype=torch.float32),
        weights=None if train_weights is None else torch.as_tensor(train_weights, dtype=torch.float32),
        survival=None
        if survival is None
        else (torch.as_tensor(survival[0], dtype=torch.float32), torch.as_tensor(survival[1], dtype=torch.float32)),
        selections=_selections(model, len(config.horizons)),
    )


def _train_epoch(training: _Training, config: DeepConfig, device: torch.device, amp: bool) -> tuple[float, int, float]:
    """One pass over the training set in a shuffled order, each batch augmented as a whole: mean loss, samples
    and seconds (batching and augmentation included)."""
    training.model.train()
    began, losses, sizes = time.perf_counter(), [], []
    order = torch.randperm(len(training.inputs), generator=training.generator)
    for rows in _index_batches(len(training.inputs), config.batch_size, order):
        on_device = rows.to(training.inputs.image.device)
        image, roi = augment_batch(
            training.inputs.image[on_device],
            training.inputs.roi[on_device],
            training.generator,
            config.noise_std,
            training.noise_generator,
        )
        weights = None if training.weights is None else training.weights[rows].to(device)
        survival = None
        if training.survival is not None:
            survival = (training.survival[0][rows].to(device), training.survival[1][rows].to(device))
        losses.append(
            train_step(
                training.model,
                _network_input(image, device),
                _network_input(roi, device),
                training.labels[rows].to(device),
                training.optimizer,
                training.scaler,
                amp,
                weights,
                survival,
            )
        )
        sizes.append(len(rows))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return float(np.average(losses, weights=sizes)), sum(sizes), time.perf_counter() - began


def train_densenet(
    cases: pd.DataFrame,
    labels: pd.DataFrame,
    config: DeepConfig,
    *,
    cache_dir: Path,
    eval_sets: dict[str, pd.DataFrame],
    select_on: str,
    select_metric: Metric = "accuracy",
    history_path: Path | None = None,
    checkpoint_path: Path | None = None,
    seed: int = 0,
    progress: bool = True,
    observer: Observer | None = None,
    weights: pd.DataFrame | None = None,
) -> TrainResult:
    """Train on ``cases`` (index = patient_id), evaluate ``eval_sets`` each epoch, keep the best ``select_on`` epoch.

    ``labels``: patients x horizons (0/1/NaN; see ``horizon_label_frame``) covering the
    training and eval patients; ``weights``, the same shape (``horizon_weight_frame``), weighs the loss
    and the evaluation metrics (None: unweighted). Under ``config.loss == "cox"`` the loss is the Cox partial
    likelihood of the cases' follow-up (``cases`` then needs time_months and event; ``weights`` only weigh the
    metrics) and the Breslow baseline is refitted on the training cases after every epoch. Under protocol "paper" pass eval_sets={"test": ...} and
    select on its accuracy; under "rigorous" pass only {"val": ...}, select on its AUC and
    predict the test split once afterwards. ``observer`` sees every evaluation
    ("evaluate:<set>", ids) and the end of training ("train_end", []). With
    ``checkpoint_path``, each epoch also writes "<stem>.last.pt"; a call that finds one
    of the same training (same data, settings except ``epochs``, seed) resumes from it.
    """
    _check_arguments(config, eval_sets, select_on, select_metric)
    device = resolve_device(config.device)
    amp = device.type == "cuda"
    horizons, selected_by = config.horizons, f"{select_on}_{select_metric}"
    train_labels = _label_array(labels, cases.index, horizons, "training")
    eval_labels = {name: _label_array(labels, frame.index, horizons, name) for name, frame in eval_sets.items()}
    train_weights = None if weights is None else _label_array(weights, cases.index, horizons, "training")
    eval_weights = {
        name: None if weights is None else _label_array(weights, frame.index, horizons, name)
        for name, frame in eval_sets.items()
    }
    select = [select_on, select_metric]
    fingerprint = _training_fingerprint(config, seed, cases, train_labels, eval_sets, select, train_weights)
    last_path = None if checkpoint_path is None else resume_path(Path(checkpoint_path))

    cache_cases(pd.concat([cases, *eval_sets.values()]), config, cache_dir, progress)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    inputs = load_case_tensors(cases, config, cache_dir)
    eval_inputs = {name: load_case_tensors(frame, config, cache_dir) for name, frame in eval_sets.items()}
    with _seeded(seed, device):
        training = _new_training(
            inputs, train_labels, train_weights, _survival(cases, config), config, device, amp, seed
        )
        last = load_resume_state(last_path, fingerprint, config.epochs)
        if last is not None:
            training.resume(last)

        trained_samples, trained_seconds = 0, 0.0
        epochs = tqdm(
            range(training.start + 1, config.epochs + 1),
            desc="densenet",
            unit="epoch",
            disable=not progress,
            initial=training.start,
            total=config.epochs,
        )
        for epoch in epochs:
            loss, samples, seconds = _train_epoch(training, config, device, amp)
            if isinstance(training.model, CoxNetwork):
                _refit_baseline(training, config, device)
            trained_samples, trained_seconds = trained_samples + samples, trained_seconds + seconds
            # No timings in the history: it is a recorded artifact, and wall-clock columns would make
            # every re-run of training look like a changed input to the notebooks that read it.
            row = {"epoch": epoch, "train_loss": loss}
            for name, evaluated in eval_inputs.items():
                if observer is not None:
                    observer(f"evaluate:{name}", list(map(str, eval_sets[name].index)))
                probability = _probabilities(training.model, evaluated, config.batch_size, device)
                row |= _metrics_row(name, probability, eval_labels[name], horizons, eval_weights[name])
            training.history.append(row)
            for selection in training.selections:
                selection.offer(row, selected_by, horizons, epoch)
            epochs.set_postfix({"loss": f"{loss:.3f}", selected_by: f"{_mean_metric(row, selected_by, horizons):.3f}"})
            if history_path is not None:
                atomic_csv(pd.DataFrame(training.history), Path(history_path))
            if last_path is not None:
                atomic_save(training.resume_state(fingerprint, epoch), last_path)
        epochs.close()
        if observer is not None:
            observer("train_end", [])
    return _finish(
        training,
        config,
        device,
        checkpoint_path,
        history_path,
        [select_on, select_metric],
        seed,
        trained_samples / trained_seconds if trained_seconds else float("nan"),
        time.perf_counter() - began,
    )


def _finish(
    training: _Training,
    config: DeepConfig,
    device: torch.device,
    checkpoint_path: Path | None,
    history_path: Path | None,
    select: list[str],
    seed: int,
    samples_per_s: float,
    seconds: float,
) -> TrainResult:
    """Load each unit's selected weights, write the best checkpoint and the history, and report."""
    for selection in training.selections:
        if selection.state is None:  # train_densenet evaluates at least one epoch
            raise RuntimeError("no epoch was evaluated, so there is no checkpoint to keep")
        selection.module.load_state_dict(selection.state)
    training.model.eval()
    best_epochs = {config.horizons[c]: s.epoch for s in training.selections for c in s.columns}
    if checkpoint_path is not None:
        atomic_save(
            {
                "config": config.to_dict(),
                "state_dict": training.model.state_dict(),
                "best_epochs": best_epochs,
                "select": select,
                "seed": seed,
            },
            Path(checkpoint_path),
        )
    if history_path is not None:
        atomic_csv(pd.DataFrame(training.history), Path(history_path))
    return TrainResult(
        model=training.model,
        history=pd.DataFrame(training.history),
        best_epochs=best_epochs,
        device=str(device),
        samples_per_s=samples_per_s,
        resumed_from=training.start,
        training_seconds=seconds,
        peak_gpu_memory_gb=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    )
