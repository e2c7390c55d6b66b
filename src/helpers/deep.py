"""Dual-input 3D DenseNet of the paper's step 06: preprocessing, training, prediction, cross-fitting.

The paper feeds MONAI's 3D DenseNet-121 the whole CT and a small CNN the tumour region,
concatenates both embeddings into a fully connected head with a two-class output, resizes
both inputs to 96^3 by linear interpolation, augments with random 90-degree rotations, axis
flips and Gaussian noise, and trains with Adam (lr 1e-4, 100 epochs, cross-entropy). It
keeps the epoch with the best *test* accuracy: ``train_densenet`` reproduces that when told
to select on an eval set named "test" (protocol ``paper``) and selects on an inner
validation split under protocol ``rigorous`` (see ``SELECTION`` and ``densenet_chain``).

Choices the paper does not state, made explicit here:

* intensity: an abdominal window of [-160, 240] HU clipped and scaled to [0, 1];
* images are read with ``helpers.io`` (so manifests, DICOM and Slicer segmentations work
  as everywhere else) and reoriented to LPS, inside a custom MONAI ``MapTransform``;
* whole-image input: the full scan resized to ``input_size``^3 by trilinear interpolation, as
  the paper (``anti_aliasing=True`` smooths before shrinking: less aliased noise, ~0.13 s a case),
  or, with ``field_of_view_mm``, a fixed cube of that side centred on the tumour: at small input
  sizes the full scan leaves voxels too coarse to show vessel contact or fat stranding;
* ROI input: a cube in mm centred on the reader-1 tumour bounding box, of side = the box's
  longest extent + 2 x ``roi_margin_mm`` (a cube so that resizing keeps the tumour's shape),
  zero-padded (= below the window) where it leaves the scan, resized to ``input_size``^3;
* augmentation (training only, each p = 0.5): a 90-degree rotation in the axial plane and a
  flip per axis, applied identically to both inputs; Gaussian noise drawn for each input;
* the preprocessed tensors are cached on disk (``monai.data.PersistentDataset``) under a key
  of the preprocessing settings and each file's size and modification time;
* ``heads="multitask"``: one network, one two-logit head per horizon, one checkpoint epoch;
  ``heads="separate"``: one network per horizon, each with its own checkpoint epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from monai.data import DataLoader, PersistentDataset
from monai.networks.nets import DenseNet
from monai.transforms import (Compose, EnsureTyped, MapTransform, RandFlipd, RandGaussianNoised, Randomizable,
                              RandRotate90d, Resized, ScaleIntensityRanged, SelectItemsd)
from monai.utils import set_determinism
from sklearn.model_selection import train_test_split
from sksurv.util import check_array_survival
from torch import nn
from tqdm import tqdm

from helpers.io import read_image, read_mask
from helpers.metrics import binary_metrics
from helpers.outcomes import HORIZONS_MONTHS, LabelPolicy, horizon_labels
from helpers.stage import atomic_path
from helpers.survival import PREDICTION_COLUMNS

PREPROCESSING_VERSION = "1"
INPUT_KEYS = ("image", "roi")
SELECTION: dict[str, tuple[str, str]] = {"paper": ("test", "accuracy"), "rigorous": ("val", "auc")}
Heads = Literal["multitask", "separate"]
Metric = Literal["accuracy", "auc"]
Observer = Callable[[str, list[str]], None]  # (event, patient ids): "evaluate:<set>", "train_end", "predict"


@dataclass(frozen=True)
class DeepConfig:
    """Network, preprocessing and training settings of the deep model; defaults = the paper's sizes."""

    input_size: int = 96
    block_config: tuple[int, ...] = (6, 12, 24, 16)
    growth_rate: int = 32
    init_features: int = 64
    roi_channels: tuple[int, int] = (16, 32)
    hidden: int = 128
    dropout: float = 0.2
    heads: Heads = "multitask"
    horizons: tuple[int, ...] = HORIZONS_MONTHS
    window_hu: tuple[float, float] = (-160.0, 240.0)
    roi_margin_mm: float = 10.0
    field_of_view_mm: float | None = None  # None: the whole scan; else a cube of this side centred on the tumour
    anti_aliasing: bool = False
    noise_std: float = 0.02
    epochs: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-4
    device: str = "auto"
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (tuples as lists), as stored in checkpoints."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DeepConfig:
        """Inverse of ``to_dict``; unknown keys raise so that a stale checkpoint is noticed."""
        tuples = {f.name for f in fields(cls) if str(f.type).startswith("tuple")}
        return cls(**{k: tuple(v) if k in tuples else v for k, v in values.items()})


