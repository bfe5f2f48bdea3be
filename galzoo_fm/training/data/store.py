"""A batch dataset over the rows of a cutout store that have pixels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from galzoo_fm.training.data.arrays import BatchDataset

__all__ = ["CutoutStoreDataset"]


def _by_catalog_row(values: np.ndarray | None, rows: np.ndarray, n_catalog: int | None, what: str) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values)
    if n_catalog is not None and len(values) != n_catalog:
        raise ValueError(f"{what} has {len(values)} rows but the catalogue has {n_catalog}")
    if rows.size and rows.max() >= len(values):
        raise ValueError(
            f"the store holds catalogue row {int(rows.max())} but {what} has only {len(values)} rows: "
            "is it the catalogue the store was fetched from?"
        )
    return values[rows]


class CutoutStoreDataset(BatchDataset):
    """The cutouts of a :class:`~galzoo_fm.store.reader.CutoutStore` whose status is in ``statuses``.

    Position ``i`` of the dataset is store table position ``positions[i]``, i.e. catalogue row
    ``catalog_rows[i]``; votes and labels are given per *catalogue* row and picked through the store's
    ``row`` column, so a store fetched from a catalogue lines up with that catalogue's label columns.

    Parameters
    ----------
    store : CutoutStore, str or path
        The store, or its folder.
    statuses : sequence of str
        Statuses to use (default ``("ok", "partial")``: rows that have pixels).
    catalog_votes : numpy.ndarray, optional
        ``(N_catalog, A)`` vote counts per catalogue row, e.g. from
        :func:`galzoo_fm.schemas.votes_from_table`; zeros for unlabelled galaxies.
    catalog_labels : numpy.ndarray, optional
        ``(N_catalog,)`` / ``(N_catalog, k)`` labels per catalogue row.

    Attributes
    ----------
    store : CutoutStore
    positions : numpy.ndarray
        ``(N,)`` store table positions.
    catalog_rows : numpy.ndarray
        ``(N,)`` catalogue rows.
    """

    def __init__(
        self,
        store: Any,
        *,
        statuses: Sequence[str] = ("ok", "partial"),
        catalog_votes: np.ndarray | None = None,
        catalog_labels: np.ndarray | None = None,
    ):
        from galzoo_fm.store.reader import CutoutStore

        if isinstance(store, str | Path):
            store = CutoutStore(store)
        self.store = store
        self.positions = np.asarray(store.indices(tuple(statuses)), dtype=np.int64)
        if len(self.positions) == 0:
            raise ValueError(
                f"the cutout store at {str(store.root)!r} has no rows with status {', '.join(statuses)} "
                f"(counts: {store.counts()})"
            )
        self.catalog_rows = np.asarray(store.table["row"], dtype=np.int64)[self.positions]
        votes = _by_catalog_row(catalog_votes, self.catalog_rows, None, "the vote array")
        labels = _by_catalog_row(catalog_labels, self.catalog_rows, None, "the label array")
        super().__init__(len(self.positions), votes=votes, labels=labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.store.shape)

    @property
    def bands(self) -> list[str]:
        """Band names of the store's channels."""
        return list(self.store.bands)

    @property
    def pixel_scale(self) -> float | None:
        """Arcsec per pixel of the cutouts (the manifest's ``pixscale``), or ``None`` when the store has none."""
        value = getattr(self.store, "manifest", {}).get("pixscale")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None

    def read_images(self, positions: np.ndarray) -> np.ndarray:
        return self.store.read(self.positions[positions])
