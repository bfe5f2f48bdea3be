"""Optimizers (AdamW, LARS) and the cosine learning-rate schedule with linear warm-up."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from galzoo_fm._utils.checks import one_of

__all__ = ["LARS", "WarmupCosine", "build_optimizer", "parameter_groups"]

OPTIMIZERS = ("adamw", "lars", "sgd")


class LARS(torch.optim.Optimizer):
    """Layer-wise Adaptive Rate Scaling: SGD with momentum and a per-tensor trust ratio.

    For each parameter tensor ``w`` with gradient ``g`` (groups with ``lars_adapt=False`` skip the
    adaptation and the weight decay, as for biases and normalisation parameters in BYOL)::

        g ← g + weight_decay·w
        g ← g · η·‖w‖ / ‖g‖          (when both norms are positive)
        v ← momentum·v + g
        w ← w − lr·v

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    lr : float
        Learning rate.
    momentum : float
        Default 0.9.
    weight_decay : float
        Default 0.
    trust_coefficient : float
        η (default 0.001).

    References
    ----------
    You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks", arXiv 1708.03888;
    Grill et al. 2020 (BYOL), who train with LARS and exclude biases and BatchNorm parameters.
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 0.001):
        if not lr >= 0 or not 0 <= momentum < 1 or not weight_decay >= 0 or not trust_coefficient > 0:
            raise ValueError(f"invalid LARS settings lr={lr}, momentum={momentum}, weight_decay={weight_decay}, "
                             f"trust_coefficient={trust_coefficient}")
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                    "trust_coefficient": trust_coefficient, "lars_adapt": True}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["lars_adapt"]:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(g)
                    ratio = torch.where((w_norm > 0) & (g_norm > 0),
                                        group["trust_coefficient"] * w_norm / g_norm, torch.ones_like(w_norm))
                    g = g * ratio
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(g).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def parameter_groups(params: Iterable[nn.Parameter], weight_decay: float,
                     lr_scales: Mapping[int, float] | None = None) -> list[dict[str, Any]]:
    """Weights (decayed, LARS-adapted) and 1-d tensors (biases, norms: neither), each split further by the
    learning-rate multiplier ``lr_scales[id(p)]`` (default 1; groups with another carry ``lr_scale``)."""
    scales = lr_scales or {}
    by_scale: dict[float, list[nn.Parameter]] = {1.0: []}
    for p in params:
        by_scale.setdefault(float(scales.get(id(p), 1.0)), []).append(p)
    groups = []
    for scale, members in sorted(by_scale.items()):
        extra = {} if scale == 1.0 else {"lr_scale": scale}
        decay = [p for p in members if p.ndim > 1]
        plain = [p for p in members if p.ndim <= 1]
        if decay or scale == 1.0:
            groups.append({"params": decay, "weight_decay": weight_decay, "lars_adapt": True, **extra})
        if plain:
            groups.append({"params": plain, "weight_decay": 0.0, "lars_adapt": False, **extra})
    return groups


def build_optimizer(params: Iterable[nn.Parameter], name: str = "adamw", *, lr: float = 1e-3,
                    weight_decay: float = 0.05, betas: tuple[float, float] = (0.9, 0.999), momentum: float = 0.9,
                    trust_coefficient: float = 0.001, lr_scales: Mapping[int, float] | None = None
                    ) -> torch.optim.Optimizer:
    """AdamW, LARS or SGD over ``parameter_groups`` (no weight decay on biases and normalisation layers).

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        What to train, e.g. ``objective.optimizer_parameters()``.
    name : {"adamw", "lars", "sgd"}
        SGD (with ``momentum``) is mostly for linear heads and tests: its update is linear in the gradient.
    lr, weight_decay : float
    betas : (float, float)
        AdamW only.
    momentum : float
        LARS and SGD.
    trust_coefficient : float
        LARS only.
    lr_scales : mapping of int to float, optional
        Learning-rate multipliers ``{id(parameter): factor}`` (``objective.lr_scales()``); the warm-up and
        cosine schedule scale each group's own rate.
    """
    one_of(name, OPTIMIZERS, "optimizer")
    groups = parameter_groups(params, weight_decay, lr_scales)
    for g in groups:
        if "lr_scale" in g:
            g["lr"] = lr * g.pop("lr_scale")
    if name == "adamw":
        for g in groups:
            g.pop("lars_adapt")
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    if name == "sgd":
        for g in groups:
            g.pop("lars_adapt")
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient)


class WarmupCosine:
    """Linear warm-up to the base learning rate, then cosine decay to ``min_lr_ratio`` times it.

    ``lr(k) = base·(k + 1)/W`` for ``k < W``, else
    ``base·(r + (1 − r)·(1 + cos(π(k − W)/(K − W)))/2``, for step ``k`` of ``K`` with ``W`` warm-up steps
    and ``r = min_lr_ratio``. Call :meth:`step` after each optimizer step.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    total_steps : int
    warmup_steps : int
    min_lr_ratio : float
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                 min_lr_ratio: float = 0.0):
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps or not 0 <= min_lr_ratio <= 1:
            raise ValueError(f"invalid schedule: total_steps={total_steps}, warmup_steps={warmup_steps}, "
                             f"min_lr_ratio={min_lr_ratio}")
        self.optimizer = optimizer
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_lr_ratio = float(min_lr_ratio)
        self.base_lrs = [float(g.setdefault("initial_lr", g["lr"])) for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rate at ``step``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def _apply(self) -> None:
        f = self.factor(self.last_step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * f

    def step(self) -> None:
        """Advance one step and set the learning rates."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """Current learning rate of each group."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"last_step": self.last_step, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "min_lr_ratio": self.min_lr_ratio, "base_lrs": self.base_lrs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.last_step = int(state["last_step"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self._apply()
