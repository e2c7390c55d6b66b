"""One optimisation step of the deep model and its losses, with torch alone (no data, no MONAI transforms), so
that the throughput benchmark runs on a GPU machine that has PyTorch and little else."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from helpers.models.deep.cox import cox_loss
from helpers.models.deep.network import CoxNetwork

MEMORY_FORMAT = torch.channels_last_3d  # measured faster for these 3D convolutions on CPU (benchmarks/densenet.py)


def masked_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over heads of each head's cross-entropy over its known (non-NaN) labels, a weighted mean when
    ``weights`` (same shape as ``labels``: the IPCW weights) is given; 0 when no label is known."""
    losses = []
    for head in range(logits.shape[1]):
        known = ~torch.isnan(labels[:, head])
        if not known.any():
            continue
        if weights is None:
            losses.append(F.cross_entropy(logits[known, head], labels[known, head].long()))
        else:
            each = F.cross_entropy(logits[known, head], labels[known, head].long(), reduction="none")
            losses.append((each * weights[known, head]).sum() / weights[known, head].sum())
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


def train_step(
    model: nn.Module,
    image: torch.Tensor,
    roi: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    amp: bool,
    weights: torch.Tensor | None = None,
    survival: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> float:
    """One Adam step on one batch (mixed precision when ``amp``); returns the batch loss. The loss is the
    masked cross-entropy of the horizon labels (weighted by ``weights`` if given), or, with ``survival`` (the
    batch's follow-up time and event) and a Cox network, the Cox partial likelihood of its risk score."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=image.device.type, dtype=torch.float16, enabled=amp):
        output = cast(CoxNetwork, model).risk(image, roi) if survival is not None else model(image, roi)
    if survival is not None:
        loss = cox_loss(output.float(), *survival)
    else:
        loss = masked_cross_entropy(output.float(), labels, weights)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())
