"""Small argument checks shared across modules (no heavy imports)."""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["OutputExistsError", "nonnegative_int", "number_in", "number_pair", "one_of", "positive_int",
           "probability"]


class OutputExistsError(FileExistsError):
    """An output that exists and would be replaced; the API says ``overwrite=True``, the CLI ``--overwrite``.

    Parameters
    ----------
    path : str or path
        The existing output (file or folder; several joined by " or ").
    action : str
        What the overwrite would do, e.g. ``"replace it"`` or ``"embed again"``.
    """

    def __init__(self, path: Any, action: str = "replace it"):
        self.path = str(path)
        self.action = action
        super().__init__(f"{self.path} exists; pass overwrite=True to {action}")

    def cli_message(self) -> str:
        """The same message for the command line (``--overwrite``)."""
        return f"{self.path} exists; pass --overwrite to {self.action}"


def _int_at_least(value: Any, what: str, minimum: int, kind: str, none: bool) -> int | None:
    if none and value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{what} must be {kind}{' or None' if none else ''}, got {value!r}")
    return int(value)


def positive_int(value: Any, what: str, *, none: bool = False) -> int | None:
    """``value`` as an ``int`` if it is a positive integer (Python or NumPy, not bool); else ``ValueError``
    naming ``what``. ``none``: ``None`` is accepted too (and returned)."""
    return _int_at_least(value, what, 1, "a positive integer", none)


def nonnegative_int(value: Any, what: str, *, none: bool = False) -> int | None:
    """``value`` as an ``int`` if it is an integer >= 0 (not bool); else ``ValueError`` naming ``what``.
    ``none``: ``None`` is accepted too."""
    return _int_at_least(value, what, 0, "a non-negative integer", none)


def number_in(value: Any, what: str, low: float, high: float, meaning: str = "a number", unit: str = "") -> float:
    """``value`` as a ``float`` if it is a real number (not bool) in ``[low, high]``; else ``ValueError``
    ``"{what} must be {meaning} in [low, high]{unit}, got ..."``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"{what} must be {meaning} in [{low}, {high}]{unit}, got {value!r}")
    return float(value)


def probability(value: Any, what: str) -> float:
    """``value`` as a ``float`` if it is a probability in [0, 1]; else ``ValueError`` naming ``what``."""
    return number_in(value, what, 0, 1, "a probability")


def number_pair(value: Any, what: str, low: float, high: float | None = None) -> list[float]:
    """``[a, b]`` from a ``(low, high)`` pair of finite numbers with ``low <= a <= b (<= high)``.

    Raises
    ------
    TypeError
        ``value`` is not a pair of numbers.
    ValueError
        The pair is out of order or out of bounds.
    """
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a (low, high) pair of numbers, got {value!r}") from None
    if not (math.isfinite(a) and math.isfinite(b) and low <= a <= b and (high is None or b <= high)):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be a (low, high) pair with low <= high within {bound}, got {value!r}")
    return [a, b]


def one_of(value: Any, choices: tuple[Any, ...], what: str) -> Any:
    """``value`` if it is one of ``choices``; else ``ValueError`` naming ``what`` and listing the choices."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
