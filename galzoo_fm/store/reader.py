"""The cutout store: chunked ``(N, C, H, W)`` float32 arrays plus a status table, crash-safe and shardable.

Layout of a store folder::

    store.json                         manifest: shape (C, H, W), bands, survey provenance, catalogue
    parts/<part>/chunk-000000.npy      (k, C, H, W) float32 pixels of k cutouts (only rows with pixels)
    parts/<part>/chunk-000000.invvar.npy   optional extra planes, same shape
    parts/<part>/chunk-000000.rows.npz     the k' >= k rows of this chunk: catalogue row, id, ra, dec, status,
                                           reason, slot into the .npy (-1: no pixels), WCS of the pixel grid

Each writer (one fetch process, or one shard of a split job) owns one ``parts/<part>`` folder, holding an
exclusive lock on it. A chunk is committed by writing its pixel files and then its ``.rows.npz``, each to
a temporary name that is renamed into place; a reader only sees chunks whose ``.rows.npz`` exists, so a
``kill -9`` at any moment leaves a consistent store that simply lacks the last unflushed rows. Rows
recorded twice (a ``failed`` row retried by a later run) resolve to one record: a final status beats
``failed``, and a later record beats an earlier one.

Why ``.npy`` chunks: they need no extra dependency, are written with one atomic rename, and are read with
``numpy.load(mmap_mode="r")`` so that a random batch is a handful of contiguous slab copies out of the
page cache. HDF5 (h5py) is not crash-safe for appends without SWMR care and zarr adds a dependency
without adding anything this layout lacks.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from galzoo_fm._utils.atomic import atomic_write, exclusive_write, fsync_dir, remove_stale_temporaries
from galzoo_fm.cutout import Cutout, Status

__all__ = ["FORMAT", "CutoutStore", "StoreWriter", "wcs_from_row"]

FORMAT = "galzoo_fm.cutouts"
FORMAT_VERSION = 1
MANIFEST = "store.json"
_CHUNK_RE = re.compile(r"^chunk-(\d{6})\.rows\.npz$")
_TARGET_CHUNK_BYTES = 64 << 20
#: Manifest keys that must agree between all writers of one store.
_COMPATIBLE = ("shape", "bands", "extras", "dtype", "size", "survey", "layer", "pixscale", "catalog_fingerprint")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _wcs_params(wcs: WCS | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(crval (2,), crpix (2,) 1-based, cd (2, 2), "CTYPE1,CTYPE2") of a celestial WCS; NaN if none."""
    if wcs is None:
        return np.full(2, np.nan), np.full(2, np.nan), np.full((2, 2), np.nan), ""
    cel = wcs.celestial
    return (np.asarray(cel.wcs.crval, float), np.asarray(cel.wcs.crpix, float),
            np.asarray(cel.pixel_scale_matrix, float), ",".join(cel.wcs.ctype))


def wcs_from_row(crval: Sequence[float], crpix: Sequence[float], cd: np.ndarray, ctype: str) -> WCS | None:
    """Rebuild the celestial WCS stored for one cutout (``None`` when the row has none)."""
    if not ctype or not np.all(np.isfinite(crval)):
        return None
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ctype.split(",")
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = list(crpix)
    wcs.wcs.cd = np.asarray(cd)
    return wcs


