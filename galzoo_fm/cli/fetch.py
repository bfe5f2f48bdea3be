"""``galzoo-fm fetch``: cutouts of a catalogue into a store."""

from __future__ import annotations

import sys

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["fetch_command"]


@click.command("fetch")
@click.argument("catalog", type=click.Path())
@click.option("--survey", help="Registered survey name (see `galzoo-fm surveys`); not with --images.")
@click.option("--size", type=int, help="Cutout side in pixels (required with --survey; with --images default: the "
                                       "first image's side, others resized to it).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Cutout store folder.")
@opt.survey_opt()
@click.option("--bands", help="Shortcut for --survey-opt bands=...")
@opt.layer()
@click.option("--pixscale", help="Shortcut for --survey-opt pixscale=... (arcsec/pixel).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1), help="Concurrent fetches.")
@click.option("--shard", help="Only shard i/n of the catalogue (0-based), e.g. 3/16; each shard is a store part.")
@click.option("--shard-by", type=click.Choice(["rows", "sky"]), default="rows", show_default=True)
@opt.columns()
@click.option("--retry-failed/--no-retry-failed", default=True, show_default=True,
              help="Fetch again rows an earlier run recorded as failed.")
@click.option("--no-cache", is_flag=True, help="Do not keep raw responses in OUT/cache.")
@click.option("--chunk-size", type=click.IntRange(min=1), help="Rows per committed chunk (default: ~64 MB of pixels).")
@opt.images()
@opt.progress()
def fetch_command(catalog, survey, size, out, survey_opts, bands, layer, pixscale, workers, shard, shard_by,
                  id_col, ra_col, dec_col, retry_failed, no_cache, chunk_size, images_col, image_root, image_bands,
                  image_pixscale, progress) -> None:
    """Fetch SIZE x SIZE cutouts of every CATALOG row from SURVEY into the store OUT (resumable: rerun to resume).

    With --images (or a folder of images as CATALOG) the images are the user's own files instead: JPEG, PNG
    (8/16-bit) or FITS, named by a catalogue column, found in a folder, or held in a Parquet column.
    """
    from galzoo_fm.fetch import fetch_catalog, fetch_images, survey_options

    try:
        common = {"workers": workers, "shard": shard, "shard_by": shard_by, "retry_failed": retry_failed,
                  "chunk_size": chunk_size, "progress": progress}
        if survey is None:
            summary = fetch_images(catalog, out=out, column=images_col, root=image_root, size=size,
                                   bands=image_bands, pixscale=image_pixscale, id_col=id_col, **common)
        elif images_col is not None:
            raise ValueError("give either --survey (cutouts by position) or --images (your own image files)")
        elif size is None:
            raise ValueError("--size is required with --survey: the cutout side in pixels")
        else:
            options = survey_options(survey_opts, bands=bands, layer=layer, pixscale=pixscale)
            summary = fetch_catalog(catalog, survey, size=size, out=out, survey_options=options, cache=not no_cache,
                                    columns={"id": id_col, "ra": ra_col, "dec": dec_col}, **common)
    except (ValueError, TypeError) as exc:
        raise cli_error(exc) from exc
    click.echo(str(summary))
    if summary.interrupted:
        sys.exit(130)
