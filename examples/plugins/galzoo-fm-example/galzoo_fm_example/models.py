"""The example plugin's models: a small CNN backbone and a VICReg-style loss (these import torch).

The plugin module (:mod:`galzoo_fm_example.plugin`) imports this one only when a backbone or loss is built,
so that installing the plugin does not slow down every ``galzoo-fm`` command.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from galzoo_fm.losses import LossOutput, Objective


class SmallCNN(nn.Module):
    """A small convolutional backbone: ``(N, in_chans, H, W)`` images to ``(N, width * 2**(depth-1))`` features.

    Parameters
    ----------
    in_chans : int
        Number of input bands.
    width : int
        Channels of the first stage; doubled at each following stage.
    depth : int
        Number of stride-2 conv / BatchNorm / ReLU stages.
    """

    def __init__(self, in_chans: int = 3, width: int = 16, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_chans
        for i in range(depth):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.in_chans = in_chans
        self.num_features = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled features, shape ``(N, num_features)``."""
        return self.features(x).mean(dim=(2, 3))


def smallcnn(*, in_chans: int = 3, image_size=None, pretrained=None, width: int = 16, depth: int = 3) -> SmallCNN:
    """Factory for :class:`SmallCNN`, with the keyword arguments galzoo_fm passes to every backbone."""
    if pretrained:
        raise ValueError("example_smallcnn has no pretrained weights; use pretrained=None")
    return SmallCNN(in_chans=in_chans, width=width, depth=depth)


class VarianceInvariance(Objective):
    """Invariance + variance terms of VICReg (Bardes et al. 2022, arXiv 2105.04906), no projector.

    ``L = mean ||z1 - z2||² + w · Σ_views mean_d max(0, 1 - std_d(z))``: the two views of a galaxy should
    embed alike, while each feature keeps a spread across the batch (which prevents collapse).

    Parameters
    ----------
    encoder : torch.nn.Module
        Online encoder with ``num_features``.
    schema : ignored
        Accepted for interface compatibility; this loss uses no votes.
    variance_weight : float
        ``w`` (default 1).
    """

    n_views = 2
    needs_votes = False
    uses_votes = False
    has_ema_target = False

    def __init__(self, encoder: nn.Module, *, schema=None, variance_weight: float = 1.0):
        super().__init__(encoder)
        self.variance_weight = float(variance_weight)

    def compute(self, views, votes):
        z1, z2 = (self.encoder(v) for v in views)
        invariance = F.mse_loss(z1, z2)
        variance = sum(F.relu(1 - torch.sqrt(z.var(dim=0) + 1e-4)).mean() for z in (z1, z2))
        loss = invariance + self.variance_weight * variance
        return LossOutput(loss, {"loss": loss.detach(), "invariance": invariance.detach()})
