"""The dual-input 3D DenseNet: a MONAI DenseNet on the whole image beside a small CNN on the ROI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pandas as pd
import torch
from monai.networks.nets import DenseNet
from torch import nn

from helpers.models.deep.config import DeepConfig


class DualInputDenseNet(nn.Module):
    """MONAI 3D DenseNet on the whole image + a two-conv ROI branch, concatenated, FC head, 2 logits per head."""

    def __init__(
        self,
        *,
        input_size: int = 96,
        block_config: Sequence[int] = (6, 12, 24, 16),
        growth_rate: int = 32,
        init_features: int = 64,
        roi_channels: Sequence[int] = (16, 32),
        hidden: int = 128,
        dropout: float = 0.2,
        n_heads: int = 3,
    ) -> None:
        """Build the branches; the image branch is MONAI's DenseNet with its final Linear removed."""
        super().__init__()
        self.input_size, self.n_heads = input_size, n_heads
        densenet = DenseNet(
            spatial_dims=3,
            in_channels=1,
            out_channels=2,
            init_features=init_features,
            growth_rate=growth_rate,
            block_config=tuple(block_config),
        )
        image_width = cast(nn.Linear, densenet.class_layers.out).in_features
        densenet.class_layers.out = nn.Identity()  # keep MONAI's ReLU + global average pooling + flatten
        self.image_branch = densenet
        first, second = roi_channels
        self.roi_branch = nn.Sequential(
            nn.Conv3d(1, first, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool3d(2),
            nn.Conv3d(first, second, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool3d(2),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(1),
        )
        self.head = nn.Sequential(
            nn.Linear(image_width + second, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 2 * n_heads)
        )

    def forward(self, image: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
        """(B, 1, s, s, s) image and ROI -> logits (B, n_heads, 2)."""
        expected = (1, *(self.input_size,) * 3)
        for name, tensor in (("image", image), ("roi", roi)):
            if tuple(tensor.shape[1:]) != expected:
                raise ValueError(
                    f"{name} input must be (batch, {', '.join(map(str, expected))}); got {tuple(tensor.shape)}"
                )
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


class CoxNetwork(nn.Module):
    """One single-output DualInputDenseNet read as a Cox risk score, with the Breslow baseline of its training
    patients at each horizon held as a buffer (saved with the weights), so that ``forward`` gives the same
    (B, n_horizons, 2) logits as the classifiers: softmax class 1 = 1 - exp(-H0(h) exp(risk))."""

    baseline_hazard: torch.Tensor

    def __init__(self, net: DualInputDenseNet, n_horizons: int) -> None:
        """Wrap ``net`` (n_heads = 1); the baseline starts at 0 until ``set_baseline``."""
        super().__init__()
        self.net: DualInputDenseNet = net
        self.register_buffer("baseline_hazard", torch.zeros(n_horizons))

    def risk(self, image: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
        """(B,) log hazard ratio: the difference of the network's two logits."""
        logits = self.net(image, roi)[:, 0]
        return logits[:, 1] - logits[:, 0]

    def set_baseline(self, cumulative_hazard: torch.Tensor) -> None:
        """Store H0 at each horizon (Breslow, on the training patients)."""
        self.baseline_hazard.copy_(cumulative_hazard)

    def forward(self, image: torch.Tensor, roi: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_horizons, 2) whose softmax gives the probability of death by each horizon."""
        hazard = self.baseline_hazard * torch.exp(self.risk(image, roi).float()).unsqueeze(1)  # H0(h) exp(risk)
        log_odds = torch.log(-torch.expm1(-hazard)) + hazard  # logit(1 - exp(-x)), stable for small x
        return torch.stack([torch.zeros_like(log_odds), log_odds], dim=-1)


def build_model(config: DeepConfig) -> DualInputDenseNet | SeparateHorizonNets | CoxNetwork:
    """The untrained network(s) that ``config`` describes: one multitask net, one net per horizon, or (loss
    "cox") one risk-score net."""

    def net(n_heads: int) -> DualInputDenseNet:
        return DualInputDenseNet(
            input_size=config.input_size,
            block_config=config.block_config,
            growth_rate=config.growth_rate,
            init_features=config.init_features,
            roi_channels=config.roi_channels,
            hidden=config.hidden,
            dropout=config.dropout,
            n_heads=n_heads,
        )

    if config.loss == "cox":
        if config.heads != "multitask":
            raise ValueError("dl_loss 'cox' trains one risk score for every horizon: use dl_heads 'multitask'")
        return CoxNetwork(net(1), len(config.horizons))
    if config.heads == "multitask":
        return net(len(config.horizons))
    if config.heads == "separate":
        return SeparateHorizonNets([net(1) for _ in config.horizons])
    raise ValueError(f"heads must be 'multitask' or 'separate', not {config.heads!r}")


def _count(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def networks(model: nn.Module) -> list[DualInputDenseNet]:
    """The DualInputDenseNet(s) inside a model: the per-horizon ones, the Cox network's, or the model itself."""
    if isinstance(model, SeparateHorizonNets):
        return cast(list[DualInputDenseNet], list(model.nets))
    return [cast(DualInputDenseNet, model.net if isinstance(model, CoxNetwork) else model)]


def architecture_summary(model: nn.Module) -> pd.DataFrame:
    """Parameters per branch (summed over per-horizon networks) and in total, for the book.

    Columns: branch ("image: MONAI DenseNet features", "roi: ...", "head: fully connected", "total"), parameters.
    """
    nets = networks(model)
    rows = [
        ("image: MONAI DenseNet features", sum(_count(n.image_branch.features) for n in nets)),
        ("roi: 2 x [Conv3d, ReLU, MaxPool3d]", sum(_count(n.roi_branch) for n in nets)),
        ("head: fully connected", sum(_count(n.head) for n in nets)),
        ("total", _count(model)),
    ]
    return pd.DataFrame(rows, columns=["branch", "parameters"])
