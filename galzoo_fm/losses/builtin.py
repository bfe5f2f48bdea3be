"""The built-in losses, registered through the same ``register_losses`` hook as third-party plugins.

This module is loaded with the plugins by every ``galzoo-fm`` command, so it does not import torch: each
loss is registered with a factory that imports its class when the loss is built, and with the metadata
(views, votes, EMA target) written out here. A test checks that metadata against the classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from galzoo_fm.hookspecs import hookimpl

if TYPE_CHECKING:
    from galzoo_fm.losses.base import Objective

__all__ = ["objective_metadata", "register_losses"]

#: name: (module, class, description, reference, metadata as :func:`objective_metadata` gives it)
_BUILTIN: dict[str, tuple[str, str, str, str, dict[str, Any]]] = {
    "dirichlet": ("dirichlet", "DirichletObjective", "Dirichlet-multinomial loss on Galaxy Zoo vote counts",
                  "Walmsley et al. 2022, MNRAS 509, 3966",
                  {"n_views": 1, "needs_votes": True, "uses_votes": True, "has_ema_target": False}),
    "byol": ("byol", "ByolObjective", "BYOL: two views, EMA target, symmetric 2 − 2·cos",
             "Grill et al. 2020, arXiv 2006.07733",
             {"n_views": 2, "needs_votes": False, "uses_votes": False, "has_ema_target": True}),
    "spectral": ("spectral", "SpectralObjective", "Spectral contrastive loss (negatives gathered across ranks)",
                 "HaoChen et al. 2021, arXiv 2106.04156",
                 {"n_views": 2, "needs_votes": False, "uses_votes": False, "has_ema_target": False}),
    "hybrid": ("hybrid", "HybridObjective", "BYOL + Dirichlet head, supervised term rescaled to the contrastive one",
               "Walmsley et al. 2022, arXiv 2206.11927",
               {"n_views": 2, "needs_votes": False, "uses_votes": True, "has_ema_target": True}),
}


def objective_metadata(cls: type[Objective]) -> dict[str, Any]:
    """What an :class:`~galzoo_fm.losses.Objective` subclass consumes, as registry metadata."""
    return {
        "n_views": cls.n_views,
        "needs_votes": cls.needs_votes,
        "uses_votes": cls.uses_votes or cls.needs_votes,
        "has_ema_target": cls.has_ema_target,
    }


def _lazy_loss(module: str, cls: str) -> Callable[..., Any]:
    def factory(**kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"galzoo_fm.losses.{module}"), cls)(**kwargs)

    factory.__name__ = cls
    factory.__qualname__ = cls
    factory.__doc__ = f"Build a :class:`galzoo_fm.losses.{cls}` (imports torch on first use)."
    return factory


@hookimpl
def register_losses(register: Callable[..., None]) -> None:
    """Register ``dirichlet``, ``byol``, ``spectral`` and ``hybrid``."""
    for name, (module, cls, description, reference, metadata) in _BUILTIN.items():
        register(name, _lazy_loss(module, cls), description=description, reference=reference, **metadata)
