"""``galzoo-fm fetch``: cutouts of a catalogue into a store."""

from __future__ import annotations

import sys

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["fetch_command"]


@click.command("fetch")
@click.argument("catalog", type=click.Path(dir_okay=False))
@click.option("--survey", required=True, help="Registered survey name (see `galzoo-fm surveys`).")
@click.option("--size", required=True, type=int, help="Cutout side in pixels.")
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
@opt.progress()
def fetch_command(catalog, survey, size, out, survey_opts, bands, layer, pixscale, workers, shard, shard_by,
                  id_col, ra_col, dec_col, retry_failed, no_cache, chunk_size, progress) -> None:
    """Fetch SIZE x SIZE cutouts of every CATALOG row from SURVEY into the store OUT (resumable: rerun to resume)."""
    from galzoo_fm.fetch import fetch_catalog, survey_options

    try:
        options = survey_options(survey_opts, bands=bands, layer=layer, pixscale=pixscale)
        summary = fetch_catalog(
            catalog, survey, size=size, out=out, survey_options=options, workers=workers, shard=shard,
            shard_by=shard_by, retry_failed=retry_failed, cache=not no_cache, chunk_size=chunk_size,
            progress=progress, columns={"id": id_col, "ra": ra_col, "dec": dec_col},
        )
    except (ValueError, TypeError) as exc:
        raise cli_error(exc) from exc
    click.echo(str(summary))
    if summary.interrupted:
        sys.exit(130)
