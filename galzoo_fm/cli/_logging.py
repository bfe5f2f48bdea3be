"""The command line's configuration of the ``galzoo_fm`` logger.

The package logs through ``logging.getLogger(__name__)`` loggers and configures nothing itself (a library
must not); the command line, an application, gives the ``galzoo_fm`` logger one stderr handler, at WARNING
by default and at INFO with ``galzoo-fm -v``.
"""

from __future__ import annotations

import logging

import click

__all__ = ["configure_logging"]

_FORMAT = "%(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.Handler):
    """Writes records to the *current* ``sys.stderr`` through click (so that a test runner that swaps stderr
    per invocation, such as :class:`click.testing.CliRunner`, sees them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # logging must never take the command down
            self.handleError(record)


def configure_logging(verbose: bool = False) -> logging.Logger:
    """Give the ``galzoo_fm`` logger one stderr handler, at INFO if ``verbose`` else WARNING.

    Calling it again (each command-line invocation does) changes the level and adds no second handler.

    Parameters
    ----------
    verbose : bool
        INFO rather than WARNING.

    Returns
    -------
    logging.Logger
        The ``galzoo_fm`` logger.
    """
    logger = logging.getLogger("galzoo_fm")
    level = logging.INFO if verbose else logging.WARNING
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    handler.setLevel(level)
    logger.setLevel(level)
    return logger
