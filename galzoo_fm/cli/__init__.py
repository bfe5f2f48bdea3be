"""The ``galzoo-fm`` command line. Thin: parses arguments and calls library functions."""

from __future__ import annotations

import sys

import click

from galzoo_fm._utils.version import __version__

__all__ = ["cli", "main"]

#: The table formats of ``--out`` options (by file extension; see :func:`galzoo_fm._utils.writers.write_table`).
_TABLES = ".fits, .ecsv, .parquet, .h5, .vot/.xml"

# Start-up: nothing heavy is imported here. Each command imports the library modules it calls (torch, timm,
# astropy.wcs, ... come with them), and plugin commands are added on first look-up of a command, so that
# `galzoo-fm --help` and `--version` take about as long as importing click and astropy.table.


def _interrupted() -> None:
    click.echo("interrupted", err=True)
    sys.exit(130)


def _cli_error(exc: BaseException) -> click.ClickException:
    """The one-line command-line error for a library exception.

    Exceptions with a ``cli_message()`` (:class:`~galzoo_fm._utils.checks.OutputExistsError`: "pass --overwrite",
    :class:`~galzoo_fm.registry.UnknownNameError`: "list them with `galzoo-fm surveys`") are worded for
    the command line, also when another exception wraps them; the others keep their message.
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


class _Group(click.Group):
    """The top-level group: plugin commands added on first look-up; Ctrl-C is one line and exit status 130;
    existing outputs are reported with ``--overwrite``."""

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
        self._add_plugins()
        return super().get_command(ctx, cmd_name)

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            _interrupted()

    def invoke(self, ctx: click.Context):
        from galzoo_fm._utils.checks import OutputExistsError

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted()
        except OutputExistsError as exc:  # raised where a command does not catch it itself
            raise _cli_error(exc) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="galzoo-fm")
def cli() -> None:
    """galzoo-fm: galaxy foundation models — cutouts, pretraining and embeddings for catalogues."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-v", "--verbose", is_flag=True, help="List every registered name.")
def plugins(as_json: bool, verbose: bool) -> None:
    """List plugins, their versions and what they register (failed plugins included)."""
    from galzoo_fm.listing import describe_plugins

    click.echo(describe_plugins(as_json=as_json, verbose=verbose))


@cli.command()
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def backbones(pattern: str | None, as_json: bool) -> None:
    """List backbones, optionally matching a shell PATTERN such as 'convnext*'."""
    from galzoo_fm.listing import describe_registry

    click.echo(describe_registry("backbones", pattern, as_json=as_json))


@cli.command()
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def losses(pattern: str | None, as_json: bool) -> None:
    """List losses, optionally matching a shell PATTERN."""
    from galzoo_fm.listing import describe_registry

    click.echo(describe_registry("losses", pattern, as_json=as_json))


@cli.command()
@click.argument("name", required=False)
def schemas(name: str | None) -> None:
    """List Galaxy Zoo label schemas with question and answer counts, or show schema NAME's decision tree."""
    from galzoo_fm.schemas import describe

    try:
        click.echo(describe(name))
    except ValueError as exc:
        raise _cli_error(exc) from exc


@cli.command("embed-images")
@click.argument("images", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help=f"Output table ({_TABLES}).")
@click.option("--model", help="Encoder folder or hf_hub:<repo id>; default: a random-init --backbone.")
@click.option("--backbone", default="resnet18", show_default=True, help="Backbone of the random encoder.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", help="cuda, cpu, cuda:1, ...; default: CUDA when available.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random encoder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--preprocess/--no-preprocess", default=None,
              help="Run the model's recorded preprocessing on the images (default: when it records one).")
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
        raise _cli_error(exc) from exc
    table = result.table
    n, d = table["embedding"].shape
    rate = n / result.seconds if result.seconds > 0 else float("inf")
    click.echo(f"embedded {n} images into {d}-dimensional vectors with {result.model_description} "
               f"in {result.seconds:.2f} s ({rate:.0f} images/s)")
    if result.model_description.startswith("random-init"):
        click.echo("note: random weights; pass --model with a pretrained encoder for morphology-aware embeddings")
    click.echo(f"wrote {result.path}" if result.path else "no --out given: nothing written")