# ----------------------------------------------------------------------------- network


class DualInputDenseNet(nn.Module):
    """MONAI 3D DenseNet on the whole image + a two-conv ROI branch, concatenated, FC head, 2 logits per head."""

    def __init__(self, *, input_size: int = 96, block_config: Sequence[int] = (6, 12, 24, 16), growth_rate: int = 32,
                 init_features: int = 64, roi_channels: Sequence[int] = (16, 32), hidden: int = 128,
                 dropout: float = 0.2, n_heads: int = 3) -> None:
        """Build the branches; the image branch is MONAI's DenseNet with its final Linear removed."""
        super().__init__()
        self.input_size, self.n_heads = input_size, n_heads
        densenet = DenseNet(spatial_dims=3, in_channels=1, out_channels=2, init_features=init_features,
                            growth_rate=growth_rate, block_config=tuple(block_config))
        image_width = densenet.class_layers.out.in_features
        densenet.class_layers.out = nn.Identity()  # keep MONAI's ReLU + global average pooling + flatten
        self.image_branch = densenet
        first, second = roi_channels
        self.roi_branch = nn.Sequential(
            nn.Conv3d(1, first, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(first, second, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(1))
        self.head = nn.Sequential(nn.Linear(image_width + second, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, 2 * n_heads))

    def forward(self, image: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
        """(B, 1, s, s, s) image and ROI -> logits (B, n_heads, 2)."""
        expected = (1, *(self.input_size,) * 3)
        for name, tensor in (("image", image), ("roi", roi)):
            if tuple(tensor.shape[1:]) != expected:
                raise ValueError(f"{name} input must be (batch, {', '.join(map(str, expected))}); "
                                 f"got {tuple(tensor.shape)}")
        joint = torch.cat([self.image_branch(image), self.roi_branch(roi)], dim=1)
        return self.head(joint).view(-1, self.n_heads, 2)

    def trunk_parameter_count(self) -> int:
        """Parameters of the DenseNet ``features`` trunk (= DenseNet121's at the paper's sizes)."""
        return _count(self.image_branch.features)


class SeparateHorizonNets(nn.Module):
    """One single-head DualInputDenseNet per horizon, stacked into the (B, n_horizons, 2) multitask output."""

    def __init__(self, nets: Sequence[DualInputDenseNet]) -> None:
        """Hold the per-horizon networks (each with n_heads = 1)."""
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, image: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_horizons, 2), column h from network h."""
        return torch.cat([net(image, roi) for net in self.nets], dim=1)


def build_model(config: DeepConfig) -> DualInputDenseNet | SeparateHorizonNets:
    """The untrained network(s) that ``config`` describes: one multitask net or one net per horizon."""
    def net(n_heads: int) -> DualInputDenseNet:
        return DualInputDenseNet(input_size=config.input_size, block_config=config.block_config,
                                 growth_rate=config.growth_rate, init_features=config.init_features,
                                 roi_channels=config.roi_channels, hidden=config.hidden, dropout=config.dropout,
                                 n_heads=n_heads)
    if config.heads == "multitask":
        return net(len(config.horizons))
    if config.heads == "separate":
        return SeparateHorizonNets([net(1) for _ in config.horizons])
    raise ValueError(f"heads must be 'multitask' or 'separate', not {config.heads!r}")


def _count(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def _networks(model: nn.Module) -> list[DualInputDenseNet]:
    """The DualInputDenseNet(s) inside a model."""
    return list(model.nets) if isinstance(model, SeparateHorizonNets) else [model]


def architecture_summary(model: nn.Module) -> pd.DataFrame:
    """Parameters per branch (summed over per-horizon networks) and in total, for the book."""
    nets = _networks(model)
    rows = [("image: MONAI DenseNet features", sum(_count(n.image_branch.features) for n in nets)),
            ("roi: 2 x [Conv3d, ReLU, MaxPool3d]", sum(_count(n.roi_branch) for n in nets)),
            ("head: fully connected", sum(_count(n.head) for n in nets)),
            ("total", _count(model))]
    return pd.DataFrame(rows, columns=["branch", "parameters"])


# ----------------------------------------------------------------------------- preprocessing


class ReadCased(MapTransform):
    """Read a case's CT (HU) and tumour mask with helpers.io, reoriented to LPS, as (1, z, y, x) arrays."""

    def __init__(self) -> None:
        """Reads the paths under "image" and "mask" (with "mask_label" / "segment" if given)."""
        super().__init__(keys=("image", "mask"))

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """Replace the paths by arrays and add "spacing" (mm, z y x)."""
        item = dict(data)
        image = read_image(Path(item["image"]))
        mask = read_mask(Path(item["mask"]), label=item.get("mask_label"), segment=item.get("segment"),
                         reference=image)
        image, mask = (sitk.DICOMOrient(volume, "LPS") for volume in (image, mask))
        item["image"] = sitk.GetArrayFromImage(image).astype(np.float32)[None]
        item["mask"] = sitk.GetArrayFromImage(mask)[None]
        item["spacing"] = np.array(image.GetSpacing()[::-1], dtype=float)
        return item


def _cube_around(image: np.ndarray, spacing: np.ndarray, centre: np.ndarray, side_mm: float) -> np.ndarray:
    """The voxels of a cube of ``side_mm`` centred on ``centre`` (voxel coordinates), zero-padded outside the scan."""
    half = side_mm / spacing / 2
    start = np.floor(centre - half + 0.5).astype(int)
    stop = start + np.maximum(np.round(2 * half).astype(int), 1)
    before, after = np.maximum(-start, 0), np.maximum(stop - np.array(image.shape), 0)
    padded = np.pad(image, list(zip(before, after)), constant_values=0.0)
    return padded[tuple(slice(a + b, c + b) for a, c, b in zip(start, stop, before))]


class TumourCubed(MapTransform):
    """Add "roi": the image inside a mm cube around the mask's bounding box plus ``margin_mm``; optionally
    replace "image" by a fixed ``field_mm`` cube centred on the tumour (the context around the pancreas)."""

    def __init__(self, margin_mm: float, field_mm: float | None = None) -> None:
        """Crops "image" around "mask" using "spacing"."""
        super().__init__(keys=("image",))
        self.margin_mm = margin_mm
        self.field_mm = field_mm

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """The ROI cube's side is the box's longest extent + 2 margins, in mm, on every axis."""
        item = dict(data)
        spacing = item["spacing"]
        inside = np.argwhere(np.asarray(item["mask"])[0] > 0)
        low, high = inside.min(axis=0), inside.max(axis=0)
        centre = (low + high) / 2
        image = np.asarray(item["image"])[0]
        side_mm = np.max((high - low + 1) * spacing) + 2 * self.margin_mm
        item["roi"] = _cube_around(image, spacing, centre, side_mm)[None]
        if self.field_mm is not None:
            item["image"] = _cube_around(image, spacing, centre, self.field_mm)[None]
        return item


def case_transforms(config: DeepConfig, train: bool) -> Compose:
    """Preprocessing (cached) and, when ``train``, the paper's augmentation after it."""
    low, high = config.window_hu
    size = (config.input_size,) * 3
    steps: list[Any] = [
        ReadCased(),
        ScaleIntensityRanged(keys="image", a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True),
        TumourCubed(config.roi_margin_mm, config.field_of_view_mm),
        SelectItemsd(keys=INPUT_KEYS),
        Resized(keys=INPUT_KEYS, spatial_size=size, mode="trilinear", anti_aliasing=config.anti_aliasing),
        EnsureTyped(keys=INPUT_KEYS, dtype=torch.float32, track_meta=False),
    ]
    if train:
        steps += [
            RandRotate90d(keys=INPUT_KEYS, prob=0.5, max_k=3, spatial_axes=(1, 2)),
            *(RandFlipd(keys=INPUT_KEYS, prob=0.5, spatial_axis=axis) for axis in range(3)),
            *(RandGaussianNoised(keys=key, prob=0.5, std=config.noise_std) for key in INPUT_KEYS),
            EnsureTyped(keys=INPUT_KEYS, dtype=torch.float32, track_meta=False),
        ]
    return Compose(steps)


def case_items(cases: pd.DataFrame) -> list[dict[str, Any]]:
    """One MONAI data dict per case (index = patient_id), stamped with each file's size and mtime for the cache."""
    missing = {"image", "mask"} - set(cases.columns)
    if missing:
        raise ValueError(f"cases need the columns image and mask (missing: {sorted(missing)})")

    def stamp(path: str) -> str:
        status = os.stat(path)
        return f"{status.st_size}:{status.st_mtime_ns}"

    def given(row: pd.Series, column: str) -> Any:
        value = row.get(column)
        return None if value is None or pd.isna(value) else value

    return [{"image": str(row["image"]), "mask": str(row["mask"]),
             "mask_label": None if given(row, "mask_label") is None else int(row["mask_label"]),
             "segment": given(row, "segment"), "stamp": f"{stamp(row['image'])}|{stamp(row['mask'])}"}
            for _, row in cases.iterrows()]


def _cache_folder(cache_dir: Path, config: DeepConfig) -> Path:
    """Subfolder of ``cache_dir`` for these preprocessing settings (another window or size = another folder)."""
    settings = {"version": PREPROCESSING_VERSION, "input_size": config.input_size,
                "window_hu": list(config.window_hu), "roi_margin_mm": config.roi_margin_mm,
                "field_of_view_mm": config.field_of_view_mm, "anti_aliasing": config.anti_aliasing}
    return Path(cache_dir) / f"preprocessed-{_digest(settings)[:12]}"


def _dataset(cases: pd.DataFrame, config: DeepConfig, cache_dir: Path, train: bool) -> PersistentDataset:
    """Cases as a disk-cached MONAI dataset; train and eval datasets share the cached preprocessing."""
    return PersistentDataset(case_items(cases), case_transforms(config, train),
                             cache_dir=_cache_folder(cache_dir, config))


def cache_cases(cases: pd.DataFrame, config: DeepConfig, cache_dir: Path, progress: bool = True) -> None:
    """Preprocess every case once into the cache (already cached cases are skipped), so epochs only load.

    Cases are preprocessed in parallel worker processes (one per core): reading and resizing
    dominate, and MONAI writes each cache file under a temporary name before moving it into
    place, so workers never see a half-written entry.
    """
    unique = cases[~cases.index.duplicated()]
    dataset = _dataset(unique, config, cache_dir, train=False)
    workers = min(os.cpu_count() or 1, len(dataset)) if len(dataset) > 1 else 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=_discard)
    for _ in tqdm(loader, total=len(dataset), desc="preprocess", unit="case", disable=not progress):
        pass


def _discard(batch: list[Any]) -> None:
    """Collate nothing: caching only needs each item computed once (module level, so workers can pickle it)."""
    return None


class _Labelled(torch.utils.data.Dataset):
    """A case dataset whose items also carry the (n_horizons,) float label row (NaN = unknown)."""

    def __init__(self, cases: PersistentDataset, labels: np.ndarray) -> None:
        """Pair item i with labels[i]."""
        self.cases, self.labels = cases, torch.as_tensor(labels, dtype=torch.float32)

    def __len__(self) -> int:
        """Number of cases."""
        return len(self.cases)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The case's inputs plus its "label" row."""
        return {**self.cases[index], "label": self.labels[index]}


# ----------------------------------------------------------------------------- labels and loss


def horizon_label_frame(time: pd.Series, event: pd.Series, policy: LabelPolicy,
                        horizons: tuple[int, ...] = HORIZONS_MONTHS) -> pd.DataFrame:
    """Patients x horizons table of 1 (died by it), 0 (alive at it), NaN (unknown under ``policy``)."""
    return pd.DataFrame({h: horizon_labels(time, event, h, policy).to_numpy() for h in horizons}, index=time.index)


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over heads of each head's cross-entropy over its known (non-NaN) labels; 0 when none is known."""
    losses = []
    for head in range(logits.shape[1]):
        known = ~torch.isnan(labels[:, head])
        if known.any():
            losses.append(F.cross_entropy(logits[known, head], labels[known, head].long()))
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


def train_step(model: nn.Module, image: torch.Tensor, roi: torch.Tensor, labels: torch.Tensor,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp: bool) -> float:
    """One Adam step on one batch (mixed precision when ``amp``); returns the batch loss."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=image.device.type, dtype=torch.float16, enabled=amp):
        logits = model(image, roi)
    loss = masked_cross_entropy(logits.float(), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


# ----------------------------------------------------------------------------- device and determinism


def resolve_device(device: str) -> torch.device:
    """"auto" -> CUDA when available else CPU; "cuda" without a GPU raises a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but no CUDA GPU is available to PyTorch "
                           f"(torch {torch.__version__}); use device 'cpu' or 'auto'")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:n]', not {device!r}")
    return torch.device(device)


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch, numpy and random (MONAI's set_determinism); deterministic kernels on CPU, restored after."""
    previous = torch.are_deterministic_algorithms_enabled()
    set_determinism(seed=seed)
    # CUDA has no deterministic kernel for some 3D backward passes: GPU runs are seeded, not bit-exact.
    torch.use_deterministic_algorithms(device.type == "cpu")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


# ----------------------------------------------------------------------------- evaluation


def _loader(dataset: torch.utils.data.Dataset, config: DeepConfig, device: torch.device,
            shuffle_with: torch.Generator | None = None) -> DataLoader:
    """MONAI DataLoader, shuffled by ``shuffle_with`` if given; never touches the global torch RNG."""
    # MONAI's DataLoader seeds the random transforms from its generator and, without one,
    # re-seeds the global torch generator: always give it its own.
    generator = shuffle_with if shuffle_with is not None else torch.Generator().manual_seed(0)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=shuffle_with is not None, generator=generator,
                      num_workers=config.num_workers, pin_memory=device.type == "cuda")


