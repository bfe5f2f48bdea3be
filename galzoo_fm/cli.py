"""The ``galzoo-fm`` command line. Thin: parses arguments and calls library functions."""

from __future__ import annotations

import sys

import click

from . import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="galzoo-fm")
def cli() -> None:
    """galzoo-fm: galaxy foundation models — cutouts, pretraining and embeddings for catalogues."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-v", "--verbose", is_flag=True, help="List every registered name.")
def plugins(as_json: bool, verbose: bool) -> None:
    """List plugins, their versions and what they register (failed plugins included)."""
    from .listing import describe_plugins

    click.echo(describe_plugins(as_json=as_json, verbose=verbose))


@cli.command()
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def backbones(pattern: str | None, as_json: bool) -> None:
    """List backbones, optionally matching a shell PATTERN such as 'convnext*'."""
    from .listing import describe_registry

    click.echo(describe_registry("backbones", pattern, as_json=as_json))


@cli.command()
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def losses(pattern: str | None, as_json: bool) -> None:
    """List losses, optionally matching a shell PATTERN."""
    from .listing import describe_registry

    click.echo(describe_registry("losses", pattern, as_json=as_json))


@cli.command()
@click.argument("name", required=False)
def schemas(name: str | None) -> None:
    """List Galaxy Zoo label schemas with question and answer counts, or show schema NAME's decision tree."""
    from .schemas import describe

    try:
        click.echo(describe(name))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("embed-images")
@click.argument("images", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output table (.fits, .ecsv, .parquet, .h5).")
@click.option("--model", help="Encoder folder or hf_hub:<repo id>; default: a random-init --backbone.")
@click.option("--backbone", default="resnet18", show_default=True, help="Backbone of the random encoder.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", help="cuda, cpu, cuda:1, ...; default: CUDA when available.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random encoder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def embed_images_command(images, out, model, backbone, batch_size, device, seed, overwrite) -> None:
    """Embed an image set IMAGES (.npy or FITS cube N x C x H x W); the bundled demo set by default."""
    from .imagesets import embed_images

    try:
        result = embed_images(
            images, model=model, backbone=backbone, out=out, batch_size=batch_size, device=device,
            seed=seed, overwrite=overwrite, progress=sys.stderr.isatty(),
        )
    except (ValueError, TypeError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    table = result.table
    n, d = table["embedding"].shape
    rate = n / result.seconds if result.seconds > 0 else float("inf")
    click.echo(f"embedded {n} images into {d}-dimensional vectors with {result.model_description} "
               f"in {result.seconds:.2f} s ({rate:.0f} images/s)")
    if result.model_description.startswith("random-init"):
        click.echo("note: random weights; pass --model with a pretrained encoder for morphology-aware embeddings")
    click.echo(f"wrote {result.path}" if result.path else "no --out given: nothing written")


def _add_plugin_commands(group: click.Group) -> None:
    from .plugins import add_plugin_commands

    add_plugin_commands(group)


_add_plugin_commands(cli)


def main() -> None:
    """Entry point of the ``galzoo-fm`` console script."""
    cli(prog_name="galzoo-fm")
