"""The ``galzoo-fm`` console script, also run by ``python -m galzoo_fm``.

It imports the command line inside a ``try``, so that a Ctrl-C at any moment — while the command modules
are still being imported, or during a command — prints one line ("interrupted") and exits with status 130
instead of a traceback.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``galzoo-fm`` console script."""
    try:
        from galzoo_fm.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
        sys.exit(130)


if __name__ == "__main__":
    main()
