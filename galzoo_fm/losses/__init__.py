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

from galzoo_fm._utils.lazy import lazy_exports

# the names are imported from their modules on first use: the built-in plugin module
# (galzoo_fm.losses.builtin) is loaded with every ``galzoo-fm`` command and must not import torch
_WHERE = {
    "ByolObjective": "byol",
    "DirichletObjective": "dirichlet",
    "HybridObjective": "hybrid",
    "LossOutput": "base",
    "Objective": "base",
    "SpectralObjective": "spectral",
    "byol_loss": "byol",
    "cosine_tau": "byol",
    "dirichlet_loss": "dirichlet",
    "dirichlet_multinomial_nll": "dirichlet",
    "ema_update_": "byol",
    "expected_vote_fractions": "dirichlet",
    "hybrid_combine": "hybrid",
    "objective_metadata": "builtin",
    "resolve_question_groups": "base",
    "spectral_contrastive_loss": "spectral",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
