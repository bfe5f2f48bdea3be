"""``galzoo-fm datasets``: the public Galaxy Zoo releases (list, info, download, verify, prepare, join)."""

from __future__ import annotations

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["datasets_group"]


@click.group("datasets")
def datasets_group() -> None:
    """Public Galaxy Zoo releases: list, download (resumable, checksummed), prepare for pretraining."""


def _dataset_errors():
    from galzoo_fm._utils.http import HTTPFailure
    from galzoo_fm.datasets.public import ChecksumError, DatasetUnavailableError

    return (ValueError, TypeError, OSError, ChecksumError, DatasetUnavailableError, HTTPFailure)


@datasets_group.command("list")
@opt.PATTERN
@opt.DATA_DIR
@opt.JSON
def datasets_list_command(pattern, data_dir, as_json) -> None:
    """Registered releases: name, schema, size, whether they are in the data folder, title."""
    from galzoo_fm.datasets.public.describe import describe_datasets

    click.echo(describe_datasets(pattern, data=data_dir, as_json=as_json))


@datasets_group.command("info")
@click.argument("name")
@opt.DATA_DIR
def datasets_info_command(name, data_dir) -> None:
    """Citation, licence, schema and files of release NAME, and where to place them without network."""
    from galzoo_fm.datasets.public.describe import describe_dataset

    try:
        click.echo(describe_dataset(name, data=data_dir))
    except _dataset_errors() as exc:
        raise cli_error(exc) from exc


@datasets_group.command("download")
@click.argument("name")
@opt.DATA_DIR
@opt.MIRROR
@click.option("--retries", default=5, show_default=True, type=click.IntRange(min=0),
              help="Retries of a dropped connection (each resumes).")
@opt.progress(resolve=False)
def datasets_download_command(name, data_dir, mirror, retries, progress) -> None:
    """Download release NAME into the data folder, resuming partial files and verifying checksums."""
    from galzoo_fm.datasets.public import download

    try:
        folder = download(name, data=data_dir, mirror=mirror, progress=progress, retries=retries)
    except _dataset_errors() as exc:
        raise cli_error(exc) from exc
    click.echo(f"{name}: all files verified in {folder}")


@datasets_group.command("verify")
@click.argument("name")
@opt.DATA_DIR
@opt.progress(resolve=False)
def datasets_verify_command(name, data_dir, progress) -> None:
    """Hash every file of release NAME in the data folder against the published checksums."""
    from galzoo_fm.datasets.public import verify_release

    try:
        report = verify_release(name, data=data_dir, progress=progress)
    except _dataset_errors() as exc:
        raise cli_error(exc) from exc
    if not report.ok:
        raise click.ClickException(str(report))
    click.echo(str(report))


@datasets_group.command("prepare")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output store folder.")
@click.option("--size", type=click.IntRange(min=1), help="Resize images to SIZE x SIZE pixels.")
@opt.DATA_DIR
@click.option("--no-download", is_flag=True, help="Use only files already in the data folder.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N galaxies (a quick trial).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Threads decoding and resizing images.")
@opt.MIRROR
@opt.progress(resolve=False)
def datasets_prepare_command(name, out, size, data_dir, no_download, limit, workers, mirror, progress) -> None:
    """Write OUT/catalog.fits and a cutout store at OUT from release NAME, ready for `galzoo-fm pretrain`."""
    from galzoo_fm.datasets.public import prepare

    try:
        summary = prepare(name, out, data=data_dir, mirror=mirror, size=size, download=not no_download,
                          progress=progress, limit=limit, workers=workers)
    except _dataset_errors() as exc:
        raise cli_error(exc) from exc
    click.echo(str(summary))


@datasets_group.command("join")
@click.argument("images", type=click.Path(dir_okay=False))
@click.option("--votes", "votes", multiple=True, required=True, metavar="SCHEMA=FILE",
              help="A campaign's vote table, named by its schema (repeat for each campaign).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=f"Output table ({opt.TABLES}).")
@click.option("--on", type=click.Choice(["id", "sky"]), default="id", show_default=True, help="How rows match.")
@click.option("--tolerance", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Largest separation for --on sky (arcsec).")
@click.option("--schema", help="Give every label column of this schema (e.g. gz_evo), 0 where not joined.")
@click.option("--id-col", default="id", show_default=True)
@click.option("--ra-col", default="ra", show_default=True)
@click.option("--dec-col", default="dec", show_default=True)
@opt.overwrite()
def datasets_join_command(images, votes, out, on, tolerance, schema, id_col, ra_col, dec_col, overwrite) -> None:
    """One row per row of IMAGES with every campaign's vote counts (GZ-Evo layout), matched by id or sky."""
    from galzoo_fm.datasets.public.join import join_files, parse_votes

    try:
        path, report = join_files(images, parse_votes(votes), out, overwrite=overwrite, on=on, tolerance=tolerance,
                                  schema=schema, id_col=id_col, ra_col=ra_col, dec_col=dec_col)
    except (ValueError, TypeError, OSError) as exc:
        raise cli_error(exc) from exc
    for name, r in report.items():
        click.echo(f"{name}: {r['matched']} of {r['rows']} vote rows matched, {r['unmatched']} unmatched, "
                   f"{r['ambiguous']} ambiguous, {r['lost_to_nearer']} lost to a nearer row")
    click.echo(f"wrote {path}")
