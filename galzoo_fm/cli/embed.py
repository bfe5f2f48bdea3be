"""``galzoo-fm embed`` (a catalogue, through a survey) and ``galzoo-fm embed-images`` (an image set)."""

from __future__ import annotations

import sys

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["embed_command", "embed_images_command"]


@click.command("embed-images")
@click.argument("images", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help=f"Output table ({opt.TABLES}).")
@click.option("--model", help="Encoder folder or hf_hub:<repo id>; default: a random-init --backbone.")
@click.option("--backbone", default="resnet18", show_default=True, help="Backbone of the random encoder.")
@opt.batch_size()
@opt.device()
@opt.seed(help="Seed of the random encoder.")
@opt.overwrite()
@opt.preprocess()
@click.option("--bands", help="Band names of the image channels, e.g. g,r,z (default: the cube's BANDn keywords).")
@click.option("--pixel-scale", type=float, help="Arcsec per image pixel (default: the cube's PIXSCALE keyword).")
def embed_images_command(images, out, model, backbone, batch_size, device, seed, overwrite, preprocess, bands,
                         pixel_scale) -> None:
    """Embed an image set IMAGES (.npy or FITS cube N x C x H x W); the bundled demo set by default."""
    from galzoo_fm.embedding.images import embed_images

    try:
        result = embed_images(
            images, model=model, backbone=backbone, out=out, batch_size=batch_size, device=device,
            seed=seed, overwrite=overwrite, progress=sys.stderr.isatty(), preprocess=preprocess, bands=bands,
            pixel_scale=pixel_scale,
        )
    except (ValueError, TypeError, FileExistsError) as exc:
        raise cli_error(exc) from exc
    table = result.table
    n, d = table["embedding"].shape
    rate = n / result.seconds if result.seconds > 0 else float("inf")
    click.echo(f"embedded {n} images into {d}-dimensional vectors with {result.model_description} "
               f"in {result.seconds:.2f} s ({rate:.0f} images/s)")
    if result.model_description.startswith("random-init"):
        click.echo("note: random weights; pass --model with a pretrained encoder for morphology-aware embeddings")
    click.echo(f"wrote {result.path}" if result.path else "no --out given: nothing written")


def _keep_cols(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | tuple[()]:
    """``--keep-cols a, b`` as ``["a", "b"]``; ``()`` without the option."""
    return [c.strip() for c in value.split(",") if c.strip()] if value else ()


@click.command("embed")
@click.argument("catalog", type=click.Path())
@click.option("--survey", default="legacy", show_default=True,
              help="Registered survey (see `galzoo-fm surveys`); unused with --images.")
@opt.layer()
@click.option("--model", help="Encoder folder or hf_hub:<repo id>; default: a random-init resnet18 (seeded).")
@click.option("-o", "--out", help=f"Output table ({opt.TABLES}); default CATALOG_embeddings.fits.")
@opt.survey_opt()
@opt.batch_size()
@opt.device(help="cuda, cpu, cuda:1, ...; default: CUDA when available (one GPU per torchrun rank).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1),
              help="Concurrent downloads, and preprocessing threads.")
@opt.columns()
@click.option("--keep-cols", callback=_keep_cols, help="Comma-separated input columns to copy to the output.")
@click.option("--anomaly", "anomaly_k", type=click.IntRange(min=1), metavar="K",
              help="Add an anomaly_score column: mean cosine distance to the K nearest galaxies.")
@click.option("--size", type=click.IntRange(min=1), help="Cutout side in survey pixels (default: the model's field).")
@click.option("--store", type=click.Path(file_okay=False), help="Cutout store folder (default: OUT.cutouts).")
@click.option("--image-size", default=64, show_default=True, type=click.IntRange(min=8),
              help="Input size of the random-init model (ignored with --model).")
@opt.seed(help="Seed of the random-init model.")
@click.option("--block-rows", type=click.IntRange(min=1), help="Catalogue rows per committed block.")
@opt.overwrite(help="Embed again although OUT exists.")
@opt.images()
@click.option("--preset", help="Preprocessing preset for a model that records none, e.g. zoobot (Zoobot's convention).")
@opt.progress()
def embed_command(catalog, survey, layer, model, out, survey_opts, batch_size, device, workers, id_col, ra_col,
                  dec_col, keep_cols, anomaly_k, size, store, image_size, seed, block_rows, overwrite, images_col,
                  image_root, image_bands, image_pixscale, preset, progress) -> None:
    """Embed every galaxy of CATALOG: fetch cutouts, preprocess as the model says, write vectors + status.

    With --images COLUMN (or a folder of images as CATALOG) the cutouts are your own image files (JPEG, PNG,
    FITS; paths in COLUMN, or bytes in a Parquet COLUMN) instead of a survey's.

    Resumable: after Ctrl-C or a crash, run the same command again. Scale out with
    `torchrun --nproc-per-node N galzoo-fm embed ...`.
    """
    from pathlib import Path

    from galzoo_fm.embedding import run_embedding
    from galzoo_fm.embedding.plan import output_path
    from galzoo_fm.fetch import parse_options

    images = None
    if images_col is not None or Path(catalog).is_dir():
        images = {"column": images_col, "root": image_root, "bands": image_bands, "pixscale": image_pixscale}
    try:
        summary = run_embedding(
            catalog, images=images, preset=preset, model=model, survey=survey,
            survey_options=parse_options(survey_opts), layer=layer, size=size, out=output_path(catalog, out),
            store=store, batch_size=batch_size, device=device, workers=workers, keep_cols=keep_cols,
            anomaly_k=anomaly_k, progress=progress, columns={"id": id_col, "ra": ra_col, "dec": dec_col},
            overwrite=overwrite, block_rows=block_rows, image_size=image_size, seed=seed,
        )
    except KeyboardInterrupt:
        click.echo("interrupted: finished blocks are kept; run the same command again to resume", err=True)
        sys.exit(130)
    except (ValueError, TypeError, FileExistsError) as exc:
        raise cli_error(exc) from exc
    if summary.rank == 0:
        click.echo(str(summary))
        if model is None:
            click.echo("note: random-init model; pass --model with a pretrained encoder for morphology-aware vectors")