@cli.command("fetch")
@click.argument("catalog", type=click.Path(dir_okay=False))
@click.option("--survey", required=True, help="Registered survey name (see `galzoo-fm surveys`).")
@click.option("--size", required=True, type=int, help="Cutout side in pixels.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Cutout store folder.")
@click.option("--survey-opt", "survey_opts", multiple=True, metavar="KEY=VALUE",
              help="Survey option, repeatable (e.g. layer=ls-dr9, bands=grz, path=mosaic.fits).")
@click.option("--bands", help="Shortcut for --survey-opt bands=...")
@click.option("--layer", help="Shortcut for --survey-opt layer=...")
@click.option("--pixscale", help="Shortcut for --survey-opt pixscale=... (arcsec/pixel).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1), help="Concurrent fetches.")
@click.option("--shard", help="Only shard i/n of the catalogue (0-based), e.g. 3/16; each shard is a store part.")
@click.option("--shard-by", type=click.Choice(["rows", "sky"]), default="rows", show_default=True)
@click.option("--id-col", help="Identifier column (default: id, objid, name, ...; else the row number).")
@click.option("--ra-col", help="RA column (default: ra, RA, ra_deg, RAJ2000, ...).")
@click.option("--dec-col", help="Dec column (default: dec, DEC, dec_deg, DEJ2000, ...).")
@click.option("--retry-failed/--no-retry-failed", default=True, show_default=True,
              help="Fetch again rows an earlier run recorded as failed.")
@click.option("--no-cache", is_flag=True, help="Do not keep raw responses in OUT/cache.")
@click.option("--chunk-size", type=click.IntRange(min=1), help="Rows per committed chunk (default: ~64 MB of pixels).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def fetch_command(catalog, survey, size, out, survey_opts, bands, layer, pixscale, workers, shard, shard_by,
                  id_col, ra_col, dec_col, retry_failed, no_cache, chunk_size, progress) -> None:
    """Fetch SIZE x SIZE cutouts of every CATALOG row from SURVEY into the store OUT (resumable: rerun to resume)."""
    from galzoo_fm.fetch import fetch_catalog, parse_options

    try:
        options = parse_options(survey_opts)
        for key, value in (("bands", bands), ("layer", layer), ("pixscale", pixscale)):
            if value is not None:
                options[key] = value
        summary = fetch_catalog(
            catalog, survey, size=size, out=out, survey_options=options, workers=workers, shard=shard,
            shard_by=shard_by, retry_failed=retry_failed, cache=not no_cache, chunk_size=chunk_size,
            progress=sys.stderr.isatty() if progress is None else progress,
            columns={"id": id_col, "ra": ra_col, "dec": dec_col},
        )
    except (ValueError, TypeError) as exc:
        raise _cli_error(exc) from exc
    click.echo(str(summary))
    if summary.interrupted:
        sys.exit(130)


@cli.command("simulate")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--n", "n", default=4000, show_default=True, type=click.IntRange(min=1), help="Number of galaxies.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Simulation seed.")
@click.option("--size", default=64, show_default=True, type=click.IntRange(min=8),
              help="Image side in pixels (0.262 arcsec/pixel, g r z).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=0), help="Processes (0: all CPUs).")
@click.option("--overwrite", is_flag=True, help="Replace existing images.npy / catalog.fits in OUT.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def simulate_command(out, n, seed, size, workers, overwrite, progress) -> None:
    """Write a simulated Galaxy Zoo into OUT: images.npy (N, 3, SIZE, SIZE) and catalog.fits (truth + votes).

    The files are a pretraining set (data.path / data.catalog of `galzoo-fm pretrain`); see the simulation
    page of the documentation for what is simulated.
    """
    from galzoo_fm.datasets.sim.catalogue import SimulationConfig, write_synthetic

    try:
        paths = write_synthetic(out, n, config=SimulationConfig(seed=seed, size=size), workers=workers,
                                overwrite=overwrite, progress=sys.stderr.isatty() if progress is None else progress)
    except (ValueError, TypeError, FileExistsError) as exc:
        raise _cli_error(exc) from exc
    click.echo(f"wrote {n} simulated galaxies: {paths[0]} and {paths[1]}")


@cli.command("surveys")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def surveys_command(pattern: str | None, as_json: bool) -> None:
    """List surveys with their bands, pixel scale, size limit and layers, optionally matching PATTERN."""
    from galzoo_fm.surveys.describe import describe_surveys

    click.echo(describe_surveys(pattern, as_json=as_json))


@cli.command("pretrain")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False),
              help="TOML run configuration (see the training guide).")
def pretrain_command(config: str) -> None:
    """Pretrain an encoder with any registered loss; run under torchrun --nproc-per-node N for DDP."""
    from galzoo_fm.training import NonFiniteLossError, pretrain

    try:
        result = pretrain(config)
    except (ValueError, TypeError, NonFiniteLossError) as exc:
        raise _cli_error(exc) from exc
    click.echo(result.summary())


@cli.command("finetune")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False),
              help="TOML finetuning configuration (see the evaluation guide).")
