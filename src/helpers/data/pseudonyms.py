"""Keyed pseudonyms for patient identifiers, so that no real id reaches a published artifact."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def pseudonymise(ids: Sequence[str], *, salt: str, prefix: str = "PT") -> dict[str, str]:
    """Map ids to stable keyed pseudonyms 'PT-xxxxxxxx' (HMAC-SHA256, secret salt); refuse collisions."""
    if not salt:
        raise ValueError("salt must be a non-empty secret: without one, anyone can recompute the pseudonyms")
    key = salt.encode()
    digest = {str(pid): hmac.new(key, str(pid).encode(), hashlib.sha256).hexdigest() for pid in ids}
    mapping = {pid: f"{prefix}-{hexdigest[:8]}" for pid, hexdigest in digest.items()}
    owners: dict[str, str] = {}
    for pid, code in mapping.items():
        if code in owners:
            pair = f"'{owners[code]}' and '{pid}'"
            raise ValueError(f"pseudonym collision: {pair} both map to {code}; use another salt")
        owners[code] = pid
    return mapping
