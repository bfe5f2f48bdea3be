"""Heads that sit on an encoder's pooled representation ``(N, D)``.

* :class:`MLPHead` — Linear, BatchNorm, ReLU, Linear (optionally a final BatchNorm): the BYOL projector
  and predictor (Grill et al. 2020) and the spectral-contrastive projector (HaoChen et al. 2021);
* :func:`byol_projector`, :func:`byol_predictor`, :func:`spectral_projector` — those heads with their
  papers' sizes;
* :class:`DirichletHead` — dropout, Linear to the number of answers, and a scaled sigmoid giving
  Dirichlet concentrations for Galaxy Zoo vote counts (Walmsley et al. 2022, GZ DECaLS).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from galzoo_fm._utils.checks import positive_int

__all__ = ["DirichletHead", "MLPHead", "byol_predictor", "byol_projector", "spectral_projector"]


class MLPHead(nn.Module):
    """Two-layer MLP head: Linear(hidden), BatchNorm, ReLU, Linear(out) [, BatchNorm].

    Linear layers followed by a BatchNorm have no bias (the BatchNorm's shift makes it redundant).

    Parameters
    ----------
    in_features : int
        Input width ``D``.
    hidden_features : int
        Hidden width.
    out_features : int
        Output width.
    batch_norm_output : bool
        Append a BatchNorm1d to the output (the spectral-contrastive projector has one, BYOL's do not).

    Notes
    -----
    Shapes: ``(N, in_features)`` → ``(N, out_features)``.
    """

    def __init__(self, in_features: int, hidden_features: int, out_features: int, *,
                 batch_norm_output: bool = False):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.hidden_features = positive_int(hidden_features, "hidden_features")
        self.out_features = positive_int(out_features, "out_features")
        layers: list[nn.Module] = [
            nn.Linear(in_features, hidden_features, bias=False),
            nn.BatchNorm1d(hidden_features),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_features, out_features, bias=not batch_norm_output),
        ]
        if batch_norm_output:
            layers.append(nn.BatchNorm1d(out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(N, in_features)`` to ``(N, out_features)``."""
        return self.net(x)


def byol_projector(in_features: int, hidden_features: int = 4096, out_features: int = 256) -> MLPHead:
    """BYOL projector g: Linear 4096, BN, ReLU, Linear 256 (Grill et al. 2020, sec. 3.3)."""
    return MLPHead(in_features, hidden_features, out_features)


def byol_predictor(features: int = 256, hidden_features: int = 4096) -> MLPHead:
    """BYOL predictor q: same shape as the projector, ``features`` → 4096 → ``features``."""
    return MLPHead(features, hidden_features, features)


def spectral_projector(in_features: int, hidden_features: int = 2048, out_features: int = 1000) -> MLPHead:
    """Spectral-contrastive projector: Linear 2048, BN, ReLU, Linear, BN (HaoChen et al. 2021).

    The output width 1000 is that of the official code's CIFAR-10 configuration
    (``resnet18_cifar_variant1_mlp1000_norelu``); "norelu" means no ReLU after the final BatchNorm.
    """
    return MLPHead(in_features, hidden_features, out_features, batch_norm_output=True)


class DirichletHead(nn.Module):
    """Dirichlet concentrations for Galaxy Zoo answers: dropout, Linear, ``min + scale·sigmoid``.

    Each answer ``a`` gets a concentration ``α_a = min_concentration + scale·sigmoid(x_a)``, by default
    ``1 + 100·sigmoid(x)`` as in Zoobot (Walmsley et al. 2022, GZ DECaLS): bounded in (1, 101), so the
    Dirichlet is never sharper than what ~100 volunteers could support and never U-shaped. The expected
    vote fraction of an answer is ``α_a / Σ_{a' in its question} α_a'``.

    Parameters
    ----------
    in_features : int
        Input width ``D`` (the encoder's ``num_features``).
    n_answers : int
        Number of answers over all questions of the schema.
    dropout : float
        Dropout probability before the Linear layer (Zoobot's default 0.2).
    scale : float
        Multiplier of the sigmoid (default 100).
    min_concentration : float
        Lower bound of the concentrations (default 1).

    Notes
    -----
    Shapes: ``(N, in_features)`` → ``(N, n_answers)`` positive concentrations, computed in float32 (also
    under bf16 autocast).
    """

    def __init__(self, in_features: int, n_answers: int, *, dropout: float = 0.2, scale: float = 100.0,
                 min_concentration: float = 1.0):
        super().__init__()
        positive_int(in_features, "in_features")
        positive_int(n_answers, "n_answers")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        if not min_concentration > 0:
            raise ValueError(f"min_concentration must be positive, got {min_concentration!r}")
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, n_answers)
        self.scale = float(scale)
        self.min_concentration = float(min_concentration)

    def forward(self, x: Tensor) -> Tensor:
        """Concentrations ``(N, n_answers)`` (float32) from features ``(N, in_features)``."""
        logits = self.linear(self.dropout(x))
        return self.min_concentration + self.scale * torch.sigmoid(logits.float())

    def extra_repr(self) -> str:
        return f"concentration = {self.min_concentration:g} + {self.scale:g}·sigmoid(x)"