def _probabilities(model: nn.Module, loader: DataLoader, device: torch.device) -> np.ndarray:
    """(n cases, n heads) softmax probability of class 1 (death by the horizon), in loader order."""
    model.eval()
    parts = []
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=torch.float16,
                                                enabled=device.type == "cuda"):
        for batch in loader:
            logits = model(batch["image"].to(device), batch["roi"].to(device))
            parts.append(torch.softmax(logits.float(), dim=-1)[..., 1].cpu().numpy())
    return np.concatenate(parts).astype(float)


def _metrics_row(name: str, probability: np.ndarray, labels: np.ndarray, horizons: tuple[int, ...]) -> dict[str, float]:
    """Accuracy at 0.5 and AUC per horizon over the known labels, as history columns."""
    row = {}
    for column, horizon in enumerate(horizons):
        values = binary_metrics(probability[:, column], labels[:, column], threshold=0.5)
        row[f"{name}_accuracy_{horizon}m"] = values["accuracy"]
        row[f"{name}_auc_{horizon}m"] = values["auc"]
    return row


def predict_densenet(model: nn.Module, cases: pd.DataFrame, config: DeepConfig, cache_dir: Path, *,
                     observer: Observer | None = None) -> pd.DataFrame:
    """Long table patient_id, horizon_months, probability (softmax P(death by horizon)) for every case."""
    device = next(model.parameters()).device
    if observer is not None:
        observer("predict", list(map(str, cases.index)))
    probability = _probabilities(model, _loader(_dataset(cases, config, cache_dir, train=False), config, device),
                                device)
    wide = pd.DataFrame(probability, index=pd.Index(cases.index, name="patient_id"),
                        columns=pd.Index(config.horizons, name="horizon_months"))
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


