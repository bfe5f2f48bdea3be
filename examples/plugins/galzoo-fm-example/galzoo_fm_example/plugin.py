"""The plugin module named by this package's ``galzoo_fm`` entry point: a backbone, a loss and a command.

galzoo_fm imports this module with every ``galzoo-fm`` command (to find the plugin's commands), so it
imports nothing heavy: the factories import torch and the models from :mod:`galzoo_fm_example.models`
when a backbone or loss is actually built.
"""

from __future__ import annotations

import galzoo_fm


def smallcnn(*, in_chans: int = 3, image_size=None, pretrained=None, width: int = 16, depth: int = 3):
    """Build the ``example_smallcnn`` backbone (a :class:`~galzoo_fm_example.models.SmallCNN`)."""
    from .models import smallcnn as build

    return build(in_chans=in_chans, image_size=image_size, pretrained=pretrained, width=width, depth=depth)


def variance_invariance(encoder, *, schema=None, variance_weight: float = 1.0):
    """Build the ``example_vic`` loss (a :class:`~galzoo_fm_example.models.VarianceInvariance`)."""
    from .models import VarianceInvariance

    return VarianceInvariance(encoder, schema=schema, variance_weight=variance_weight)


@galzoo_fm.hookimpl
def register_losses(register):
    # the metadata says what the loss consumes, so the trainer knows without importing the class
    register("example_vic", variance_invariance, description="VICReg-style invariance + variance (example plugin)",
             n_views=2, needs_votes=False, uses_votes=False, has_ema_target=False)


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
