"""Listings: ``galzoo-fm plugins``, ``backbones``, ``losses``, ``surveys``, ``schemas``.

Each loads the plugins (the registry it lists) when it runs, not when the command line is imported.
"""

from __future__ import annotations

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["backbones", "losses", "plugins", "schemas", "surveys_command"]


@click.command()
@opt.JSON
@click.option("-v", "--verbose", is_flag=True, help="List every registered name.")
def plugins(as_json: bool, verbose: bool) -> None:
    """List plugins, their versions and what they register (failed plugins included)."""
    from galzoo_fm.plugins import describe_plugins

    click.echo(describe_plugins(as_json=as_json, verbose=verbose))


@click.command()
@opt.PATTERN
@opt.JSON
def backbones(pattern: str | None, as_json: bool) -> None:
    """List backbones, optionally matching a shell PATTERN such as 'convnext*'."""
    from galzoo_fm.plugins import describe_registry

    click.echo(describe_registry("backbones", pattern, as_json=as_json))


@click.command()
@opt.PATTERN
@opt.JSON
def losses(pattern: str | None, as_json: bool) -> None:
    """List losses, optionally matching a shell PATTERN."""
    from galzoo_fm.plugins import describe_registry

    click.echo(describe_registry("losses", pattern, as_json=as_json))


@click.command("surveys")
@opt.PATTERN
@opt.JSON
def surveys_command(pattern: str | None, as_json: bool) -> None:
    """List surveys with their bands, pixel scale, size limit and layers, optionally matching PATTERN."""
    from galzoo_fm.surveys.describe import describe_surveys

    click.echo(describe_surveys(pattern, as_json=as_json))


@click.command()
@click.argument("name", required=False)
def schemas(name: str | None) -> None:
    """List Galaxy Zoo label schemas with question and answer counts, or show schema NAME's decision tree."""
    from galzoo_fm.schemas import describe

    try:
        click.echo(describe(name))
    except ValueError as exc:
        raise cli_error(exc) from exc