def _selections(model: nn.Module) -> list[_Selection]:
    """One selection unit per network: all heads of a multitask net, or net h for horizon h."""
    if isinstance(model, SeparateHorizonNets):
        return [_Selection(net, [h]) for h, net in enumerate(model.nets)]
    return [_Selection(model, list(range(model.n_heads)))]


def _label_array(labels: pd.DataFrame, ids: pd.Index, horizons: tuple[int, ...], what: str) -> np.ndarray:
    """(n, n_horizons) float labels of ``ids``; raises naming patients without a label row."""
    missing = ids.difference(labels.index)
    if len(missing):
        raise ValueError(f"labels lack {what} patient(s) {missing.tolist()[:20]}")
    absent = [h for h in horizons if h not in labels.columns]
    if absent:
        raise ValueError(f"labels lack the horizon column(s) {absent}")
    return labels.loc[ids, list(horizons)].to_numpy(dtype=float)


def _digest(value: Any) -> str:
    """SHA-256 of a JSON-able value (NaN written as null)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, then rename onto it.

    Saved through a file handle: given a path, torch names the archive's root folder after the
    (random) temporary file, so the same weights would give different bytes on every run.
    """
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        torch.save(obj, handle)


def _atomic_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a CSV under a temporary name, then rename onto ``path``."""
    with atomic_path(path) as partial:
        table.to_csv(partial, index=False)


def _last_path(checkpoint_path: Path) -> Path:
    """The per-epoch resume checkpoint beside the best one ("densenet.pt" -> "densenet.last.pt")."""
    return checkpoint_path.with_name(f"{checkpoint_path.stem}.last{checkpoint_path.suffix}")


def _random_transforms(dataset: _Labelled) -> list[Randomizable]:
    """Every random state of the training pipeline, inner ones included (RandGaussianNoised draws from its own)."""
    # Walked by hand: Compose.flatten() would build a new Compose, which re-seeds every transform.
    found: list[Randomizable] = []

    def visit(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, Randomizable) and not any(value is seen for seen in found):
            found.append(value)
            for attribute in vars(value).values():
                visit(attribute)

    visit(dataset.cases.transform)
    return found


def _rng_state(generator: torch.Generator, transforms: list[Randomizable]) -> dict[str, Any]:
    """Every random state the next epoch depends on: torch (dropout), shuffling, augmentation."""
    def numpy_state(t: Randomizable) -> dict[str, Any]:
        _, keys, position, has_gauss, gauss = t.R.get_state()
        return {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                "has_gauss": int(has_gauss), "gauss": float(gauss)}
    return {"torch": torch.get_rng_state(), "loader": generator.get_state(),
            "transforms": [numpy_state(t) for t in transforms]}


def _restore_rng(state: dict[str, Any], generator: torch.Generator, transforms: list[Randomizable]) -> None:
    """Inverse of ``_rng_state``."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    for t, s in zip(transforms, state["transforms"], strict=True):
        t.R.set_state(("MT19937", s["keys"].numpy().astype(np.uint32), s["position"], s["has_gauss"], s["gauss"]))


