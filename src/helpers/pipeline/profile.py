"""Reading and validating a run profile before any notebook runs (a typo fails at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from helpers.errors import CudaUnavailableError, ProfileError
from helpers.pipeline.notebooks import RESERVED_KEYS, Notebook


def load_profile(path: Path) -> dict[str, Any]:
    """Read a flat YAML profile; its ``name`` (default: file stem) names the run folder."""
    profile = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(profile, dict):
        raise ProfileError(f"{path}: a profile is a mapping of parameter names to values")
    nested = [k for k, v in profile.items() if isinstance(v, (dict, list))]
    if nested:
        raise ProfileError(f"{path}: parameters must be flat scalars; nested: {', '.join(nested)}")
    profile.setdefault("name", path.stem)
    for key in ("seed", "protocol"):
        if key not in profile:
            raise ProfileError(f"{path}: every profile sets '{key}'")
    if profile["protocol"] not in ("paper", "rigorous"):
        raise ProfileError(f"{path}: protocol must be 'paper' or 'rigorous', not {profile['protocol']!r}")
    check_choices(profile, path)
    return profile


# Profile values with a closed set of choices, checked before any notebook runs so that a typo
# fails at once rather than after the notebooks before the one that reads it.
CHOICES: dict[str, tuple[Any, ...]] = {"label_policy": ("paper", "known_status"), "risk_horizon": (12, 24, 36),
                                       "extraction_failures": ("raise", "exclude"), "cohort_source": ("insilico", "manifest")}


def check_choices(profile: dict[str, Any], path: Path) -> None:
    """Refuse a value outside its choices, and a CUDA device on a machine where PyTorch sees no GPU."""
    for key, allowed in CHOICES.items():
        if key in profile and profile[key] not in allowed:
            raise ProfileError(f"{path}: {key} must be one of {', '.join(map(str, allowed))}, not {profile[key]!r}")
    device = str(profile.get("dl_device", "auto"))
    if device.startswith("cuda"):
        import torch  # only here: importing it costs seconds and most profiles never ask for CUDA

        if not torch.cuda.is_available():
            raise CudaUnavailableError(f"{path}: dl_device {device!r} but PyTorch {torch.__version__} sees no CUDA GPU "
                               "on this machine; use 'auto' or 'cpu'")


def check_unused_keys(notebooks: list[Notebook], profile: dict[str, Any], source: Path) -> None:
    """Fail on profile keys that no notebook declares (typos would otherwise be ignored)."""
    declared = set().union(*(nb.declared for nb in notebooks)) if notebooks else set()
    unused = sorted(k for k in profile if k not in declared and k not in RESERVED_KEYS)
    if unused:
        raise ProfileError(
            f"{source}: no notebook declares {', '.join(unused)}; "
            f"declared parameters are: {', '.join(sorted(declared))}"
        )