def finetune_command(config: str) -> None:
    """Finetune a pretrained encoder into a classifier, regressor or Dirichlet tree, with early stopping."""
    from galzoo_fm.training import NonFiniteLossError, finetune

    try:
        result = finetune(config)
    except (ValueError, TypeError, NonFiniteLossError) as exc:
        raise _cli_error(exc) from exc
    click.echo(result.summary())


@cli.command("evaluate")
@click.option("--model", required=True, help="Encoder folder (save_pretrained) or hf_hub:<repo id>.")
@click.option("--data", required=True, type=click.Path(exists=True), help="Cutout store folder or .npy images.")
@click.option("--catalog", required=True, type=click.Path(dir_okay=False), help="Catalogue with the labels.")
@click.option("--label-col", required=True, help="Column of class labels.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for evaluation.json, low_label.ecsv/.png.")
@click.option("--sizes", default="50,100,250,750,all", show_default=True, help="Label counts of the curve.")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(min=1), help="Subsets per count.")
@click.option("--k", "k", default=20, show_default=True, type=click.IntRange(min=1), help="kNN neighbours.")
@click.option("--C", "C", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Inverse L2 strength of the linear probe.")
@click.option("--test-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1, min_open=True,
                                                                                      max_open=True))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", help="cuda, cpu, ...; default: CUDA when available.")
@click.option("--preprocess/--no-preprocess", default=None,
              help="Run the encoder's recorded preprocessing on the raw images (default: when it has one); "
                   "--no-preprocess for images that are model-ready already.")
@click.option("--bands", help="Band names of the images' channels, e.g. g,r,i,z (default: the store's; for .npy "
                              "the preprocessing's input bands or the model's, by channel count).")
@click.option("--pixel-scale", type=click.FloatRange(min=0, min_open=True),
              help="Arcsec/pixel of the images (default: the store's, else the preprocessing's input scale).")
def evaluate_command(model, data, catalog, label_col, out, sizes, repeats, k, C, test_fraction, seed, batch_size,
                     device, preprocess, bands, pixel_scale) -> None:
    """Linear-probe and kNN accuracy of an encoder's embeddings, and the low-label curve (table + PNG).

    The images are preprocessed as the encoder was trained (on the device) unless --no-preprocess.
    """
    from galzoo_fm.training.evaluate import evaluate, parse_sizes

    try:
        result = evaluate(model, data, catalog, label_col, out=out, sizes=parse_sizes(sizes), repeats=repeats,
                          k=k, C=C, test_fraction=test_fraction, seed=seed, batch_size=batch_size, device=device,
                          preprocess=preprocess, bands=bands, pixel_scale=pixel_scale)
    except (ValueError, TypeError) as exc:
        raise _cli_error(exc) from exc
    click.echo(f"linear probe accuracy {result.linear_accuracy:.4f}, kNN (k={k}) {result.knn_accuracy:.4f} "
               f"({result.n_train} train / {result.n_test} test)")
    prep = result.preprocessing
    if prep.get("applied"):
        click.echo(f"preprocessed as recorded in the encoder (bands {','.join(prep['input_bands'])}, "
                   f"{prep['input_pixel_scale']} arcsec/pixel): {prep['n_flagged']} flagged, {prep['n_bad']} bad")
    for row in result.curve:
        click.echo(f"  {row['n_labels']:>6d} labels: {row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}")
    for name, path in result.files.items():
        click.echo(f"wrote {name}: {path}")