def _check_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the output folder {str(root)!r}: {exc.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ValueError(f"the output folder {str(root)!r} is not writable")


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of the store at ``root``; ``ValueError`` if it is not a cutout store."""
    path = Path(root) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{str(root)!r} is not a cutout store (no {MANIFEST})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a galzoo_fm cutout store manifest (format={manifest.get('format')!r})")
    return manifest


def ensure_manifest(root: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create ``root/store.json`` (exclusively, safe against racing shards) or check it agrees.

    Raises ``ValueError`` naming each disagreeing key (e.g. a different survey, size or catalogue).
    """
    root = Path(root)
    _check_folder(root)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": _now(), **manifest}
    path = root / MANIFEST
    remove_stale_temporaries(root, MANIFEST)
    if not path.exists():
        exclusive_write(path, (json.dumps(manifest, indent=2) + "\n").encode())  # racing shards: first wins
    existing = read_manifest(root)
    diffs = [f"{k}: store has {existing.get(k)!r}, this run {manifest.get(k)!r}"
             for k in _COMPATIBLE if existing.get(k) != manifest.get(k)]
    if diffs:
        raise ValueError(f"the store at {str(root)!r} was made with different settings; use another --out "
                         "folder or the original settings. " + "; ".join(diffs))
    return existing


@dataclass
class _Pending:
    row: int
    id: str
    ra: float
    dec: float
    cutout: Cutout


class StoreWriter:
    """Appends cutouts to one part of a store, committing them in atomic chunks.

    Parameters
    ----------
    root : str or path
        Store folder (its manifest must exist: see :func:`ensure_manifest`).
    part : str
        This writer's part name, e.g. ``"main"`` or ``"shard-0003-of-0016"``.
    chunk_size : int, optional
        Rows per chunk; by default as many as fit in about 64 MB of pixels.
    flush_seconds : float
        Commit a partial chunk when this much time has passed since the last commit.
    """

    def __init__(self, root: str | Path, part: str = "main", *, chunk_size: int | None = None,
                 flush_seconds: float = 10.0):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", part):
            raise ValueError(f"part name {part!r} may only contain letters, digits, '_', '.', '-'")
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.shape = tuple(self.manifest["shape"])
        self.extras = tuple(self.manifest.get("extras", ()))
        self.folder = self.root / "parts" / part
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fh = _lock(self.folder / ".lock", part, self.root)
        per = int(np.prod(self.shape)) * 4 * (1 + len(self.extras))
        self.chunk_size = chunk_size or max(1, min(1024, _TARGET_CHUNK_BYTES // per))
        self.flush_seconds = flush_seconds
        self._buffer: list[_Pending] = []
        self._last_flush = time.monotonic()
        self._next = self._recover()
        self.rows_written = 0

    def _recover(self) -> int:
        """Remove what a crash left half-written; return the next chunk number."""
        committed = {int(m.group(1)) for p in self.folder.iterdir() if (m := _CHUNK_RE.match(p.name))}
        for p in self.folder.iterdir():
            m = re.match(r"^chunk-(\d{6})\.", p.name)
            if p.name.startswith(".chunk-") or (m and int(m.group(1)) not in committed):
                p.unlink(missing_ok=True)
        return max(committed, default=-1) + 1

    def add(self, row: int, id: str, ra: float, dec: float, cutout: Cutout) -> None:
        """Queue one row; commits a chunk when enough rows or time have accumulated."""
        if cutout.status.has_pixels:
            problem = None
            if cutout.data is None or tuple(cutout.data.shape) != self.shape:
                got = None if cutout.data is None else tuple(cutout.data.shape)
                problem = f"survey returned pixels of shape {got}, store expects {self.shape}"
            elif any(cutout.extras.get(name) is None or cutout.extras[name].shape != self.shape
                     for name in self.extras):
                problem = f"survey did not return the extra planes {list(self.extras)} with shape {self.shape}"
            if problem:
                cutout = Cutout.failed(problem)
        self._buffer.append(_Pending(int(row), str(id), float(ra), float(dec), cutout))
        if len(self._buffer) >= self.chunk_size or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Commit the queued rows as one chunk (pixel files first, then the rows table)."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        items, self._buffer = self._buffer, []
        stem = self.folder / f"chunk-{self._next:06d}"
        with_pixels = [p for p in items if p.cutout.status.has_pixels]
        if with_pixels:
            data = np.stack([np.asarray(p.cutout.data, dtype=np.float32) for p in with_pixels])
            _save_npy(stem.with_name(stem.name + ".npy"), data)
            for name in self.extras:
                extra = np.stack([np.asarray(p.cutout.extras[name], dtype=np.float32) for p in with_pixels])
                _save_npy(stem.with_name(f"{stem.name}.{name}.npy"), extra)
        slot, k = np.full(len(items), -1, np.int32), 0
        for i, p in enumerate(items):
            if p.cutout.status.has_pixels:
                slot[i], k = k, k + 1
        params = [_wcs_params(p.cutout.wcs if p.cutout.status.has_pixels else None) for p in items]
        rows = {
            "row": np.array([p.row for p in items], np.int64),
            "id": np.array([p.id for p in items], dtype=str),
            "ra": np.array([p.ra for p in items]),
            "dec": np.array([p.dec for p in items]),
            "status": np.array([p.cutout.status.value for p in items], dtype=str),
            "reason": np.array([p.cutout.reason for p in items], dtype=str),
            "slot": slot,
            "crval": np.stack([q[0] for q in params]),
            "crpix": np.stack([q[1] for q in params]),
            "cd": np.stack([q[2] for q in params]),
            "ctype": np.array([q[3] for q in params], dtype=str),
            "time": np.full(len(items), time.time()),
        }
        buf = io.BytesIO()
        np.savez(buf, **rows)
        atomic_write(stem.with_name(stem.name + ".rows.npz"), buf.getbuffer())
        fsync_dir(self.folder)
        self._next += 1
        self.rows_written += len(items)

    def close(self) -> None:
        """Commit what is queued and release the part's lock."""
        try:
            self.flush()
        finally:
            if self._lock_fh is not None:
                self._lock_fh.close()
                self._lock_fh = None

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _save_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write(path, buf.getbuffer())


def _lock(path: Path, part: str, root: Path):
    fh = open(path, "a+")
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - not POSIX: no cross-process protection
        pass
    except OSError:
        fh.close()
        raise ValueError(f"part {part!r} of store {str(root)!r} is being written by another process; "
                         "give each concurrent job its own --shard") from None
    return fh


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
        ``status``, ``reason``, ``crval``, ``crpix``, ``cd``, ``ctype``; provenance in ``table.meta``.
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
        files: list[Path] = []
        parts = sorted((self.root / "parts").glob("*")) if (self.root / "parts").is_dir() else []
        for part in parts:
            files.extend(sorted(p for p in part.iterdir() if _CHUNK_RE.match(p.name)))
        cols: dict[str, list[np.ndarray]] = {}
        chunk_ids: list[np.ndarray] = []
        for ci, path in enumerate(files):
            with np.load(path, allow_pickle=False) as z:
                n = len(z["row"])
                for key in z.files:
                    cols.setdefault(key, []).append(z[key])
            chunk_ids.append(np.full(n, ci, np.int32))
        self._chunks = [str(p)[: -len(".rows.npz")] for p in files]
        if not files:
            self._chunk = np.zeros(0, np.int32)
            self._slot = np.zeros(0, np.int32)
            self.table = Table(names=("row", "id", "ra", "dec", "status", "reason"),
                               dtype=(np.int64, str, float, float, str, str), meta=self._meta())
            return
        merged = {k: np.concatenate(v) for k, v in cols.items()}
        chunk = np.concatenate(chunk_ids)
        order = np.arange(len(chunk))
        final = merged["status"] != Status.FAILED.value
        # last per row of (row, final, position): a final record beats failed, later beats earlier
        key = np.lexsort((order, final, merged["row"]))
        rows_sorted = merged["row"][key]
        last = np.r_[rows_sorted[1:] != rows_sorted[:-1], True]
        keep = key[last]
        self._chunk = chunk[keep]
        self._slot = merged["slot"][keep]
        names = ("row", "id", "ra", "dec", "status", "reason", "crval", "crpix", "cd", "ctype")
        self.table = Table({n: merged[n][keep] for n in names}, meta=self._meta())

    def _meta(self) -> dict[str, Any]:
        keys = ("survey", "layer", "bands", "pixscale", "size", "provenance", "catalog", "package_version")
        return {k: self.manifest.get(k) for k in keys}

    def __len__(self) -> int:
        return len(self.table)

    @property
    def status(self) -> np.ndarray:
        """``(N,)`` status strings, aligned with :attr:`table`."""
        return np.asarray(self.table["status"])

    def indices(self, statuses: Sequence[str] | str = ("ok", "partial")) -> np.ndarray:
        """Positions in :attr:`table` whose status is one of ``statuses``."""
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
            suffix = ".npy" if plane == "data" else f".{plane}.npy"
            arr = np.load(self._chunks[chunk] + suffix, mmap_mode="r", allow_pickle=False)
            self._maps[key] = arr
        return arr

    def read(self, indices: Sequence[int] | np.ndarray | slice, plane: str = "data",
             out: np.ndarray | None = None) -> np.ndarray:
        """Pixels of the given :attr:`table` positions, ``(n, C, H, W)`` float32.

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
        """The celestial WCS of cutout ``index`` (``None`` if it has no pixels)."""
        r = self.table[index]
        return wcs_from_row(r["crval"], r["crpix"], r["cd"], str(r["ctype"])) if "ctype" in r.colnames else None

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

