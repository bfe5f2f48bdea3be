"""Small argument checks shared across modules (no heavy imports)."""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["OutputExistsError", "one_of", "positive_int"]


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


def positive_int(value: Any, what: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (Python or NumPy, not bool); else ``ValueError``
    naming ``what``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def one_of(value: Any, choices: tuple[Any, ...], what: str) -> Any:
    """``value`` if it is one of ``choices``; else ``ValueError`` naming ``what`` and listing the choices."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
