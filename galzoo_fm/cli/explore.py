"""Working with an embeddings table: ``galzoo-fm similar``, ``anomaly``, ``plot neighbours``, ``plot map``."""

from __future__ import annotations

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["anomaly_command", "plot_group", "similar_command"]


@click.command("similar")
@opt.EMBEDDINGS
@opt.query()
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Neighbours.")
@click.option("-o", "--out", help=f"Also write the neighbours table ({opt.TABLES}).")
@opt.device()
@opt.backend()
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
        raise cli_error(exc) from exc
    click.echo(f"query: row {row}, id {table['id'][row]}")
    near["similarity"].format = ".4f"
    click.echo("\n".join(near.pformat(max_lines=-1, max_width=-1)))


@click.command("anomaly")
@opt.EMBEDDINGS
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Neighbours averaged.")
@click.option("-o", "--out", help=f"Write EMBEDDINGS with an anomaly_score column to this table ({opt.TABLES}).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=0), help="List the N most unusual.")
@opt.device()
@opt.backend()
def anomaly_command(embeddings, k, out, top, device, backend) -> None:
    """Anomaly scores: mean cosine distance of each galaxy to its K nearest others (large = unusual)."""
    from galzoo_fm._utils.writers import write_table
    from galzoo_fm.explore import anomaly_table, read_embeddings
    from galzoo_fm.explore.figures import top_anomalies

    try:
        table = anomaly_table(read_embeddings(embeddings), k, device=device, backend=backend)
        if out:
            write_table(table, out, overwrite=True)
        best = top_anomalies(table, top)
    except (ValueError, TypeError) as exc:
        raise cli_error(exc) from exc
    for line in best:
        click.echo(f"{line['rank']:>4d}  {line['id']!s:>20}  {line['anomaly_score']:.4f}")
    if out:
        click.echo(f"wrote {out}")


@click.group("plot")
def plot_group() -> None:
    """Pictures of embeddings: nearest neighbours, 2-D maps (PNG or PDF)."""


@plot_group.command("neighbours")
@opt.EMBEDDINGS
@opt.query()
@click.option("-k", "k", default=8, show_default=True, type=click.IntRange(min=1), help="Neighbours shown.")
@opt.FIGURE_OUT
@opt.PLOT_STORE
@opt.device()
def plot_neighbours_command(embeddings, query_id, ra, dec, k, out, store, device) -> None:
    """The query galaxy and its K nearest neighbours as RGB cutouts, with ids and similarities."""
    from galzoo_fm.explore import neighbours_figure
    from galzoo_fm.explore.plots import save_figure

    try:
        fig = neighbours_figure(embeddings, id=query_id, ra=ra, dec=dec, k=k, store=store, device=device)
        click.echo(f"wrote {save_figure(fig, out)}")
    except (ValueError, TypeError) as exc:
        raise cli_error(exc) from exc


@plot_group.command("map")
@opt.EMBEDDINGS
@opt.FIGURE_OUT
@click.option("--method", type=click.Choice(["pca", "umap", "auto"]), default="pca", show_default=True)
@click.option("--thumbnails", default=30, show_default=True, type=click.IntRange(min=0), help="Galaxies drawn.")
@click.option("--colour", help="Colour points by this column (e.g. anomaly_score).")
@opt.PLOT_STORE
@opt.seed()
def plot_map_command(embeddings, out, method, thumbnails, colour, store, seed) -> None:
    """A 2-D map of the embeddings (PCA; UMAP if installed) with thumbnails of sample galaxies."""
    from galzoo_fm.explore import map_figure
    from galzoo_fm.explore.plots import save_figure

    try:
        fig = map_figure(embeddings, method=method, n_thumbnails=thumbnails, colour=colour, store=store, seed=seed)
        click.echo(f"wrote {save_figure(fig, out)}")
    except (ValueError, TypeError) as exc:
        raise cli_error(exc) from exc
