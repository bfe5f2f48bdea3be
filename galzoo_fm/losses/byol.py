"""BYOL: Bootstrap Your Own Latent (Grill et al. 2020, NeurIPS, arXiv 2006.07733).

An online network (encoder → projector → predictor) predicts the projection that a slowly moving
target network (an exponential moving average of the online encoder and projector) gives for another
view of the same galaxy. No negatives are used.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from galzoo_fm._utils.checks import nonnegative_int, one_of, positive_int
from galzoo_fm.losses.base import LossOutput, Objective
from galzoo_fm.losses.heads import byol_predictor, byol_projector

__all__ = ["ByolObjective", "byol_loss", "cosine_tau", "ema_update_"]

_TAU_SCHEDULES = ("cosine", "constant")


def byol_loss(p: Tensor, z: Tensor) -> Tensor:
    """BYOL regression loss ``mean_i (2 − 2·cos(p_i, z_i))`` = mean squared distance of the unit vectors.

    Computed in float32 (autocast disabled). ``z`` is detached: it is the target network's projection.

    Parameters
    ----------
    p : torch.Tensor
        Online predictions, shape ``(N, d)``.
    z : torch.Tensor
        Target projections of the other view, shape ``(N, d)``.

    Returns
    -------
    torch.Tensor
        Scalar in [0, 4].

    References
    ----------
    Grill et al. 2020, arXiv 2006.07733, eq. 2.

    Examples
    --------
    >>> import torch
    >>> from galzoo_fm.losses import byol_loss
    >>> byol_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]]))
    tensor(2.)
    """
    for what, t in (("p", p), ("z", z)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if p.ndim != 2 or p.shape != z.shape:
        raise ValueError(f"p and z must both have shape (N, d), got {tuple(p.shape)} and {tuple(z.shape)}")
    dtype = torch.promote_types(p.dtype, torch.float32)
    with torch.autocast(device_type=p.device.type, enabled=False):
        p = F.normalize(p.to(dtype), dim=1)
        z = F.normalize(z.detach().to(dtype), dim=1)
        return (2.0 - 2.0 * (p * z).sum(dim=1)).mean()


def cosine_tau(step: int, total_steps: int, tau_base: float) -> float:
    """BYOL's EMA rate schedule ``τ_k = 1 − (1 − τ_base)(cos(πk/K) + 1)/2`` (Grill et al. 2020, sec. 3.2).

    Parameters
    ----------
    step : int
        Step ``k`` (0-based); steps past ``total_steps`` give 1.
    total_steps : int
        Total number of steps ``K``.
    tau_base : float
        Initial rate ``τ_0`` in [0, 1].

    Returns
    -------
    float
        ``τ_k``: ``tau_base`` at ``k = 0``, 1 at ``k = K``.

    Examples
    --------
    >>> from galzoo_fm.losses import cosine_tau
    >>> cosine_tau(0, 100, 0.99), cosine_tau(100, 100, 0.99)
    (0.99, 1.0)
    """
    positive_int(total_steps, "total_steps")
    nonnegative_int(step, "step")
    if not 0.0 <= tau_base <= 1.0:
        raise ValueError(f"tau_base must be in [0, 1], got {tau_base!r}")
    frac = min(step, total_steps) / total_steps
    return 1.0 - (1.0 - tau_base) * (math.cos(math.pi * frac) + 1.0) / 2.0


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """In place, ``θ_target ← τ·θ_target + (1 − τ)·θ_online`` for every parameter.

    Buffers (BatchNorm running statistics) are not averaged: the target runs in train mode and keeps its
    own statistics.

    Raises
    ------
    ValueError
        If the two modules have different parameter lists.
    """
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    same = len(t_params) == len(o_params) and all(
        t.shape == o.shape for t, o in zip(t_params, o_params, strict=True)
    )
    if not same:
        raise ValueError("target and online modules must have the same parameters to EMA-update")
    if not t_params:
        return
    torch._foreach_mul_(t_params, tau)
    torch._foreach_add_(t_params, [o.detach() for o in o_params], alpha=1.0 - tau)


class ByolObjective(Objective):
    """BYOL on two views: symmetric ``2 − 2·cos`` between online predictions and target projections.

    ``L = byol_loss(q(g(f(v1))), g'(f'(v2))) + byol_loss(q(g(f(v2))), g'(f'(v1)))`` (the paper's
    symmetrised loss, range [0, 8]), where ``f, g, q`` are the online encoder, projector and predictor and
    ``f', g'`` the EMA target. Each view is passed through the networks separately (per-view BatchNorm
    statistics, as in the paper).

    The target (``target_encoder``, ``target_projector``) is a deep copy of the online encoder and
    projector with ``requires_grad=False``, run under :func:`torch.no_grad`. It follows the objective's
    ``train()`` / ``eval()`` mode, so during training its BatchNorm layers use batch statistics, as in the
    paper's implementation. Call :meth:`update_target` after every optimizer step.

    Parameters
    ----------
    encoder : torch.nn.Module
        Online encoder ``(N, C, H, W)`` → ``(N, num_features)``.
    schema : optional
        Accepted for a uniform interface; unused.
    projection_hidden : int
        Hidden width of the projector (default 4096, the paper's).
    projection_dim : int
        Output width of projector and predictor (default 256).
    prediction_hidden : int
        Hidden width of the predictor (default 4096).
    tau_base : float
        Initial EMA rate ``τ_0`` of the cosine schedule (default 0.996, the paper's).
    tau_schedule : {"cosine", "constant"}
        ``"cosine"`` (default, the paper's) raises τ from ``τ_0`` to 1 over training; ``"constant"`` keeps
        ``τ = τ_0`` throughout.
    predictor_lr_scale : float
        Learning-rate multiplier of the predictor (default 1). Tian et al. 2021 ("Understanding
        self-supervised learning dynamics without contrastive pairs", arXiv 2102.06810) find a faster
        predictor (e.g. 10×) helps.

    References
    ----------
    Grill et al. 2020, "Bootstrap Your Own Latent", NeurIPS, arXiv 2006.07733.
    """

    n_views = 2
    needs_votes = False
    uses_votes = False
    has_ema_target = True

    def __init__(self, encoder: nn.Module, *, schema: Any = None, projection_hidden: int = 4096,
                 projection_dim: int = 256, prediction_hidden: int = 4096, tau_base: float = 0.996,
                 tau_schedule: str = "cosine", predictor_lr_scale: float = 1.0):
        super().__init__(encoder, schema=schema)
        if not 0.0 <= tau_base <= 1.0:
            raise ValueError(f"tau_base must be in [0, 1], got {tau_base!r}")
        if not predictor_lr_scale > 0:
            raise ValueError(f"predictor_lr_scale must be positive, got {predictor_lr_scale!r}")
        self.tau_schedule = one_of(tau_schedule, _TAU_SCHEDULES, "tau_schedule")
        self.predictor_lr_scale = float(predictor_lr_scale)
        self.tau_base = float(tau_base)
        self.tau = float(tau_base)
        self.projector = byol_projector(self.num_features, projection_hidden, projection_dim)
        self.predictor = byol_predictor(projection_dim, prediction_hidden)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self.target_parameters():
            p.requires_grad_(False)

    def target_parameters(self) -> list[nn.Parameter]:
        """Parameters of the EMA target (never trained by the optimizer)."""
        return [*self.target_encoder.parameters(), *self.target_projector.parameters()]

    def optimizer_parameters(self) -> list[nn.Parameter]:
        """Online encoder, projector and predictor parameters (and any extra heads); not the target."""
        target = {id(p) for p in self.target_parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in target]

    def lr_scales(self) -> dict[int, float]:
        """``{id(p): predictor_lr_scale}`` for the predictor's parameters when the scale is not 1."""
        if self.predictor_lr_scale == 1.0:
            return {}
        return {id(p): self.predictor_lr_scale for p in self.predictor.parameters()}

    def byol_terms(self, views: list[Tensor]) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """The symmetric BYOL loss, and the online encoder's features ``(N, num_features)`` and online
        projections ``(N, projection_dim)`` of each view."""
        features = [self.encoder(v) for v in views]
        projections = [self.projector(h) for h in features]
        predictions = [self.predictor(z) for z in projections]
        with torch.no_grad():
            targets = [self.target_projector(self.target_encoder(v)) for v in views]
        loss = byol_loss(predictions[0], targets[1]) + byol_loss(predictions[1], targets[0])
        return loss, features, projections

    def compute(self, views: list[Tensor], votes: Tensor | None) -> LossOutput:
        loss, _, _ = self.byol_terms(views)
        return LossOutput(loss, {"loss": loss.detach(), "tau": self.tau})

    def update_target(self, step: int, total_steps: int) -> None:
        """EMA-update the target with ``τ_k`` of the schedule (``k = step``, ``K = total_steps``)."""
        self.tau = cosine_tau(step, total_steps, self.tau_base) if self.tau_schedule == "cosine" else self.tau_base
        ema_update_(self.target_encoder, self.encoder, self.tau)
        ema_update_(self.target_projector, self.projector, self.tau)
