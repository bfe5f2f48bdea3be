"""Spectral contrastive loss (HaoChen, Wei, Gaidon & Ma 2021, NeurIPS, arXiv 2106.04156).

``L(f) = −2·E[f(x)ᵀf(x⁺)] + E[(f(x)ᵀf(x′))²]`` over positive pairs ``(x, x⁺)`` (two views of one galaxy)
and independent pairs ``(x, x′)``: minimising it makes ``f`` a spectral embedding of the augmentation
graph. Implemented with the conventions of the authors' code (github.com/jhaochenz96/
spectral_contrastive_learning, ``models/spectral.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from galzoo_fm.losses.base import LossOutput, Objective
from galzoo_fm.losses.heads import spectral_projector

__all__ = ["SpectralObjective", "spectral_contrastive_loss"]


def _clip_norm(z: Tensor, mu: float) -> Tensor:
    """Rows longer than √μ rescaled to norm √μ (shorter rows unchanged)."""
    root = math.sqrt(mu)
    norm = torch.linalg.vector_norm(z, dim=1, keepdim=True)
    return torch.where(norm < root, z, F.normalize(z, dim=1) * root)


def _gather_enabled(gather: bool) -> bool:
    return (
        gather
        and torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def spectral_terms(z1: Tensor, z2: Tensor, mu: float = 1.0, *, gather: bool = True) -> tuple[Tensor, Tensor]:
    """The positive and negative terms of :func:`spectral_contrastive_loss`, each divided by ``μ``."""
    for what, t in (("z1", z1), ("z2", z2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both have shape (B, d), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    if not mu > 0:
        raise ValueError(f"mu must be positive, got {mu!r}")
    distributed = _gather_enabled(gather)
    batch = z1.shape[0]
    if batch < 2 and not distributed:
        raise ValueError(f"the spectral contrastive loss needs at least 2 pairs for negatives, got {batch}")
    dtype = torch.promote_types(z1.dtype, torch.float32)
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z1 = _clip_norm(z1.to(dtype), mu)
        z2 = _clip_norm(z2.to(dtype), mu)
        positive = -2.0 * (z1 * z2).sum(dim=1).mean()
        offset = 0
        z2_all = z2
        if distributed:
            from torch.distributed.nn.functional import all_gather

            parts = all_gather(z2)  # differentiable: gradients flow back to every rank's z2
            offset = sum(p.shape[0] for p in parts[: torch.distributed.get_rank()])
            z2_all = torch.cat(parts, dim=0)
        total = z2_all.shape[0]
        square = (z1 @ z2_all.T) ** 2  # (B, B_total)
        rows = torch.arange(batch, device=z1.device)
        diagonal = square[rows, rows + offset].sum()
        negative = (square.sum() - diagonal) / (batch * (total - 1))
    return positive / mu, negative / mu


def spectral_contrastive_loss(z1: Tensor, z2: Tensor, mu: float = 1.0, *, gather: bool = True) -> Tensor:
    r"""Spectral contrastive loss of a batch of paired projections.

    With rows of ``z1``, ``z2`` longer than √μ first rescaled to norm √μ,

    .. math::

        L = \frac{1}{\mu}\Big[-\frac{2}{B}\sum_i z_{1,i}\cdot z_{2,i}
            + \frac{1}{B(B-1)}\sum_{i\ne j} (z_{1,i}\cdot z_{2,j})^2\Big]

    exactly as the authors' code (negatives are the off-diagonal pairs only). Computed in float32 with
    autocast disabled (float64 inputs stay float64).

    Under an initialised :mod:`torch.distributed` process group (and ``gather=True``), ``z2`` is gathered
    from all ranks with the differentiable :func:`torch.distributed.nn.functional.all_gather`, so each
    rank's ``z1`` rows meet the negatives of the global batch; the positive term stays local. With equal
    per-rank batch sizes (use ``drop_last=True``) the mean of the per-rank losses equals the loss of the
    concatenated global batch, and DistributedDataParallel's gradient averaging gives exactly its gradient.

    Parameters
    ----------
    z1, z2 : torch.Tensor
        Projections of the two views, shape ``(B, d)``; row ``i`` of each is the same galaxy.
    mu : float
        μ > 0 (1 in the paper's CIFAR experiments, 10 for ImageNet).
    gather : bool
        Gather negatives across ranks when running distributed.

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Examples
    --------
    >>> import torch
    >>> from galzoo_fm.losses import spectral_contrastive_loss
    >>> z = torch.eye(2)
    >>> spectral_contrastive_loss(z, z)  # orthogonal unit rows: −2 + 0
    tensor(-2.)
    """
    positive, negative = spectral_terms(z1, z2, mu, gather=gather)
    return positive + negative


class SpectralObjective(Objective):
    """Spectral contrastive learning on two views: encoder → projector → :func:`spectral_contrastive_loss`.

    Parameters
    ----------
    encoder : torch.nn.Module
        Online encoder ``(N, C, H, W)`` → ``(N, num_features)``.
    schema : optional
        Accepted for a uniform interface; unused.
    mu : float
        μ (default 1).
    projection_hidden : int
        Projector hidden width (default 2048).
    projection_dim : int
        Projector output width (default 1000, the official CIFAR-10 configuration).
    gather : bool
        Gather negatives across ranks under :mod:`torch.distributed` (default True).

    References
    ----------
    HaoChen, Wei, Gaidon & Ma 2021, "Provable Guarantees for Self-Supervised Deep Learning with Spectral
    Contrastive Loss", NeurIPS, arXiv 2106.04156.
    """

    n_views = 2
    needs_votes = False
    uses_votes = False
    has_ema_target = False

    def __init__(self, encoder: nn.Module, *, schema: Any = None, mu: float = 1.0,
                 projection_hidden: int = 2048, projection_dim: int = 1000, gather: bool = True):
        super().__init__(encoder, schema=schema)
        if not mu > 0:
            raise ValueError(f"mu must be positive, got {mu!r}")
        self.mu = float(mu)
        self.gather = bool(gather)
        self.projector = spectral_projector(self.num_features, projection_hidden, projection_dim)

    def compute(self, views: list[Tensor], votes: Tensor | None) -> LossOutput:
        z1, z2 = (self.projector(self.encoder(v)) for v in views)
        positive, negative = spectral_terms(z1, z2, self.mu, gather=self.gather)
        loss = positive + negative
        return LossOutput(loss, {"loss": loss.detach(), "positive": positive.detach(),
                                 "negative": negative.detach()})
