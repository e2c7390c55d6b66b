"""A stage's headline numbers glued (MyST-NB ``glue``) so that its prose and figure captions quote them by name.

``Stage.add_metrics`` glues every number it records: a caption reads
``{glue:text}`auc_test_36:.3f``` and shows this run's value, never a typed one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np

GlueValue = str | int | float | bool


def flat_numbers(values: Mapping[Any, Any] | list[Any] | tuple[Any, ...], prefix: str = "") -> dict[str, GlueValue]:
    """The scalar leaves of nested metrics, keyed by their path joined with "_" (``{"auc": {"test_36": x}}`` ->
    ``auc_test_36``); list items by position; None as NaN, so that a caption's format spec still applies;
    numpy scalars as their Python values (``np.str_`` as str, ``np.bool_`` as bool)."""
    flat: dict[str, GlueValue] = {}
    items = values.items() if isinstance(values, Mapping) else enumerate(values)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, Mapping | list | tuple):
            flat |= flat_numbers(value, f"{name}_")
        elif value is None:
            flat[name] = math.nan
        elif isinstance(value, bool | np.bool_):
            flat[name] = bool(value)
        elif isinstance(value, str):
            flat[name] = str(value)
        elif isinstance(value, Integral):
            flat[name] = int(value)
        elif isinstance(value, Real):
            flat[name] = float(value)
    return flat


def in_kernel() -> bool:
    """Whether code runs in an IPython kernel, where glue records an output (elsewhere it would print)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def glue_numbers(values: Mapping[str, Any]) -> None:
    """Glue each of ``flat_numbers(values)`` under its key, without display; nothing outside a kernel."""
    if not in_kernel():
        return
    from myst_nb import glue

    for key, value in flat_numbers(values).items():
        glue(key, value, display=False)
