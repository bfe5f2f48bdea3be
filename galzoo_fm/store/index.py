"""A lean, catalogue-row index over a cutout store, for resuming and reading it at any catalogue size.

:class:`~galzoo_fm.store.reader.CutoutStore` keeps every row's id, position, WCS and reason in memory (hundreds
of bytes per row) and keeps every chunk file mapped. Embedding needs much less: for each catalogue row,
where its pixels are (chunk, slot) and its status and reason. :class:`StoreIndex` reads only the ``row``,
``status``, ``reason`` and ``slot`` arrays of each chunk's ``.rows.npz`` and keeps them as small integer
codes (about 13 bytes per row; reason texts once each), resolving rows recorded twice chunk by chunk with the
store's one rule (:func:`~galzoo_fm.store.layout.winning_records`: a final status beats ``failed``, a later
record beats an earlier one). Pixel files are memory-mapped on demand, a few at a time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from galzoo_fm.cutout import Status
from galzoo_fm.store.layout import chunk_files, chunk_stem, plane_suffix, read_manifest, winning_records

__all__ = ["StoreIndex"]

_STATUSES = [s.value for s in Status]
_HAS_PIXELS = np.array([Status(s).has_pixels for s in _STATUSES])
_FAILED = _STATUSES.index(Status.FAILED.value)
_NOT_FETCHED = "not fetched (run the command again to retry)"


class StoreIndex:
    """Status, reason and pixels of a cutout store by catalogue row.

    Parameters
    ----------
    root : str or path
        The store folder.
    n_rows : int
        Catalogue rows; rows the store lacks read as ``failed`` ("not fetched").
    open_maps : int
        Chunk files kept memory-mapped at once.
    """

    def __init__(self, root: str | Path, n_rows: int, *, open_maps: int = 8):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.shape = tuple(self.manifest["shape"])
        #: dtype of the stored pixels (float32; uint8 / uint16 for 8/16-bit image files)
        self.dtype = np.dtype(self.manifest.get("dtype", "float32"))
        self.bands = list(self.manifest["bands"])
        self.pixscale = self.manifest.get("pixscale")
        self.n_rows = int(n_rows)
        self._open_maps = open_maps
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # take() may run in several reader threads at once
        self._build()

    def _build(self) -> None:
        self._files: list[str] = []
        self._seen: set[str] = set()
        self.chunk = np.full(self.n_rows, -1, np.int32)
        self.slot = np.full(self.n_rows, -1, np.int32)
        self.code = np.full(self.n_rows, _FAILED, np.uint8)
        self.reason_code = np.zeros(self.n_rows, np.uint32)
        self.reasons: list[str] = [_NOT_FETCHED]
        self._lookup = {_NOT_FETCHED: 0}
        self.refresh()

    def refresh(self) -> int:
        """Take in the chunks committed since this index was built or last refreshed; returns how many.

        Their records apply after the ones already read, with the store's one rule, so that a reader can
        follow a fetch that is still running (the embedding of image files does: it embeds the blocks whose
        rows have arrived). Call it from one thread at a time; :meth:`take` may run meanwhile for rows the
        new chunks do not hold.
        """
        new = [p for p in chunk_files(self.root) if str(p) not in self._seen]
        for path in new:  # the records chunk by chunk, in the store's record order
            self._seen.add(str(path))
            self._files.append(chunk_stem(path) + plane_suffix("data"))
            self._apply(len(self._files) - 1, path)
        return len(new)

    def _apply(self, ci: int, path: Path) -> None:
        lookup = self._lookup
        with np.load(path, allow_pickle=False) as z:
            rows, status, reason, slot = z["row"], z["status"], z["reason"], z["slot"]
        inside = (rows >= 0) & (rows < self.n_rows)
        rows, status, reason, slot = rows[inside], status[inside], reason[inside], slot[inside]
        names, inverse = np.unique(status, return_inverse=True)
        codes = np.array([_STATUSES.index(s) for s in names.tolist()], np.uint8)[inverse.ravel()]
        held_final = (self.chunk[rows] >= 0) & (self.code[rows] != _FAILED)
        win = winning_records(rows, codes != _FAILED, held_final)
        rows, codes, reason, slot = rows[win], codes[win], reason[win], slot[win]
        texts, inverse = np.unique(reason, return_inverse=True)
        rcodes = np.array([lookup.setdefault(t, len(lookup)) for t in texts.tolist()], np.uint32)[inverse.ravel()]
        self.reasons = list(lookup)
        self.slot[rows] = slot
        self.code[rows] = codes
        self.reason_code[rows] = rcodes
        self.chunk[rows] = ci  # last: a row counts as recorded once the rest is in place

    def recorded(self) -> np.ndarray:
        """``(n_rows,)`` bool: the store holds a record of the row (any status)."""
        return self.chunk >= 0

    def done(self) -> np.ndarray:
        """``(n_rows,)`` bool: the row's recorded status is final (anything but ``failed``)."""
        return (self.chunk >= 0) & (self.code != _FAILED)

    def counts(self) -> dict[str, int]:
        """Recorded rows per status."""
        values = np.bincount(self.code[self.chunk >= 0], minlength=len(_STATUSES))
        return {_STATUSES[i]: int(c) for i, c in enumerate(values) if c}

    def status(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``(status, reason)`` string arrays of catalogue rows ``[start, stop)``."""
        status = np.asarray(_STATUSES)[self.code[start:stop]]
        reasons = np.asarray(self.reasons)
        return status, reasons[self.reason_code[start:stop]]

    def _array(self, chunk: int) -> np.ndarray:
        with self._lock:
            arr = self._maps.pop(chunk, None)
            if arr is None:
                arr = np.load(self._files[chunk], mmap_mode="r", allow_pickle=False)
                while len(self._maps) >= self._open_maps:
                    self._maps.popitem(last=False)
            self._maps[chunk] = arr
            return arr

    def take(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Pixels ``(n, C, H, W)`` float32 of catalogue ``rows`` (zeros for rows without pixels).

        Parameters
        ----------
        rows : array of int
            Catalogue rows.
        out : numpy.ndarray, optional
            float32 (or the store's own ``dtype``: no conversion, e.g. uint8 for the GPU to convert)
            C-contiguous ``(n, C, H, W)`` to fill instead of a new array (e.g. a view of a pinned host
            buffer); rows without pixels are zeroed, the others copied straight from the chunk files. Safe
            to call from several threads at once.

        Returns
        -------
        numpy.ndarray
            ``out``, or a new array.
        """
        rows = np.asarray(rows, dtype=np.int64)
        shape = (len(rows), *self.shape)
        if out is None:
            out = np.zeros(shape, np.float32)
            zeroed = True
        else:
            if not isinstance(out, np.ndarray) or out.dtype not in (np.float32, self.dtype) or out.shape != shape:
                got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
                raise ValueError(f"out must be a float32 or {self.dtype} array of shape {shape}, got {got}")
            zeroed = False
        ok = _HAS_PIXELS[self.code[rows]] & (self.slot[rows] >= 0)
        if not zeroed and not ok.all():
            out[~ok] = 0.0
        have = np.flatnonzero(ok)
        chunks = self.chunk[rows[have]]
        for c in np.unique(chunks):
            sel = have[chunks == c]
            slots = self.slot[rows[sel]]
            arr = self._array(int(c))
            if len(slots) > 1 and np.all(np.diff(slots) == 1) and np.all(np.diff(sel) == 1):
                out[sel[0]:sel[-1] + 1] = arr[slots[0]:slots[-1] + 1]  # sequential: one slab copy
            else:
                out[sel] = arr[slots]
        return out

    def offsets(self, start: int, stop: int) -> np.ndarray:
        """Offsets (from ``start``) of the rows in ``[start, stop)`` that have pixels."""
        return np.flatnonzero(_HAS_PIXELS[self.code[start:stop]])
