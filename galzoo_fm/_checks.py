"""Small argument checks shared across modules (no heavy imports)."""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["positive_int"]


def positive_int(value: Any, what: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (Python or NumPy, not bool); else ``ValueError``
    naming ``what``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