@cli.command("embed")
@click.argument("catalog", type=click.Path(dir_okay=False))
@click.option("--survey", default="legacy", show_default=True, help="Registered survey (see `galzoo-fm surveys`).")
@click.option("--layer", help="Survey layer, e.g. ls-dr9 (shortcut for --survey-opt layer=...).")
@click.option("--model", help="Encoder folder or hf_hub:<repo id>; default: a random-init resnet18 (seeded).")
@click.option("-o", "--out", help=f"Output table ({_TABLES}); default CATALOG_embeddings.fits.")
@click.option("--survey-opt", "survey_opts", multiple=True, metavar="KEY=VALUE",
              help="Survey option, repeatable (e.g. bands=grz, path=mosaic.fits, server=...).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", help="cuda, cpu, cuda:1, ...; default: CUDA when available (one GPU per torchrun rank).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(min=1),
              help="Concurrent downloads, and preprocessing threads.")
@click.option("--id-col", help="Identifier column (default: id, objid, name, ...; else the row number).")
@click.option("--ra-col", help="RA column (default: ra, RA, ra_deg, RAJ2000, ...).")
@click.option("--dec-col", help="Dec column (default: dec, DEC, dec_deg, DEJ2000, ...).")
@click.option("--keep-cols", help="Comma-separated input columns to copy to the output.")
@click.option("--anomaly", "anomaly_k", type=click.IntRange(min=1), metavar="K",
              help="Add an anomaly_score column: mean cosine distance to the K nearest galaxies.")
@click.option("--size", type=click.IntRange(min=1), help="Cutout side in survey pixels (default: the model's field).")
@click.option("--store", type=click.Path(file_okay=False), help="Cutout store folder (default: OUT.cutouts).")
@click.option("--image-size", default=64, show_default=True, type=click.IntRange(min=8),
              help="Input size of the random-init model (ignored with --model).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random-init model.")
@click.option("--block-rows", type=click.IntRange(min=1), help="Catalogue rows per committed block.")
@click.option("--overwrite", is_flag=True, help="Embed again although OUT exists.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal).")
def embed_command(catalog, survey, layer, model, out, survey_opts, batch_size, device, workers, id_col, ra_col,
                  dec_col, keep_cols, anomaly_k, size, store, image_size, seed, block_rows, overwrite,
                  progress) -> None:
    """Embed every galaxy of CATALOG: fetch cutouts, preprocess as the model says, write vectors + status.

    Resumable: after Ctrl-C or a crash, run the same command again. Scale out with
    `torchrun --nproc-per-node N galzoo-fm embed ...`.
    """
    from pathlib import Path

    from galzoo_fm.embedding import run_embedding
    from galzoo_fm.fetch import parse_options

    out = out or str(Path(catalog).with_name(Path(catalog).stem + "_embeddings.fits"))
    try:
        summary = run_embedding(
            catalog, model=model, survey=survey, survey_options=parse_options(survey_opts), layer=layer, size=size,
            out=out, store=store, batch_size=batch_size, device=device, workers=workers,
            keep_cols=[c.strip() for c in keep_cols.split(",") if c.strip()] if keep_cols else (),
            anomaly_k=anomaly_k, progress=sys.stderr.isatty() if progress is None else progress,
            columns={"id": id_col, "ra": ra_col, "dec": dec_col}, overwrite=overwrite, block_rows=block_rows,
            image_size=image_size, seed=seed,
        )
    except KeyboardInterrupt:
        click.echo("interrupted: finished blocks are kept; run the same command again to resume", err=True)
        sys.exit(130)
    except (ValueError, TypeError, FileExistsError) as exc:
        raise _cli_error(exc) from exc
    if summary.rank == 0:
        click.echo(str(summary))
        if model is None:
            click.echo("note: random-init model; pass --model with a pretrained encoder for morphology-aware vectors")