def _load_last(path: Path | None, fingerprint: str, epochs: int) -> dict[str, Any] | None:
    """The resume checkpoint if it exists, belongs to this very training and is not past ``epochs``; else None."""
    if path is None or not path.exists():
        return None
    try:
        last = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file means: start afresh
        warnings.warn(f"{path}: unreadable resume checkpoint ({error}); training starts afresh", stacklevel=3)
        return None
    if last.get("fingerprint") != fingerprint:
        warnings.warn(f"{path}: resume checkpoint of another training (data, settings or seed); "
                      "training starts afresh", stacklevel=3)
        return None
    if last["epoch"] > epochs:
        warnings.warn(f"{path}: resume checkpoint at epoch {last['epoch']}, beyond the {epochs} epoch(s) asked; "
                      "training starts afresh", stacklevel=3)
        return None
    return last


def train_densenet(cases: pd.DataFrame, labels: pd.DataFrame, config: DeepConfig, *, cache_dir: Path,
                   eval_sets: dict[str, pd.DataFrame], select_on: str, select_metric: Metric = "accuracy",
                   history_path: Path | None = None, checkpoint_path: Path | None = None, seed: int = 0,
                   progress: bool = True, observer: Observer | None = None) -> TrainResult:
    """Train on ``cases`` (index = patient_id), evaluate ``eval_sets`` each epoch, keep the best ``select_on`` epoch.

    ``labels``: patients x horizons (0/1/NaN; see ``horizon_label_frame``) covering the
    training and eval patients. Under protocol "paper" pass eval_sets={"test": ...} and
    select on its accuracy; under "rigorous" pass only {"val": ...}, select on its AUC and
    predict the test split once afterwards. ``observer`` sees every evaluation
    ("evaluate:<set>", ids) and the end of training ("train_end", []). With
    ``checkpoint_path``, each epoch also writes "<stem>.last.pt"; a call that finds one
    of the same training (same data, settings except ``epochs``, seed) resumes from it.
    """
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1; got {config.epochs}")
    if select_on not in eval_sets:
        raise ValueError(f"select_on {select_on!r} is not one of the eval sets {sorted(eval_sets)}")
    if select_metric not in ("accuracy", "auc"):
        raise ValueError(f"select_metric must be 'accuracy' or 'auc', not {select_metric!r}")
    device = resolve_device(config.device)
    amp = device.type == "cuda"
    horizons = config.horizons
    train_labels = _label_array(labels, cases.index, horizons, "training")
    eval_labels = {name: _label_array(labels, frame.index, horizons, name) for name, frame in eval_sets.items()}
    fingerprint = _digest({"config": {**config.to_dict(), "epochs": None}, "seed": seed,
                           "train": [list(map(str, cases.index)), np.where(np.isnan(train_labels), -1,
                                                                           train_labels).tolist()],
                           "eval": {k: list(map(str, v.index)) for k, v in eval_sets.items()},
                           "select": [select_on, select_metric]})
    last_path = None if checkpoint_path is None else _last_path(Path(checkpoint_path))

    cache_cases(pd.concat([cases, *eval_sets.values()]), config, cache_dir, progress)
    with _seeded(seed, device):
        model = build_model(config).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        scaler = torch.amp.GradScaler(device.type, enabled=amp)
        generator = torch.Generator().manual_seed(seed)
        train_set = _Labelled(_dataset(cases, config, cache_dir, train=True), train_labels)
        train_loader = _loader(train_set, config, device, shuffle_with=generator)
        eval_loaders = {name: _loader(_dataset(frame, config, cache_dir, train=False), config, device)
                        for name, frame in eval_sets.items()}
        selections = _selections(model)
        history: list[dict[str, float]] = []
        start = 0
        last = _load_last(last_path, fingerprint, config.epochs)
        if last is not None:
            model.load_state_dict(last["model"])
            optimizer.load_state_dict(last["optimizer"])
            scaler.load_state_dict(last["scaler"])
            for selection, saved in zip(selections, last["best"], strict=True):
                selection.score, selection.epoch, selection.state = saved["score"], saved["epoch"], saved["state"]
            history, start = list(last["history"]), int(last["epoch"])
            _restore_rng(last["rng"], generator, _random_transforms(train_set))

        trained_samples, trained_seconds = 0, 0.0
        epochs = tqdm(range(start + 1, config.epochs + 1), desc="densenet", unit="epoch", disable=not progress,
                      initial=start, total=config.epochs)
        for epoch in epochs:
            model.train()
            began, losses, weights = time.perf_counter(), [], []
            for batch in train_loader:
                losses.append(train_step(model, batch["image"].to(device), batch["roi"].to(device),
                                         batch["label"].to(device), optimizer, scaler, amp))
                weights.append(len(batch["label"]))
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - began
            trained_samples, trained_seconds = trained_samples + sum(weights), trained_seconds + seconds
            # No timings in the history: it is a recorded artifact, and wall-clock columns would make
            # every re-run of training look like a changed input to the notebooks that read it.
            row = {"epoch": epoch, "train_loss": float(np.average(losses, weights=weights))}
            for name, loader in eval_loaders.items():
                if observer is not None:
                    observer(f"evaluate:{name}", list(map(str, eval_sets[name].index)))
                row |= _metrics_row(name, _probabilities(model, loader, device), eval_labels[name], horizons)
            history.append(row)
            for selection in selections:
                selection.offer(row, f"{select_on}_{select_metric}", horizons, epoch)
            epochs.set_postfix({"loss": f"{row['train_loss']:.3f}", f"{select_on}_{select_metric}":
                                f"{_mean_metric(row, f'{select_on}_{select_metric}', horizons):.3f}"})
            if history_path is not None:
                _atomic_csv(pd.DataFrame(history), Path(history_path))
            if last_path is not None:
                _atomic_save({"fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
                              "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                              "best": [{"score": s.score, "epoch": s.epoch, "state": s.state} for s in selections],
                              "history": history, "rng": _rng_state(generator, _random_transforms(train_set))},
                             last_path)
        epochs.close()
        if observer is not None:
            observer("train_end", [])

    for selection in selections:
        selection.module.load_state_dict(selection.state)
    model.eval()
    best_epochs = {horizons[c]: s.epoch for s in selections for c in s.columns}
    if checkpoint_path is not None:
        _atomic_save({"config": config.to_dict(), "state_dict": model.state_dict(), "best_epochs": best_epochs,
                      "select": [select_on, select_metric], "seed": seed}, Path(checkpoint_path))
    if history_path is not None:
        _atomic_csv(pd.DataFrame(history), Path(history_path))
    return TrainResult(model=model, history=pd.DataFrame(history), best_epochs=best_epochs, device=str(device),
                       samples_per_s=trained_samples / trained_seconds if trained_seconds else float("nan"),
                       resumed_from=start)


