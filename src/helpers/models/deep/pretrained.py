"""Pretrained weights for the whole-image branch, from a local file: model hubs are unreachable here and in many
hospitals, so a user points ``dl_pretrained`` at a checkpoint they already have.

Accepted: a ``torch.save``d state dict of a MONAI ``DenseNet`` of the same block configuration (keys
``features.*``; the classifier ``class_layers.*`` is ignored, the branch replaces it), optionally wrapped as
``{"state_dict": ...}`` or ``{"model": ...}`` and optionally prefixed ``module.`` (DataParallel); or one of
this project's own checkpoints (``densenet.pt`` of any head or loss, whose first network's ``image_branch``
is taken). Only the
DenseNet feature trunk is loaded; the ROI branch and the head start from their random initialisation. Anything that does not fit raises one error listing every
mismatched layer, before training starts.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from helpers.errors import InputError
from helpers.models.deep.network import networks

DATA_PARALLEL = "module."
# this project's networks: a multitask one, the first horizon network of separate heads, a Cox network
OWN_BRANCHES = ("image_branch.", "nets.0.image_branch.", "net.image_branch.")
IGNORED = "class_layers."  # the classifier of a stand-alone DenseNet: the branch replaces it


class PretrainedWeightsError(InputError):
    """A pretrained checkpoint that does not fit the whole-image branch; the message lists the layers."""


def trunk_state(path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a checkpoint file, unwrapped and with known prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"dl_pretrained {path}: no such file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise PretrainedWeightsError(f"dl_pretrained {path}: not a PyTorch checkpoint ({error})") from error
    for wrapper in ("state_dict", "model"):
        if isinstance(saved, dict) and isinstance(saved.get(wrapper), dict):
            saved = saved[wrapper]
    if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor) for v in saved.values()):
        raise PretrainedWeightsError(f"dl_pretrained {path}: holds no state dict of tensors")
    saved = {key.removeprefix(DATA_PARALLEL): tensor for key, tensor in saved.items()}
    own = next((prefix for prefix in OWN_BRANCHES if any(key.startswith(prefix) for key in saved)), None)
    if own is not None:  # this project's network: its other branches and heads are not the trunk's
        saved = {key.removeprefix(own): tensor for key, tensor in saved.items() if key.startswith(own)}
    return {key: tensor for key, tensor in saved.items() if not key.startswith(IGNORED)}


def load_pretrained(model: nn.Module, path: Path) -> list[str]:
    """Copy a checkpoint's DenseNet trunk into every whole-image branch of ``model``; return the loaded keys.

    Raises ``PretrainedWeightsError`` naming the file and every missing, unexpected or differently shaped layer.
    """
    state = trunk_state(path)
    nets = networks(model)
    expected = {f"features.{k}": v for k, v in nets[0].image_branch.features.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{key}: file {tuple(state[key].shape)}, network {tuple(expected[key].shape)}"
        for key in set(state) & set(expected)
        if state[key].shape != expected[key].shape
    )
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:20])}{' ...' if len(items) > 20 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape differs", shapes))
        if items
    ]
    if problems:
        raise PretrainedWeightsError(
            f"dl_pretrained {path}: does not fit the whole-image DenseNet trunk (check dl_blocks, dl_growth_rate "
            "and dl_init_features against the checkpoint's network); " + "; ".join(problems)
        )
    trunk = {key.removeprefix("features."): tensor for key, tensor in state.items()}
    for net in nets:
        net.image_branch.features.load_state_dict(trunk)
    return sorted(state)
