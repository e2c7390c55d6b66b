"""Settings of the deep model (network, preprocessing, training) and how its checkpoint is chosen."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from helpers.errors import CudaUnavailableError
from helpers.vocabulary import HORIZONS_MONTHS, DlLoss, Heads, Metric

PREPROCESSING_VERSION = "1"
INPUT_KEYS = ("image", "roi")
SELECTION: dict[str, tuple[str, Metric]] = {"paper": ("test", "accuracy"), "rigorous": ("val", "auc")}

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
    loss: DlLoss = "cross_entropy"  # "cox": one risk score, Cox partial likelihood, Breslow baseline (``cox.py``)
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
    pretrained: str | None = None  # a local checkpoint for the whole-image DenseNet trunk (``pretrained.py``)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (tuples as lists), as stored in checkpoints."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DeepConfig:
        """Inverse of ``to_dict``; unknown keys raise so that a stale checkpoint is noticed."""
        tuples = {f.name for f in fields(cls) if str(f.type).startswith("tuple")}
        settings: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in values.items()}
        return cls(**settings)


# A profile's deep-model keys and the DeepConfig fields they set (the rest keep DeepConfig's defaults).
PROFILE_KEYS = {
    "dl_input_size": "input_size",
    "dl_blocks": "block_config",
    "dl_growth_rate": "growth_rate",
    "dl_init_features": "init_features",
    "dl_roi_channels": "roi_channels",
    "dl_heads": "heads",
    "dl_loss": "loss",
    "dl_epochs": "epochs",
    "dl_batch_size": "batch_size",
    "dl_learning_rate": "learning_rate",
    "dl_device": "device",
    "dl_field_of_view_mm": "field_of_view_mm",
    "dl_anti_aliasing": "anti_aliasing",
    "dl_roi_margin_mm": "roi_margin_mm",
    "dl_pretrained": "pretrained",
}


def deep_config(profile: Mapping[str, Any]) -> DeepConfig:
    """The DeepConfig a profile's ``dl_*`` values describe, as notebook 06 builds it (a field of view of 0 and
    an empty pretrained path mean none), so that benchmarks train exactly the profile's network."""
    values: dict[str, Any] = {field: profile[key] for key, field in PROFILE_KEYS.items() if key in profile}
    for field in ("block_config", "roi_channels"):
        if field in values:
            values[field] = tuple(values[field])
    values["field_of_view_mm"] = values.get("field_of_view_mm") or None
    values["pretrained"] = values.get("pretrained") or None
    return DeepConfig(**values)


def resolve_device(device: str) -> torch.device:
    """ "auto" -> CUDA when available else CPU; "cuda" without a GPU raises a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CudaUnavailableError(
            f"device {device!r} requested but no CUDA GPU is available to PyTorch "
            f"(torch {torch.__version__}); use device 'cpu' or 'auto'"
        )
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:n]', not {device!r}")
    return torch.device(device)