def load_densenet(checkpoint_path: Path, device: str = "auto") -> tuple[nn.Module, DeepConfig]:
    """The selected model of a best checkpoint written by ``train_densenet``, in eval mode, and its config."""
    saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    config = DeepConfig.from_dict(saved["config"])
    model = build_model(config)
    model.load_state_dict(saved["state_dict"])
    return model.to(resolve_device(device)).eval(), config


# ----------------------------------------------------------------------------- cross-fitting


def _inner_split(ids: pd.Index, event: np.ndarray, fraction: float, seed: int) -> tuple[pd.Index, pd.Index]:
    """(fit, validation) ids, stratified on the event when both outcomes have two patients or more."""
    counts = np.bincount(event.astype(int), minlength=2)
    stratify = event if counts.min() >= 2 else None
    fit, val = train_test_split(ids, test_size=fraction, random_state=seed, stratify=stratify)
    return pd.Index(fit), pd.Index(val)


@dataclass(frozen=True)
class DenseNetChain:
    """Train with an inner validation split for the checkpoint, then predict held-out cases (``fit_predict``)."""

    config: DeepConfig
    label_policy: LabelPolicy
    cache_dir: Path
    work_dir: Path | None = None
    val_fraction: float = 0.2
    seed: int = 0
    progress: bool = False
    observer: Observer | None = None

    def __call__(self, train_X: pd.DataFrame, train_y: np.ndarray, test_X: pd.DataFrame) -> pd.DataFrame:
        """Fit on (train_X, train_y) only, selecting the epoch on its validation AUC; predict test_X once."""
        event, time_months = check_array_survival(train_X, train_y)
        labels = horizon_label_frame(pd.Series(time_months, index=train_X.index),
                                     pd.Series(event.astype(int), index=train_X.index),
                                     self.label_policy, self.config.horizons)
        fit_ids, val_ids = _inner_split(train_X.index, event, self.val_fraction, self.seed)
        folder = None
        if self.work_dir is not None:
            folder = Path(self.work_dir) / f"fit-{_digest(sorted(map(str, train_X.index)))[:12]}"
        set_on, metric = SELECTION["rigorous"]
        result = train_densenet(
            train_X.loc[fit_ids], labels, self.config, cache_dir=self.cache_dir,
            eval_sets={set_on: train_X.loc[val_ids]}, select_on=set_on, select_metric=metric,
            history_path=None if folder is None else folder / "history.csv",
            checkpoint_path=None if folder is None else folder / "densenet.pt",
            seed=self.seed, progress=self.progress, observer=self.observer)
        return predict_densenet(result.model, test_X, self.config, self.cache_dir, observer=self.observer)