@cli.command("similar")
@click.argument("embeddings", type=click.Path(dir_okay=False))
@click.option("--id", "query_id", help="Identifier of the query galaxy.")
@click.option("--ra", type=float, help="RA of the query (degrees), with --dec: the nearest catalogue object.")
@click.option("--dec", type=float, help="Dec of the query (degrees).")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Neighbours.")
@click.option("-o", "--out", help=f"Also write the neighbours table ({_TABLES}).")
@click.option("--device", help="cuda, cpu, ...; default: CUDA when available.")
@click.option("--backend", type=click.Choice(["torch", "faiss"]), default="torch", show_default=True,
              help="Exact search with batched torch matrix products, or a faiss flat index.")
def similar_command(embeddings, query_id, ra, dec, k, out, device, backend) -> None:
    """The K galaxies most similar (cosine) to --id X, or to the object nearest --ra/--dec."""
    from galzoo_fm._utils.writers import write_table
    from galzoo_fm.explore import find_similar, read_embeddings

    try:
        table = read_embeddings(embeddings)
        row, near = find_similar(table, id=query_id, ra=ra, dec=dec, k=k, device=device, backend=backend)
        if out:
            write_table(near, out, overwrite=True)
    except (ValueError, TypeError) as exc:
        raise _cli_error(exc) from exc
    click.echo(f"query: row {row}, id {table['id'][row]}")
    near["similarity"].format = ".4f"
    click.echo("\n".join(near.pformat(max_lines=-1, max_width=-1)))


