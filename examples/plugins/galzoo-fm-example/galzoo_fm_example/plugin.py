"""The plugin module named by this package's ``galzoo_fm`` entry point."""

from __future__ import annotations

import torch
from torch import nn

import galzoo_fm


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


@galzoo_fm.hookimpl
def register_backbones(register):
    register("example_smallcnn", smallcnn, description="small CNN from the example plugin")


@galzoo_fm.hookimpl
def register_commands(cli):
    import click

    @cli.command(name="example-hello")
    @click.option("--name", default="galaxy")
    def example_hello(name):
        """Say hello (a command added by the example plugin)."""
        click.echo(f"hello, {name}, from galzoo-fm-example")