def densenet_chain(config: DeepConfig, label_policy: LabelPolicy, cache_dir: Path, *, work_dir: Path | None = None,
                   val_fraction: float = 0.2, seed: int = 0, progress: bool = False,
                   observer: Observer | None = None) -> DenseNetChain:
    """A ``fit_predict`` for ``helpers.survival.out_of_fold_predictions`` (cases indexed by patient_id as X)."""
    return DenseNetChain(config, label_policy, Path(cache_dir), work_dir, val_fraction, seed, progress, observer)


# ----------------------------------------------------------------------------- notebook steps


def example_inputs(cases: pd.DataFrame, config: DeepConfig) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(patient id, whole-image input, ROI input) as the network sees them (eval preprocessing, no augmentation)."""
    transform = case_transforms(config, train=False)
    examples = []
    for patient_id, item in zip(cases.index, case_items(cases)):
        out = transform(item)
        examples.append((str(patient_id), out["image"][0].numpy(), out["roi"][0].numpy()))
    return examples


def fit_for_protocol(cases: pd.DataFrame, labels: pd.DataFrame, config: DeepConfig, protocol: str, *,
                     cache_dir: Path, history_path: Path, checkpoint_path: Path, val_fraction: float,
                     seed: int) -> tuple[TrainResult, str]:
    """Train on the training split with the protocol's checkpoint rule; return the result and what chose the epoch.

    "paper": every epoch is scored on the test split and the best test accuracy is kept (as
    published). "rigorous": a stratified validation split of the training patients chooses
    the epoch by AUC; the test split is not looked at during training.
    """
    if protocol not in SELECTION:
        raise ValueError(f"protocol must be 'paper' or 'rigorous', not {protocol!r}")
    train = cases[cases["split"] == "train"]
    set_on, metric = SELECTION[protocol]
    if protocol == "paper":
        fit, eval_sets = train, {"test": cases[cases["split"] == "test"]}
    else:
        fit_ids, val_ids = _inner_split(train.index, train["event"].to_numpy(), val_fraction, seed)
        fit, eval_sets = train.loc[fit_ids], {"val": train.loc[val_ids]}
    result = train_densenet(fit, labels, config, cache_dir=cache_dir, eval_sets=eval_sets, select_on=set_on,
                            select_metric=metric, history_path=history_path, checkpoint_path=checkpoint_path,
                            seed=seed)
    described = (f"best {set_on} {metric} (test-set selection, as published)" if protocol == "paper"
                 else f"best {set_on} {metric} on {len(eval_sets['val'])} held-out training patients")
    return result, described