@cli.command("anomaly")
@click.argument("embeddings", type=click.Path(dir_okay=False))
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Neighbours averaged.")
@click.option("-o", "--out", help=f"Write EMBEDDINGS with an anomaly_score column to this table ({_TABLES}).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=0), help="List the N most unusual.")
@click.option("--device", help="cuda, cpu, ...; default: CUDA when available.")
@click.option("--backend", type=click.Choice(["torch", "faiss"]), default="torch", show_default=True)
def anomaly_command(embeddings, k, out, top, device, backend) -> None:
    """Anomaly scores: mean cosine distance of each galaxy to its K nearest others (large = unusual)."""
    import numpy as np

    from galzoo_fm._utils.writers import write_table
    from galzoo_fm.explore import anomaly_table, read_embeddings

    try:
        table = anomaly_table(read_embeddings(embeddings), k, device=device, backend=backend)
        if out:
            write_table(table, out, overwrite=True)
    except (ValueError, TypeError) as exc:
        raise _cli_error(exc) from exc
    score = np.nan_to_num(np.asarray(table["anomaly_score"]), nan=-np.inf)
    for rank, row in enumerate(np.argsort(-score, kind="stable")[:top], 1):
        click.echo(f"{rank:>4d}  {table['id'][row]!s:>20}  {table['anomaly_score'][row]:.4f}")
    if out:
        click.echo(f"wrote {out}")


@cli.group("plot")
def plot_group() -> None:
    """Pictures of embeddings: nearest neighbours, 2-D maps (PNG or PDF)."""


@plot_group.command("neighbours")
@click.argument("embeddings", type=click.Path(dir_okay=False))
@click.option("--id", "query_id", help="Identifier of the query galaxy.")
@click.option("--ra", type=float, help="RA of the query (degrees), with --dec.")
@click.option("--dec", type=float, help="Dec of the query (degrees).")
@click.option("-k", "k", default=8, show_default=True, type=click.IntRange(min=1), help="Neighbours shown.")
@click.option("-o", "--out", required=True, help="Figure file (.png or .pdf).")
@click.option("--store", type=click.Path(file_okay=False), help="Cutout store (default: recorded in EMBEDDINGS).")
@click.option("--device", help="cuda, cpu, ...; default: CUDA when available.")
def plot_neighbours_command(embeddings, query_id, ra, dec, k, out, store, device) -> None:
    """The query galaxy and its K nearest neighbours as RGB cutouts, with ids and similarities."""
    from galzoo_fm.explore import neighbours_figure
    from galzoo_fm.explore.plots import save_figure

    try:
        fig = neighbours_figure(embeddings, id=query_id, ra=ra, dec=dec, k=k, store=store, device=device)
        click.echo(f"wrote {save_figure(fig, out)}")
    except (ValueError, TypeError) as exc:
        raise _cli_error(exc) from exc


@plot_group.command("map")
@click.argument("embeddings", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, help="Figure file (.png or .pdf).")
@click.option("--method", type=click.Choice(["pca", "umap", "auto"]), default="pca", show_default=True)
@click.option("--thumbnails", default=30, show_default=True, type=click.IntRange(min=0), help="Galaxies drawn.")
@click.option("--colour", help="Colour points by this column (e.g. anomaly_score).")
@click.option("--store", type=click.Path(file_okay=False), help="Cutout store (default: recorded in EMBEDDINGS).")
@click.option("--seed", default=0, show_default=True, type=int)
def plot_map_command(embeddings, out, method, thumbnails, colour, store, seed) -> None:
    """A 2-D map of the embeddings (PCA; UMAP if installed) with thumbnails of sample galaxies."""
    from galzoo_fm.explore import map_figure
    from galzoo_fm.explore.plots import save_figure

    try:
        fig = map_figure(embeddings, method=method, n_thumbnails=thumbnails, colour=colour, store=store, seed=seed)
        click.echo(f"wrote {save_figure(fig, out)}")
    except (ValueError, TypeError) as exc:
        raise _cli_error(exc) from exc


@cli.group("datasets")
def datasets_group() -> None:
    """Public Galaxy Zoo releases: list, download (resumable, checksummed), prepare for pretraining."""


_DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False),
                         help="Data folder (default: $GALZOO_FM_DATA_DIR, else ~/.cache/galzoo_fm/datasets).")
_MIRROR = click.option("--mirror", help="Fetch from this host instead (http[s]://host[:port]; URL paths kept).")
_PROGRESS = click.option("--progress/--no-progress", default=None,
                         help="Progress bars (default: when stderr is a terminal).")


def _dataset_errors():
    from galzoo_fm._utils.http import HTTPFailure
    from galzoo_fm.datasets.public import ChecksumError, DatasetUnavailableError

    return (ValueError, TypeError, OSError, ChecksumError, DatasetUnavailableError, HTTPFailure)


@datasets_group.command("list")
@click.argument("pattern", required=False)
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def datasets_list_command(pattern, data_dir, as_json) -> None:
    """Registered releases: name, schema, size, whether they are in the data folder, title."""
    from galzoo_fm.datasets.public.describe import describe_datasets

    click.echo(describe_datasets(pattern, data=data_dir, as_json=as_json))


@datasets_group.command("info")
@click.argument("name")
@_DATA_DIR
def datasets_info_command(name, data_dir) -> None:
    """Citation, licence, schema and files of release NAME, and where to place them without network."""
    from galzoo_fm.datasets.public.describe import describe_dataset, open_release

    try:
        click.echo(describe_dataset(open_release(name), data=data_dir))
    except _dataset_errors() as exc:
        raise _cli_error(exc) from exc


@datasets_group.command("download")
@click.argument("name")
@_DATA_DIR
@_MIRROR
@click.option("--retries", default=5, show_default=True, type=click.IntRange(min=0),
              help="Retries of a dropped connection (each resumes).")
