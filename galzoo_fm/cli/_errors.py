"""How the command line reports library exceptions and Ctrl-C."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

__all__ = ["cli_error", "interrupted"]


def interrupted() -> NoReturn:
    """Print ``interrupted`` on stderr and exit with status 130 (Ctrl-C)."""
    click.echo("interrupted", err=True)
    sys.exit(130)


def cli_error(exc: BaseException) -> click.ClickException:
    """The one-line command-line error (``Error: ...``, exit status 1) for a library exception.

    Exceptions with a ``cli_message()`` (:class:`~galzoo_fm._utils.checks.OutputExistsError`: "pass --overwrite",
    :class:`~galzoo_fm.registry.UnknownNameError`: "list them with `galzoo-fm surveys`") are worded for
    the command line, also when another exception wraps them; the others keep their message.

    Parameters
    ----------
    exc : BaseException
        The exception a library function raised.

    Returns
    -------
    click.ClickException
        To be raised ``from exc``.
    """
    text = str(exc)
    seen: set[int] = set()
    inner: BaseException | None = exc
    while inner is not None and id(inner) not in seen:
        seen.add(id(inner))
        cli_message = getattr(inner, "cli_message", None)
        if callable(cli_message):
            if inner is exc:
                return click.ClickException(cli_message())
            if str(inner) and str(inner) in text:
                return click.ClickException(text.replace(str(inner), cli_message()))
        inner = inner.__cause__ or inner.__context__
    return click.ClickException(text)
