"""Click options and arguments that several ``galzoo-fm`` commands share, each declared once here.

A factory with a ``help`` parameter is for an option whose meaning is the same everywhere but whose
sentence names what the command does with it (``--overwrite``: "replace an existing output file",
"embed again although OUT exists").
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = [
    "DATA_DIR",
    "EMBEDDINGS",
    "FIGURE_OUT",
    "JSON",
    "MIRROR",
    "PATTERN",
    "PLOT_STORE",
    "TABLES",
    "VERBOSE",
    "backend",
    "batch_size",
    "columns",
    "device",
    "layer",
    "overwrite",
    "preprocess",
    "progress",
    "query",
    "seed",
    "survey_opt",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The table formats of ``--out`` options (by file extension; see :func:`galzoo_fm._utils.writers.write_table`).
TABLES = ".fits, .ecsv, .parquet, .h5, .vot/.xml"


def _all(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying several, the first listed outermost (as if written one above the other)."""

    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


# -- the group --------------------------------------------------------------------------------------------
VERBOSE = click.option("-v", "--verbose", is_flag=True,
                       help="Log progress messages (INFO) on stderr; by default only warnings and errors.")

# -- listings ---------------------------------------------------------------------------------------------
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
PATTERN = click.argument("pattern", required=False)


# -- running a model --------------------------------------------------------------------------------------
def batch_size() -> Callable[[F], F]:
    """``--batch-size``: images per forward pass (default 256)."""
    return click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))


def device(help: str = "cuda, cpu, cuda:1, ...; default: CUDA when available.") -> Callable[[F], F]:
    """``--device``: the torch device; default CUDA when available."""
    return click.option("--device", help=help)


def seed(help: str | None = None, type: click.ParamType | type = int) -> Callable[[F], F]:
    """``--seed``: a random seed (default 0)."""
    return click.option("--seed", default=0, show_default=True, type=type, help=help)


def preprocess(help: str = "Run the model's recorded preprocessing on the images (default: when it records one)."
               ) -> Callable[[F], F]:
    """``--preprocess/--no-preprocess``: default ``None``, the model decides."""
    return click.option("--preprocess/--no-preprocess", default=None, help=help)


# -- outputs and progress ---------------------------------------------------------------------------------
def overwrite(help: str = "Replace an existing output file.") -> Callable[[F], F]:
    """``--overwrite``: replace what exists (otherwise an existing output is an error)."""
    return click.option("--overwrite", is_flag=True, help=help)


def _stderr_is_a_terminal(ctx: click.Context, param: click.Parameter, value: bool | None) -> bool:
    return sys.stderr.isatty() if value is None else value


def progress(resolve: bool = True) -> Callable[[F], F]:
    """``--progress/--no-progress``, by default on when stderr is a terminal.

    Parameters
    ----------
    resolve : bool
        Give the command ``True``/``False`` (stderr asked here); else ``None`` when neither flag is given,
        for a library function that asks itself.
    """
    return click.option("--progress/--no-progress", default=None,
                        callback=_stderr_is_a_terminal if resolve else None,
                        help="Progress bars (default: when stderr is a terminal).")


# -- catalogues and surveys -------------------------------------------------------------------------------
def survey_opt() -> Callable[[F], F]:
    """``--survey-opt KEY=VALUE``, repeatable, into the parameter ``survey_opts``."""
    return click.option("--survey-opt", "survey_opts", multiple=True, metavar="KEY=VALUE",
                        help="Survey option, repeatable (e.g. layer=ls-dr9, bands=grz, path=mosaic.fits, server=...).")


def layer() -> Callable[[F], F]:
    """``--layer``: shortcut for ``--survey-opt layer=...``."""
    return click.option("--layer", help="Survey layer, e.g. ls-dr9 (shortcut for --survey-opt layer=...).")


def columns() -> Callable[[F], F]:
    """``--id-col``, ``--ra-col``, ``--dec-col``: the catalogue's columns (default: found by name)."""
    return _all(
        click.option("--id-col", help="Identifier column (default: id, objid, name, ...; else the row number)."),
        click.option("--ra-col", help="RA column (default: ra, RA, ra_deg, RAJ2000, ...)."),
        click.option("--dec-col", help="Dec column (default: dec, DEC, dec_deg, DEJ2000, ...)."),
    )


def images() -> Callable[[F], F]:
    """``--images COLUMN``, ``--image-root``, ``--image-bands``, ``--image-pixscale``: the user's own images
    (:func:`galzoo_fm.images.open_images`)."""
    return _all(
        click.option("--images", "images_col", metavar="COLUMN",
                     help="Images instead of a survey: the catalogue column of image paths (e.g. file_loc), or the "
                          "Parquet column of image bytes (e.g. image_crop). A folder of images needs none."),
        click.option("--image-root", type=click.Path(file_okay=False),
                     help="Relative image paths start here, and paths outside it are invalid rows "
                          "(default: the catalogue's folder, paths anywhere)."),
        click.option("--image-bands", help="Names of the image channels (default R,G,B; L for grey; FITS BANDn)."),
        click.option("--image-pixscale", type=float, help="Arcsec per image pixel, when known."),
    )


# -- embeddings tables: search and pictures ---------------------------------------------------------------
EMBEDDINGS = click.argument("embeddings", type=click.Path(dir_okay=False))
FIGURE_OUT = click.option("-o", "--out", required=True, help="Figure file (.png or .pdf).")
PLOT_STORE = click.option("--store", type=click.Path(file_okay=False),
                          help="Cutout store (default: recorded in EMBEDDINGS).")


def query() -> Callable[[F], F]:
    """``--id`` (into ``query_id``) or ``--ra`` with ``--dec``: the query galaxy."""
    return _all(
        click.option("--id", "query_id", help="Identifier of the query galaxy."),
        click.option("--ra", type=float, help="RA of the query (degrees), with --dec: the nearest catalogue object."),
        click.option("--dec", type=float, help="Dec of the query (degrees)."),
    )


def backend() -> Callable[[F], F]:
    """``--backend {torch,faiss}``: exact nearest-neighbour search (default torch)."""
    return click.option("--backend", type=click.Choice(["torch", "faiss"]), default="torch", show_default=True,
                        help="Exact search with batched torch matrix products, or a faiss flat index.")


# -- public datasets --------------------------------------------------------------------------------------
DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False),
                        help="Data folder (default: $GALZOO_FM_DATA_DIR, else ~/.cache/galzoo_fm/datasets).")
MIRROR = click.option("--mirror", help="Fetch from this host instead (http[s]://host[:port]; URL paths kept).")