@_PROGRESS
def datasets_download_command(name, data_dir, mirror, retries, progress) -> None:
    """Download release NAME into the data folder, resuming partial files and verifying checksums."""
    from galzoo_fm.datasets.public import download, release_dir
    from galzoo_fm.datasets.public.describe import open_release

    try:
        release = open_release(name, mirror=mirror)
        folder = download(release, release_dir(release, data_dir), progress=progress, retries=retries)
    except _dataset_errors() as exc:
        raise _cli_error(exc) from exc
    click.echo(f"{name}: all files verified in {folder}")


@datasets_group.command("verify")
@click.argument("name")
@_DATA_DIR
@_PROGRESS
def datasets_verify_command(name, data_dir, progress) -> None:
    """Hash every file of release NAME in the data folder against the published checksums."""
    from galzoo_fm.datasets.public import release_dir, verify
    from galzoo_fm.datasets.public.describe import open_release

    try:
        release = open_release(name)
        problems = verify(release, release_dir(release, data_dir), progress=progress)
    except _dataset_errors() as exc:
        raise _cli_error(exc) from exc
    if problems:
        raise click.ClickException("\n".join(problems))
    click.echo(f"{name}: {len(release.files)} files verified")


@datasets_group.command("prepare")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output store folder.")
@click.option("--size", type=click.IntRange(min=1), help="Resize images to SIZE x SIZE pixels.")
@_DATA_DIR
@click.option("--no-download", is_flag=True, help="Use only files already in the data folder.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N galaxies (a quick trial).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Threads decoding and resizing images.")
@_MIRROR
@_PROGRESS
def datasets_prepare_command(name, out, size, data_dir, no_download, limit, workers, mirror, progress) -> None:
    """Write OUT/catalog.fits and a cutout store at OUT from release NAME, ready for `galzoo-fm pretrain`."""
    from galzoo_fm.datasets.public import prepare, release_dir
    from galzoo_fm.datasets.public.describe import open_release

    try:
        release = open_release(name, mirror=mirror)
        summary = prepare(release, out, folder=release_dir(release, data_dir), size=size,
                          download=not no_download, progress=progress, limit=limit, workers=workers)
    except _dataset_errors() as exc:
        raise _cli_error(exc) from exc
    click.echo(str(summary))


@datasets_group.command("join")
@click.argument("images", type=click.Path(dir_okay=False))
@click.option("--votes", "votes", multiple=True, required=True, metavar="SCHEMA=FILE",
              help="A campaign's vote table, named by its schema (repeat for each campaign).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=f"Output table ({_TABLES}).")
@click.option("--on", type=click.Choice(["id", "sky"]), default="id", show_default=True, help="How rows match.")
@click.option("--tolerance", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Largest separation for --on sky (arcsec).")
@click.option("--schema", help="Give every label column of this schema (e.g. gz_evo), 0 where not joined.")
@click.option("--id-col", default="id", show_default=True)
@click.option("--ra-col", default="ra", show_default=True)
@click.option("--dec-col", default="dec", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def datasets_join_command(images, votes, out, on, tolerance, schema, id_col, ra_col, dec_col, overwrite) -> None:
    """One row per row of IMAGES with every campaign's vote counts (GZ-Evo layout), matched by id or sky."""
    from galzoo_fm.datasets.public.join import join_files, parse_votes

    try:
        path, report = join_files(images, parse_votes(votes), out, overwrite=overwrite, on=on, tolerance=tolerance,
                                  schema=schema, id_col=id_col, ra_col=ra_col, dec_col=dec_col)
    except (ValueError, TypeError, OSError) as exc:
        raise _cli_error(exc) from exc
    for name, r in report.items():
        click.echo(f"{name}: {r['matched']} of {r['rows']} vote rows matched, {r['unmatched']} unmatched, "
                   f"{r['ambiguous']} ambiguous, {r['lost_to_nearer']} lost to a nearer row")
    click.echo(f"wrote {path}")


def main() -> None:
    """Run the ``galzoo-fm`` command line (the console script is :func:`galzoo_fm.__main__.main`)."""
    cli(prog_name="galzoo-fm")
