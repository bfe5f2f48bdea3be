"""The ``galzoo-fm`` command line: the top-level group and :func:`main`.

The commands live one module per group of commands (:mod:`~galzoo_fm.cli.plugins` for the listings,
:mod:`~galzoo_fm.cli.fetch`, :mod:`~galzoo_fm.cli.embed`, :mod:`~galzoo_fm.cli.explore`,
:mod:`~galzoo_fm.cli.train`, :mod:`~galzoo_fm.cli.simulate`, :mod:`~galzoo_fm.cli.datasets`); the options
several of them share are declared once in :mod:`galzoo_fm.cli._options`. Each command parses its
arguments, calls a library function and prints: no logic here.

Start-up: nothing heavy is imported here. Each command imports the library modules it calls (torch, timm,
astropy.wcs, ... come with them) when it runs. The plugins are loaded when a command needs a registry, or
for the list of commands (``galzoo-fm --help``) and the look-up of a name that is no built-in command (a
plugin's), so that ``galzoo-fm fetch --help`` loads none and ``galzoo-fm --help`` and ``--version`` take
about as long as importing click and astropy.table.
"""

from __future__ import annotations

import click

from galzoo_fm._utils.version import __version__
from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error, interrupted
from galzoo_fm.cli._logging import configure_logging
from galzoo_fm.cli.datasets import datasets_group
from galzoo_fm.cli.embed import embed_command, embed_images_command
from galzoo_fm.cli.explore import anomaly_command, plot_group, similar_command
from galzoo_fm.cli.fetch import fetch_command
from galzoo_fm.cli.plugins import backbones, losses, plugins, schemas, surveys_command
from galzoo_fm.cli.simulate import simulate_command
from galzoo_fm.cli.train import evaluate_command, finetune_command, pretrain_command

__all__ = ["cli", "main"]


class _Group(click.Group):
    """The top-level group: plugin commands added when the list of commands is asked for, or a name that no
    built-in command has is looked up; Ctrl-C is one line and exit status 130; existing outputs are reported
    with ``--overwrite``."""

    _plugins_added = False

    def _add_plugins(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            from galzoo_fm.plugins import add_plugin_commands

            add_plugin_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_added:  # a plugin's command, perhaps
            self._add_plugins()
            command = super().get_command(ctx, cmd_name)
        return command

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            interrupted()

    def invoke(self, ctx: click.Context):
        from galzoo_fm._utils.checks import OutputExistsError

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            interrupted()
        except OutputExistsError as exc:  # raised where a command does not catch it itself
            raise cli_error(exc) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="galzoo-fm")
@opt.VERBOSE
def cli(verbose: bool) -> None:
    """galzoo-fm: galaxy foundation models — cutouts, pretraining and embeddings for catalogues."""
    configure_logging(verbose)


for _command in (
    # listings
    plugins, backbones, losses, surveys_command, schemas,
    # cutouts and embeddings
    fetch_command, embed_command, embed_images_command,
    # working with embeddings
    similar_command, anomaly_command, plot_group,
    # training and data
    pretrain_command, finetune_command, evaluate_command, simulate_command, datasets_group,
):
    cli.add_command(_command)
del _command


def main() -> None:
    """Run the ``galzoo-fm`` command line (the console script is :func:`galzoo_fm.__main__.main`)."""
    cli(prog_name="galzoo-fm")
