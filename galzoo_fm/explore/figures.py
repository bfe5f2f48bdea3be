"""After embedding: read an embeddings table, find similar and unusual galaxies, and draw them.

Pictures come from the cutout store the run left beside the table (its path is in the table's ``STORE``
metadata, relative to the table's folder), drawn from the raw fluxes with
:func:`galzoo_fm.preprocess.make_rgb`: colours from the store's band names (reddest band red, whatever
the store's channel order), each cutout turned north-up, east-left by its stored WCS
(:func:`galzoo_fm.explore.plots.orient_north_up`) and a scale bar from the store's pixel scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from galzoo_fm._utils.tableio import read_table, table_format
from galzoo_fm.explore.plots import orient_north_up, plot_map, plot_neighbours
from galzoo_fm.explore.search import SimilarityIndex, nearest_row

__all__ = ["anomaly_table", "find_similar", "map_figure", "neighbours_figure", "read_embeddings", "store_path",
           "top_anomalies"]


def read_embeddings(path: str | Path) -> Table:
    """Read a table written by ``galzoo-fm embed`` (any supported format); ``ValueError`` if it is not one.

    Unlike a plain ``Table.read`` of FITS, NaN vectors and empty strings are kept as they are (not masked),
    and text columns are ``str``, so every format reads back alike.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise ValueError(f"embeddings file {str(path)!r} does not exist")
    try:
        table = read_table(path, **({"mask_invalid": False} if fmt == "fits" else {}))
    except Exception as exc:
        raise ValueError(f"cannot read embeddings {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    table.convert_bytestring_to_unicode()
    for name in table.colnames:  # FITS is big-endian: give NumPy / torch native floats
        col = table[name]
        if col.dtype.kind == "U" and hasattr(col, "filled"):  # ECSV reads empty strings as masked
            table[name] = col = col.filled("")
        if col.dtype.kind in "fiu" and not col.dtype.isnative:
            table[name] = col.astype(col.dtype.newbyteorder("="))
    if "embedding" not in table.colnames or table["embedding"].ndim != 2:
        raise ValueError(f"{path} has no (N, D) 'embedding' column; columns: {', '.join(table.colnames)}")
    return table


def store_path(table: Table, path: str | Path | None = None, store: str | Path | None = None) -> Path:
    """The cutout store of an embeddings table: ``store`` if given, else its ``STORE`` metadata."""
    if store is not None:
        return Path(store)
    ref = table.meta.get("STORE") or table.meta.get("store")
    if not ref:
        raise ValueError("the embeddings table records no cutout store (STORE metadata); pass --store")
    ref = Path(str(ref))
    return ref if ref.is_absolute() or path is None else Path(path).parent / ref


def find_similar(table: Table, *, id: Any = None, ra: float | None = None, dec: float | None = None, k: int = 10,
                 device: Any = None, backend: str = "torch", max_sep_arcsec: float = 5.0) -> tuple[int, Table]:
    """The ``k`` galaxies most similar (cosine) to the one with ``id``, or nearest to (``ra``, ``dec``).

    Returns
    -------
    row : int
        The query's row.
    neighbours : astropy.table.Table
        ``rank``, ``row``, ``id``, ``ra``, ``dec``, ``similarity``, most similar first.
    """
    if (id is None) == (ra is None or dec is None):
        raise ValueError("give either an id or both ra and dec")
    ids = [str(v) for v in table["id"]]
    index = SimilarityIndex(np.asarray(table["embedding"]), ids=ids, device=device, backend=backend)
    if id is not None:
        row = index.row_of(str(id))
    else:
        row = nearest_row(float(ra), float(dec), table["ra"], table["dec"], max_sep_arcsec=max_sep_arcsec)
    rows, sims = index.neighbours_of_row(row, k)
    out = Table({"rank": np.arange(1, len(rows) + 1), "row": rows, "id": np.asarray(table["id"])[rows],
                 "ra": np.asarray(table["ra"])[rows], "dec": np.asarray(table["dec"])[rows], "similarity": sims})
    return row, out


def anomaly_table(table: Table, k: int = 10, *, device: Any = None, backend: str = "torch") -> Table:
    """``table`` with an ``anomaly_score`` column (mean cosine distance to the ``k`` nearest others)."""
    out = table.copy(copy_data=False)
    index = SimilarityIndex(np.asarray(table["embedding"]), device=device, backend=backend)
    out["anomaly_score"] = index.anomaly_scores(k)
    out.meta["ANOMALYK"] = int(k)
    return out


def top_anomalies(table: Table, n: int = 10) -> Table:
    """The ``n`` rows of ``table`` with the largest ``anomaly_score``, most unusual first.

    Rows without a score (NaN: no cutout) come last; ties keep the table's order.

    Parameters
    ----------
    table : astropy.table.Table
        A table with ``id`` and ``anomaly_score`` columns (:func:`anomaly_table`).
    n : int
        How many rows (fewer if the table is shorter; 0 gives an empty table).

    Returns
    -------
    astropy.table.Table
        Columns ``rank`` (1, 2, ...), ``row`` (the row in ``table``), ``id`` and ``anomaly_score``.

    Raises
    ------
    ValueError
        ``n`` is negative, or ``table`` lacks an ``anomaly_score`` column.

    Examples
    --------
    >>> t = Table({"id": ["a", "b", "c"], "anomaly_score": [0.1, float("nan"), 0.3]})
    >>> top_anomalies(t, 2)["id"].tolist()
    ['c', 'a']
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if "anomaly_score" not in table.colnames:
        raise ValueError(f"the table has no anomaly_score column (columns: {', '.join(table.colnames)}); "
                         "score it with anomaly_table first")
    score = np.nan_to_num(np.asarray(table["anomaly_score"], dtype=np.float64), nan=-np.inf)
    rows = np.argsort(-score, kind="stable")[:int(n)]
    return Table({"rank": np.arange(1, len(rows) + 1, dtype=np.int64), "row": rows.astype(np.int64),
                  "id": table["id"][rows], "anomaly_score": table["anomaly_score"][rows]})


class _Cutouts:
    """Cutouts by output row, read from the store on demand (for thumbnails of huge catalogues).

    Each cutout is turned north-up, east-left (drawn with ``origin="lower"``) by the CD matrix the store
    recorded for it; :attr:`bands` and :attr:`pixel_scale` come from the store's manifest.
    """

    def __init__(self, table: Table, store: Path):
        from galzoo_fm.store.index import StoreIndex

        self.index = StoreIndex(store, len(table))
        self.shape = (len(table), *self.index.shape)
        self.bands = list(self.index.bands)
        self.pixel_scale = float(self.index.pixscale) if self.index.pixscale else None
        if self.pixel_scale is None:  # a store without one: the first recorded cutout's WCS
            cd = self.cd(np.flatnonzero(self.index.recorded() & (self.index.slot >= 0))[:1])
            if len(cd) and np.isfinite(cd).all():
                self.pixel_scale = float(np.sqrt(abs(np.linalg.det(cd[0]))) * 3600)
        self.max_rotation = 0.0  # degrees from north-up left by the flips (a rotated WCS)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, row: int) -> np.ndarray:
        return self.take([int(row)])[0]

    def cd(self, rows: Any) -> np.ndarray:
        """``(n, 2, 2)`` CD matrices (degrees per pixel) recorded for ``rows``; NaN where none is."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full((len(rows), 2, 2), np.nan)
        chunks = self.index.chunk[rows]
        for c in np.unique(chunks[chunks >= 0]):
            # the .rows.npz beside the chunk's pixel file holds one record per (row, slot), with its WCS
            with np.load(self.index._files[int(c)][: -len(".npy")] + ".rows.npz", allow_pickle=False) as z:
                if "cd" not in z.files:
                    continue
                rec_row, rec_slot, cd = z["row"], z["slot"], z["cd"]
            for k in np.flatnonzero(chunks == c):
                hit = np.flatnonzero((rec_row == rows[k]) & (rec_slot == self.index.slot[rows[k]]))
                if len(hit):
                    out[k] = cd[hit[-1]]
        return out

    def take(self, rows: Any) -> np.ndarray:

        rows = np.asarray(rows, dtype=np.int64)
        images = self.index.take(rows)
        out = np.empty_like(images)
        for k, cd in enumerate(self.cd(rows)):
            oriented, residual = orient_north_up(images[k], cd)
            if oriented.shape != out.shape[1:]:  # a non-square cutout stored transposed: keep it as stored
                oriented, residual = images[k], 0.0
            out[k] = oriented
            self.max_rotation = max(self.max_rotation, residual)
        return out

    def warn_rotation(self) -> None:
        if self.max_rotation > 1.0:
            import warnings

            warnings.warn(f"some cutouts' WCS is rotated by up to {self.max_rotation:.0f} deg from north-up; "
                          "they are drawn in the nearest north-up, east-left flip, not resampled", UserWarning,
                          stacklevel=3)


def neighbours_figure(path: str | Path, *, id: Any = None, ra: float | None = None, dec: float | None = None,
                      k: int = 8, store: str | Path | None = None, device: Any = None, ncols: int = 5,
                      title: str | None = None):
    """The query galaxy and its ``k`` nearest neighbours as RGB cutouts (a matplotlib figure).

    Colours, orientation and scale bar come from the store, see the module notes; ``title`` replaces the
    first title line (see :func:`~galzoo_fm.explore.plot_neighbours`).
    """

    table = read_embeddings(path)
    row, near = find_similar(table, id=id, ra=ra, dec=dec, k=k, device=device)
    cutouts = _Cutouts(table, store_path(table, path, store))
    images = cutouts.take([row, *near["row"]])
    cutouts.warn_rotation()
    return plot_neighbours(images[0], images[1:], query_label=str(table["id"][row]),
                           labels=[str(v) for v in near["id"]], similarities=near["similarity"], ncols=ncols,
                           bands=cutouts.bands, pixel_scale=cutouts.pixel_scale, title=title)


def map_figure(path: str | Path, *, method: str = "pca", n_thumbnails: int = 30, colour: str | None = None,
               store: str | Path | None = None, seed: int = 0, thumbnail_zoom: float = 0.6,
               title: str | None = None):
    """A 2-D map (PCA, or UMAP when installed and asked for) of the embeddings with thumbnails.

    Thumbnail colours, orientation and scale bar come from the store, see the module notes; ``title``
    replaces the first title line (see :func:`~galzoo_fm.explore.plot_map`).
    """

    table = read_embeddings(path)
    values = None
    if colour is not None:
        if colour not in table.colnames:
            raise ValueError(f"colour column {colour!r} not in {path}; columns: {', '.join(table.colnames)}")
        values = np.asarray(table[colour], dtype=float)
    images = _Cutouts(table, store_path(table, path, store)) if n_thumbnails > 0 else None
    fig = plot_map(np.asarray(table["embedding"]), images, method=method, n_thumbnails=n_thumbnails,
                   colour=values, colour_label=colour, seed=seed, thumbnail_zoom=thumbnail_zoom,
                   bands=images.bands if images is not None else None,
                   pixel_scale=images.pixel_scale if images is not None else None, title=title)
    if images is not None:
        images.warn_rotation()
    return fig
