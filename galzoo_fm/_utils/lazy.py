"""Names of a package imported from its modules on first use (PEP 562), so that importing the package is cheap.

The plugin modules load with every ``galzoo-fm`` command, and through them the packages ``backbones``,
``losses``, ``datasets`` and ``surveys``: their public names must not import torch, timm or the survey
adapters until they are used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str], exported: Iterable[str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for names living in its submodules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    where : mapping of str to str
        Public name → submodule that defines it: relative to ``package``, or a whole dotted path
        (``"galzoo_fm.cutout"``) for a name the package hands on from elsewhere.
    exported : iterable of str
        The package's ``__all__``.

    Examples
    --------
    >>> __getattr__, __dir__ = lazy_exports("galzoo_fm.losses", {"byol_loss": "byol"}, ["byol_loss"])
    >>> __getattr__("byol_loss").__name__
    'byol_loss'
    """
    where = dict(where)
    names = sorted(set(exported) | set(where))

    def __getattr__(name: str) -> Any:
        if name in where:
            module = where[name]
            return getattr(importlib.import_module(module if module.startswith("galzoo_fm.") else
                                                   f"{package}.{module}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
