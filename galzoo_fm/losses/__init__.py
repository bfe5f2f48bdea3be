"""Pretraining and finetuning losses, one per module, all implementing :class:`Objective`.

=============  ===========================  ======  ===========  ==========  ==========
name           class                        views   needs votes  uses votes  EMA target
=============  ===========================  ======  ===========  ==========  ==========
``dirichlet``  :class:`DirichletObjective`  1       yes          yes         no
``byol``       :class:`ByolObjective`       2       no           no          yes
``spectral``   :class:`SpectralObjective`   2       no           no          no
``hybrid``     :class:`HybridObjective`     2       no           yes         yes
=============  ===========================  ======  ===========  ==========  ==========

Build one by name with ``galzoo_fm.get_loss(name, encoder=..., schema=..., **hyperparameters)``.
"""

from __future__ import annotations

from .base import LossOutput, Objective, resolve_question_groups
from .builtin import objective_metadata
from .byol import ByolObjective, byol_loss, cosine_tau, ema_update_
from .dirichlet import DirichletObjective, dirichlet_loss, dirichlet_multinomial_nll, expected_vote_fractions
from .hybrid import HybridObjective, hybrid_combine
from .spectral import SpectralObjective, spectral_contrastive_loss

__all__ = [
    "ByolObjective",
    "DirichletObjective",
    "HybridObjective",
    "LossOutput",
    "Objective",
    "SpectralObjective",
    "byol_loss",
    "cosine_tau",
    "dirichlet_loss",
    "dirichlet_multinomial_nll",
    "ema_update_",
    "expected_vote_fractions",
    "hybrid_combine",
    "objective_metadata",
    "resolve_question_groups",
    "spectral_contrastive_loss",
]
