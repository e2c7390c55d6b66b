"""Reading and validating a run profile before any notebook runs (a typo fails at once).

Checked before the first notebook: the YAML is a mapping of parameter names to scalars or
lists; ``seed`` and ``protocol`` are set; every key is declared by some notebook; every value
has the type of the notebook's own default (an int where a float is declared is fine, a
string such as YAML's ``1e-4`` is not); every closed choice is one of its ``Literal``'s values
(``helpers.vocabulary.PARAMETER_CHOICES``); a CUDA device exists when one is asked for;
``protocol: paper`` comes with the paper's labelling unless the profile says otherwise.
All problems are reported at once, each naming the profile, the key and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from helpers.errors import CudaUnavailableError, ProfileError
from helpers.pipeline.notebooks import LABEL_POLICY_OVERRIDE, RESERVED_KEYS, Notebook
from helpers.vocabulary import PARAMETER_CHOICES, choices

RUNNER_TYPES: dict[str, type] = {"name": str, "cell_timeout_s": int}


def load_profile(path: Path) -> dict[str, Any]:
    """Read a YAML profile (scalars and lists); its ``name`` (default: file stem) names the run folder."""
    profile = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(profile, dict):
        raise ProfileError(f"{path}: a profile is a mapping of parameter names to values")
    nested = [
        k
        for k, v in profile.items()
        if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(item, (dict, list)) for item in v))
    ]
    if nested:
        raise ProfileError(f"{path}: parameters are scalars or lists of scalars; nested: {', '.join(nested)}")
    if "run_dir" in profile:
        raise ProfileError(f"{path}: run_dir is not a profile key: the run folder is runs/<name>, or --run-dir")
    profile.setdefault("name", path.stem)
    for key in ("seed", "protocol"):
        if key not in profile:
            raise ProfileError(f"{path}: every profile sets '{key}'")
    check_choices(profile, path)
    paper_label_policy(profile, path)
    return profile


def paper_label_policy(profile: dict[str, Any], path: Path) -> None:
    """``protocol: paper`` labels as the paper does: ``label_policy`` defaults to "paper" there, and another
    policy needs ``label_policy_differs_from_paper: true`` beside it, so that the combination is deliberate."""
    explicit = profile.get(LABEL_POLICY_OVERRIDE, False)
    if not isinstance(explicit, bool):
        raise ProfileError(f"{path}: {LABEL_POLICY_OVERRIDE} is true or false, not {explicit!r}")
    if profile["protocol"] != "paper":
        return
    policy = profile.setdefault("label_policy", "paper")
    if policy != "paper" and not explicit:
        raise ProfileError(
            f"{path}: protocol: paper labels as the paper does (label_policy: paper); to combine it with "
            f"label_policy: {policy}, say so with {LABEL_POLICY_OVERRIDE}: true"
        )


def check_choices(profile: dict[str, Any], path: Path) -> None:
    """Refuse a value outside its choices, and a CUDA device on a machine where PyTorch sees no GPU."""
    wrong = [
        f"{key} must be one of {', '.join(map(str, choices(key)))}, not {profile[key]!r}"
        for key in PARAMETER_CHOICES
        if key in profile and profile[key] not in choices(key)
    ]
    if wrong:
        raise ProfileError(f"{path}: " + "; ".join(wrong))
    device = str(profile.get("dl_device", "auto"))
    if device.startswith("cuda"):
        import torch  # only here: importing it costs seconds and most profiles never ask for CUDA

        if not torch.cuda.is_available():
            raise CudaUnavailableError(
                f"{path}: dl_device {device!r} but PyTorch {torch.__version__} sees no CUDA "
                "GPU on this machine; use 'auto' or 'cpu'"
            )


def check_unused_keys(notebooks: list[Notebook], profile: dict[str, Any], source: Path) -> None:
    """Fail on profile keys that no notebook declares (typos would otherwise be ignored)."""
    declared = set().union(*(nb.declared for nb in notebooks)) if notebooks else set()
    unused = sorted(k for k in profile if k not in declared and k not in RESERVED_KEYS)
    if unused:
        raise ProfileError(
            f"{source}: no notebook declares {', '.join(unused)}; "
            f"declared parameters are: {', '.join(sorted(declared))}"
        )


def _type_name(value: Any) -> str:
    return (
        "a list"
        if isinstance(value, list)
        else f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"
    )


def fits(value: Any, default: Any) -> bool:
    """Whether a profile value has the type of a notebook's default (int for float allowed; bool is not int)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, list):
        return isinstance(value, list) and (not default or all(fits(item, default[0]) for item in value))
    return isinstance(value, type(default))


def check_types(notebooks: list[Notebook], profile: dict[str, Any], source: Path) -> None:
    """Refuse a value whose type differs from the default of a notebook that declares it, naming both."""
    wrong = [
        f"{key} is {_type_name(profile[key])} ({profile[key]!r}) but {nb.stem} declares "
        f"{_type_name(nb.default(key))} ({nb.default(key)!r})"
        for nb in notebooks
        for key in nb.declared
        if key in profile and key != "run_dir" and not fits(profile[key], nb.default(key))
    ]
    wrong += [
        f"{key} must be {_type_name(kind())}, not {profile[key]!r}"
        for key, kind in RUNNER_TYPES.items()
        if key in profile and not (isinstance(profile[key], kind) and not isinstance(profile[key], bool))
    ]
    if wrong:
        raise ProfileError(f"{source}: " + "; ".join(dict.fromkeys(wrong)))
