"""Reading a cutout store: :class:`CutoutStore`, all parts as one store with one record per catalogue row.

Random access for training, sequential batches for embedding; pixels, WCS (the full stored header, SIP
included, or the linear part for stores written before the header column), status and provenance. The file
names, columns and the rule that resolves rows recorded twice are those of :mod:`galzoo_fm.store.layout`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from galzoo_fm.cutout import Status
from galzoo_fm.store.layout import (
    FORMAT,
    chunk_files,
    chunk_stem,
    plane_suffix,
    read_manifest,
    wcs_from_row,
    wcs_of_record,
    winning_records,
)

__all__ = ["FORMAT", "CutoutStore", "read_manifest", "wcs_from_row"]

#: Columns of :attr:`CutoutStore.table`; ``wcs_header`` is added when any chunk has it.
_TABLE_COLUMNS = ("row", "id", "ra", "dec", "status", "reason", "crval", "crpix", "cd", "ctype")


class CutoutStore:
    """Read access to a cutout store (all parts together, one record per catalogue row).

    Parameters
    ----------
    root : str or path
        Store folder.

    Attributes
    ----------
    table : astropy.table.Table
        One row per catalogue row recorded, sorted by catalogue ``row``: ``row``, ``id``, ``ra``, ``dec``,
        ``status``, ``reason``, ``crval``, ``crpix``, ``cd``, ``ctype``, and ``wcs_header`` (the full
        celestial FITS header, bytes, one card per line; empty for rows without a WCS) when the store has it;
        provenance in ``table.meta``.
    shape : tuple of int
        ``(C, H, W)`` of every cutout.

    Examples
    --------
    >>> store = CutoutStore("cutouts/")  # doctest: +SKIP
    >>> idx = store.indices(("ok", "partial"))  # doctest: +SKIP
    >>> batch = store.read(np.random.default_rng(0).choice(idx, 256))  # (256, C, H, W)  # doctest: +SKIP
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.shape = tuple(self.manifest["shape"])
        self.bands = tuple(self.manifest["bands"])
        self.extras = tuple(self.manifest.get("extras", ()))
        self._maps: dict[tuple[int, str], np.ndarray] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-scan the parts for chunks committed since the store was opened."""
        files = chunk_files(self.root)
        self._maps.clear()  # chunk numbers shift when a new part sorts before the others
        cols: dict[str, list[np.ndarray]] = {}
        chunk_ids: list[np.ndarray] = []
        headers = False
        for ci, path in enumerate(files):
            with np.load(path, allow_pickle=False) as z:
                n = len(z["row"])
                for key in (*_TABLE_COLUMNS, "slot"):
                    cols.setdefault(key, []).append(z[key])
                if "wcs_header" in z.files:  # stores written before it have only the linear WCS columns
                    headers = True
                    cols.setdefault("wcs_header", []).append(z["wcs_header"])
                else:
                    cols.setdefault("wcs_header", []).append(np.full(n, b"", dtype="S1"))
            chunk_ids.append(np.full(n, ci, np.int32))
        self._chunks = [chunk_stem(p) for p in files]
        if not files:
            self._chunk = np.zeros(0, np.int32)
            self._slot = np.zeros(0, np.int32)
            self.table = Table(names=("row", "id", "ra", "dec", "status", "reason"),
                               dtype=(np.int64, str, float, float, str, str), meta=self._meta())
            return
        merged = {k: np.concatenate(v) for k, v in cols.items()}
        keep = winning_records(merged["row"], merged["status"])  # one record per row, sorted by row
        self._chunk = np.concatenate(chunk_ids)[keep]
        self._slot = merged["slot"][keep]
        names = _TABLE_COLUMNS + (("wcs_header",) if headers else ())
        self.table = Table({n: merged[n][keep] for n in names}, meta=self._meta())

    def _meta(self) -> dict[str, Any]:
        keys = ("survey", "layer", "bands", "pixscale", "size", "provenance", "catalog", "package_version")
        return {k: self.manifest.get(k) for k in keys}

    def __len__(self) -> int:
        return len(self.table)

    @property
    def status(self) -> np.ndarray:
        """``(N,)`` status strings, aligned with ``table``."""
        return np.asarray(self.table["status"])

    def indices(self, statuses: Sequence[str] | str = ("ok", "partial")) -> np.ndarray:
        """Positions in ``table`` whose status is one of ``statuses``."""
        statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
        return np.flatnonzero(np.isin(self.status, list(statuses)))

    def counts(self) -> dict[str, int]:
        """Number of rows per status."""
        values, counts = np.unique(self.status, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def _array(self, chunk: int, plane: str) -> np.ndarray:
        key = (chunk, plane)
        arr = self._maps.get(key)
        if arr is None:
            arr = np.load(self._chunks[chunk] + plane_suffix(plane), mmap_mode="r", allow_pickle=False)
            self._maps[key] = arr
        return arr

    def read(self, indices: Sequence[int] | np.ndarray | slice, plane: str = "data",
             out: np.ndarray | None = None) -> np.ndarray:
        """Pixels of the given ``table`` positions, ``(n, C, H, W)`` float32.

        Rows without pixels (off footprint, failed, invalid) read as zeros. ``plane`` selects an extra
        plane such as ``"invvar"``. Reads are grouped per chunk file, so random batches are fast.
        """
        if plane != "data" and plane not in self.extras:
            raise ValueError(f"store has no plane {plane!r}; it has data{''.join(', ' + e for e in self.extras)}")
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"indices must be one-dimensional, got shape {idx.shape}")
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"index out of range for a store of {len(self)} rows")
        if out is None:
            out = np.empty((len(idx), *self.shape), np.float32)
        chunks, slots = self._chunk[idx], self._slot[idx]
        missing = slots < 0
        if missing.any():
            out[missing] = 0
        have = np.flatnonzero(~missing)
        order = have[np.argsort(chunks[have], kind="stable")]
        bounds = np.flatnonzero(np.diff(chunks[order])) + 1
        for group in np.split(order, bounds) if order.size else []:
            arr = self._array(int(chunks[group[0]]), plane)
            s = slots[group]
            srt = np.argsort(s, kind="stable")
            s_sorted, g_sorted = s[srt], group[srt]
            contiguous = s_sorted[-1] - s_sorted[0] == len(s_sorted) - 1 and np.all(np.diff(g_sorted) == 1)
            if contiguous:  # sequential reads: one slab copy
                out[g_sorted[0]:g_sorted[-1] + 1] = arr[s_sorted[0]:s_sorted[-1] + 1]
            else:
                out[g_sorted] = arr[s_sorted]
        return out

    def __getitem__(self, index: int) -> np.ndarray:
        """One cutout ``(C, H, W)``."""
        return self.read([index])[0]

    def wcs(self, index: int) -> WCS | None:
        """The celestial WCS of cutout ``index`` (``None`` if it has no pixels).

        The full stored header, SIP distortions included; for rows written before the store kept it, the
        linear WCS (``CRVAL``, ``CRPIX``, ``CD``, ``CTYPE``) as earlier versions read it.
        """
        return wcs_of_record(self.table[index])

    def iter_batches(self, batch_size: int = 256, statuses: Sequence[str] | str = ("ok", "partial")
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Sequential ``(indices, pixels)`` batches in catalogue order, for embedding."""
        idx = self.indices(statuses)
        for start in range(0, len(idx), batch_size):
            sel = idx[start:start + batch_size]
            yield sel, self.read(sel)

    def rows_done(self) -> np.ndarray:
        """Catalogue rows whose status is final (everything except ``failed``)."""
        return np.asarray(self.table["row"])[self.status != Status.FAILED.value]

