"""The built-in losses, registered through the same ``register_losses`` hook as third-party plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..hookspecs import hookimpl
from .base import Objective
from .byol import ByolObjective
from .dirichlet import DirichletObjective
from .hybrid import HybridObjective
from .spectral import SpectralObjective

__all__ = ["register_losses"]

_BUILTIN: dict[str, tuple[type[Objective], str, str]] = {
    "dirichlet": (DirichletObjective, "Dirichlet-multinomial loss on Galaxy Zoo vote counts",
                  "Walmsley et al. 2022, MNRAS 509, 3966"),
    "byol": (ByolObjective, "BYOL: two views, EMA target, symmetric 2 − 2·cos",
             "Grill et al. 2020, arXiv 2006.07733"),
    "spectral": (SpectralObjective, "Spectral contrastive loss (negatives gathered across ranks)",
                 "HaoChen et al. 2021, arXiv 2106.04156"),
    "hybrid": (HybridObjective, "BYOL + Dirichlet head, supervised term rescaled to the contrastive one",
               "Walmsley et al. 2022, arXiv 2206.11927"),
}


def objective_metadata(cls: type[Objective]) -> dict[str, Any]:
    """What an :class:`~galzoo_fm.losses.Objective` subclass consumes, as registry metadata."""
    return {
        "n_views": cls.n_views,
        "needs_votes": cls.needs_votes,
        "uses_votes": cls.uses_votes or cls.needs_votes,
        "has_ema_target": cls.has_ema_target,
    }


@hookimpl
def register_losses(register: Callable[..., None]) -> None:
    """Register ``dirichlet``, ``byol``, ``spectral`` and ``hybrid``."""
    for name, (cls, description, reference) in _BUILTIN.items():
        register(name, cls, description=description, reference=reference, **objective_metadata(cls))
