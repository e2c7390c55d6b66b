"""Saving and resuming training: atomic checkpoints, the per-epoch resume state and loading a model."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from helpers.models.deep.config import DeepConfig, resolve_device
from helpers.models.deep.network import build_model
from helpers.pipeline.files import atomic_path


def canonical(obj: Any) -> Any:
    """``obj`` rebuilt with fresh containers and interned strings, tensors kept: what pickle writes then depends on
    the values alone. (Pickle refers back to an object it has already written by identity, so a state restored
    from disk, whose dictionary keys are other string objects than a fresh run's, would give other bytes.)"""
    if isinstance(obj, dict):
        return {canonical(key): canonical(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [canonical(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(canonical(item) for item in obj)
    if isinstance(obj, str):
        return sys.intern(obj)
    return obj


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save of ``canonical(obj)`` to a temporary file beside ``path``, then rename onto it.

    Saved through a file handle: given a path, torch names the archive's root folder after the
    (random) temporary file, so the same weights would give different bytes on every run.
    """
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        torch.save(canonical(obj), handle)


def atomic_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a CSV under a temporary name, then rename onto ``path``."""
    with atomic_path(path) as partial:
        table.to_csv(partial, index=False)


def resume_path(checkpoint_path: Path) -> Path:
    """The per-epoch resume checkpoint beside the best one ("densenet.pt" -> "densenet.last.pt")."""
    return checkpoint_path.with_name(f"{checkpoint_path.stem}.last{checkpoint_path.suffix}")


def rng_state(generator: torch.Generator, noise_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state the next epoch depends on: torch's CPU and CUDA ones (dropout), the generator of
    shuffling and augmentation, and the GPU's noise generator when there is one."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "loader": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if noise_generator is not None:
        state["noise"] = noise_generator.get_state()
    return state


def restore_rng(
    state: dict[str, Any], generator: torch.Generator, noise_generator: torch.Generator | None = None
) -> None:
    """Inverse of ``rng_state``."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if noise_generator is not None:
        noise_generator.set_state(state["noise"])


def load_resume_state(path: Path | None, fingerprint: str, epochs: int) -> dict[str, Any] | None:
    """The resume checkpoint if it exists, belongs to this very training and is not past ``epochs``; else None."""
    if path is None or not path.exists():
        return None
    try:
        last = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file means: start afresh
        warnings.warn(f"{path}: unreadable resume checkpoint ({error}); training starts afresh", stacklevel=3)
        return None
    if last.get("fingerprint") != fingerprint:
        warnings.warn(
            f"{path}: resume checkpoint of another training (data, settings or seed); training starts afresh",
            stacklevel=3,
        )
        return None
    if last["epoch"] > epochs:
        warnings.warn(
            f"{path}: resume checkpoint at epoch {last['epoch']}, beyond the {epochs} epoch(s) asked; "
            "training starts afresh",
            stacklevel=3,
        )
        return None
    return last


def load_densenet(checkpoint_path: Path, device: str = "auto") -> tuple[nn.Module, DeepConfig]:
    """The selected model of a best checkpoint written by ``train_densenet``, in eval mode, and its config."""
    saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    config = DeepConfig.from_dict(saved["config"])
    model = build_model(config)
    model.load_state_dict(saved["state_dict"])
    return model.to(resolve_device(device)).eval(), config
