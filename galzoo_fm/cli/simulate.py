"""``galzoo-fm simulate``: a simulated Galaxy Zoo to pretrain on."""

from __future__ import annotations

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["simulate_command"]


@click.command("simulate")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--n", "n", default=4000, show_default=True, type=click.IntRange(min=1), help="Number of galaxies.")
@opt.seed(help="Simulation seed.", type=click.IntRange(min=0))
@click.option("--size", default=64, show_default=True, type=click.IntRange(min=8),
              help="Image side in pixels (0.262 arcsec/pixel, g r z).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=0), help="Processes (0: all CPUs).")
@opt.overwrite(help="Replace existing images.npy / catalog.fits in OUT.")
@opt.progress()
def simulate_command(out, n, seed, size, workers, overwrite, progress) -> None:
    """Write a simulated Galaxy Zoo into OUT: images.npy (N, 3, SIZE, SIZE) and catalog.fits (truth + votes).

    The files are a pretraining set (data.path / data.catalog of `galzoo-fm pretrain`); see the simulation
    page of the documentation for what is simulated.
    """
    from galzoo_fm.datasets.sim.catalogue import SimulationConfig, write_synthetic

    try:
        paths = write_synthetic(out, n, config=SimulationConfig(seed=seed, size=size), workers=workers,
                                overwrite=overwrite, progress=progress)
    except (ValueError, TypeError, FileExistsError) as exc:
        raise cli_error(exc) from exc
    click.echo(f"wrote {n} simulated galaxies: {paths[0]} and {paths[1]}")
