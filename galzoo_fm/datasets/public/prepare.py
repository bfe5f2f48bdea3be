"""Turn a downloaded release into a training set: ``OUT/catalog.fits`` plus a cutout store at ``OUT/``.

:func:`prepare` makes the release's files present (downloading, or offline from files the user placed),
reads its catalogue (:meth:`Release.catalog`: one row per galaxy with the schema's ``{question}_{answer}``
vote counts), writes it to ``OUT/catalog.fits`` with a ``row`` column, and writes every galaxy's image into a
:class:`~galzoo_fm.store.reader.CutoutStore` at ``OUT/`` as float32 ``(C, H, W)`` = uint8 / 255 (resized when asked).
A galaxy whose image is missing or unreadable is recorded with status ``failed`` and the reason (never
dropped; retried by the next run); one without an image key is ``invalid``. The job is resumable: rows
already committed to the store are skipped. ``OUT/prepared.json`` (the counts per status) is written only
when a run has gone through every row. The result trains directly::

    [data]
    path = "OUT"
    catalog = "OUT/catalog.fits"
    [loss]
    name = "hybrid"
    schema = "<release.schema>"
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from galzoo_fm._utils.atomic import atomic_write
from galzoo_fm._utils.checks import positive_int
from galzoo_fm.datasets.public.base import Release, ReleaseFormatError, open_release, require_columns
from galzoo_fm.datasets.public.download import DiskFullError, release_dir
from galzoo_fm.datasets.public.download import download as fetch_files
from galzoo_fm.datasets.public.images import to_store_pixels

__all__ = ["PrepareSummary", "check_catalog", "prepare"]

CATALOG_NAME = "catalog.fits"
#: Written (atomically) when a prepare run has gone through every row; absent while one runs or after a crash.
DONE_NAME = "prepared.json"


@dataclass
class PrepareSummary:
    """What :func:`prepare` did.

    Attributes
    ----------
    release : str
        Release name.
    out : pathlib.Path
        The store folder.
    catalog : pathlib.Path
        ``OUT/catalog.fits``.
    rows : int
        Galaxies in the catalogue (after ``limit``).
    skipped : int
        Rows already in the store from an earlier run.
    counts : dict
        Rows recorded by this run, per status.
    schema : str
        Schema of the vote columns (``[loss] schema`` for pretraining).
    seconds : float
        Wall time of the image pass.
    store_counts : dict
        Rows per status in the whole store afterwards.
    """

    release: str
    out: Path
    catalog: Path
    rows: int
    skipped: int
    schema: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    store_counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        done = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items())) or "nothing new"
        loss = (f"[loss] schema = \"{self.schema}\"" if self.schema else
                "a self-supervised [loss] (the release is unlabelled: the catalogue has no vote columns)")
        return (f"{self.release}: {self.rows} galaxies; this run: {done}; {self.skipped} already prepared; "
                f"store {self.out} has {self.store_counts}. Train with [data] path = \"{self.out}\", "
                f"catalog = \"{self.catalog}\" and {loss}")


def check_catalog(release: Release, table: Table) -> list[str]:
    """Check what :meth:`Release.catalog` returned; returns the schema's label columns.

    Raises :class:`ReleaseFormatError` naming missing columns (``id``, ``ra``, ``dec``, ``image`` and every
    label column of ``release.schema``; none for an unlabelled release, whose ``schema`` is ``""``) or vote
    columns that are not integer counts, and ``ValueError`` for duplicate ids.
    """
    from galzoo_fm.plugins import get_registry

    # an unlabelled release (schema "", e.g. smith42_galaxies) has no vote columns
    label_cols = list(get_registry("schemas").create(release.schema).label_cols) if release.schema else []
    require_columns(table.colnames, ["id", "ra", "dec", "image", *label_cols],
                    file=f"the catalogue built by release {release.name!r}")
    bad = [c for c in label_cols if table[c].dtype.kind not in "iu" or np.ma.is_masked(table[c])]
    if bad:
        raise ReleaseFormatError(f"release {release.name!r}: vote columns must be unmasked integer counts; "
                                 f"not so for {', '.join(bad)}")
    ids = np.asarray(table["id"]).astype(str)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise ValueError(f"release {release.name!r}: {len(dup)} duplicate galaxy ids, e.g. {', '.join(dup[:5])}")
    return label_cols


def _fingerprint(release: Release, table: Table) -> str:
    h = hashlib.sha256(release.name.encode())
    h.update(str(len(table)).encode())
    h.update("\0".join(np.asarray(table["id"]).astype(str)).encode())
    h.update("\0".join(table.colnames).encode())
    return h.hexdigest()[:16]


def _write_catalog(table: Table, path: Path) -> None:
    from galzoo_fm._utils.writers import write_table

    try:
        write_table(table, path, overwrite=True)  # atomic, fsynced, fitsverify-clean
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(errno.ENOSPC, f"disk full while writing {path}; free some space and run again"
                                ) from exc
        raise


def _first_shape(source, keys: np.ndarray) -> tuple[int, int]:
    for key in keys:
        if key:
            try:
                img = source(str(key))
            except (KeyError, ValueError):
                continue
            return int(img.shape[0]), int(img.shape[1])
    raise ValueError("none of the release's images could be read; check the image files (see verify())")


def _cutouts(source, keys: np.ndarray, todo: np.ndarray, channels: int, shape: tuple[int, int],
             workers: int) -> Iterator[tuple[int, Any]]:
    """``(row, Cutout)`` for each row of ``todo`` in order, read and resized by ``workers`` threads."""
    from galzoo_fm.cutout import Cutout, Status

    def load(row: int):
        key = str(keys[row])
        if not key:
            return Cutout(Status.INVALID, reason="no image in the release")
        try:
            return Cutout(Status.OK, to_store_pixels(source(key), channels, shape))
        except (KeyError, ValueError) as exc:
            return Cutout.failed(str(exc.args[0]) if exc.args else repr(exc))

    if workers <= 1:
        for row in todo:
            yield row, load(row)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="prepare")
    try:
        step = 64 * workers  # bounded look-ahead: a few batches of decoded images in memory
        for start in range(0, len(todo), step):
            batch = todo[start:start + step]
            yield from zip(batch, pool.map(load, batch), strict=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def prepare(release: Release | str, out: str | os.PathLike, *, folder: str | os.PathLike | None = None,
            size: int | None = None, download: bool = True, progress: bool | None = None,
            limit: int | None = None, chunk_size: int | None = None, retries: Any = None,
            workers: int = 1, data: str | os.PathLike | None = None, mirror: str | None = None) -> PrepareSummary:
    """Download (or find) ``release`` and write a catalogue and cutout store that ``pretrain`` reads.

    Parameters
    ----------
    release : Release or str
        The release (e.g. ``galzoo_fm.get_dataset("gz_decals_dr5")``), or its registered name.
    out : path
        Output folder: ``OUT/catalog.fits`` and the cutout store (``OUT/store.json``, ``OUT/parts/``).
    folder : path, optional
        Where the release's files are (default ``data_dir(data) / release.name``).
    size : int, optional
        Resize every image to ``(size, size)`` (area averaging when shrinking); default: keep the released
        size (images of another size than the first are resized to it).
    download : bool
        Fetch missing files; ``False`` works only from files already in ``folder`` and otherwise raises
        :class:`~galzoo_fm.datasets.public.download.DatasetUnavailableError` saying what to place where.
    progress : bool or None
        tqdm bars for the download and the image pass (``None``: on a terminal only).
    limit : int, optional
        Only the first ``limit`` galaxies of the catalogue (a quick trial); a later run with another
        ``limit`` needs another ``out``.
    chunk_size : int, optional
        Store rows per chunk file (default about 64 MB of pixels).
    retries : int or RetryPolicy, optional
        Passed to ``download``.
    workers : int
        Threads decoding and resizing images (the release's image source must be thread-safe, as the
        built-in ones are); rows are still written in catalogue order.
    data : path, optional
        The data folder (default :func:`~galzoo_fm.datasets.public.data_dir`), when ``folder`` is
        not given.
    mirror : str, optional
        Download from this host instead (``http[s]://host[:port]``; URL paths kept).

    Returns
    -------
    PrepareSummary

    Raises
    ------
    ReleaseFormatError
        The release's columns changed (every missing column is named).
    DiskFullError
        The disk filled up; committed rows are kept and a rerun continues.
    """
    from tqdm.auto import tqdm

    from galzoo_fm.store.index import StoreIndex
    from galzoo_fm.store.writer import StoreWriter, ensure_manifest

    positive_int(size, "size", none=True)
    positive_int(workers, "workers")
    positive_int(limit, "limit", none=True)
    release = open_release(release, mirror=mirror)
    out = Path(out)
    folder = Path(folder) if folder is not None else release_dir(release, data)
    fetch_files(release, folder, progress=progress, retries=retries, offline=not download)
    table = release.catalog(folder)
    check_catalog(release, table)
    if limit is not None:
        table = table[:limit]
    table = Table(table, copy=False)
    table["row"] = np.arange(len(table), dtype=np.int64)
    table.meta.update({"RELEASE": release.name, "SCHEMA": release.schema})
    out.mkdir(parents=True, exist_ok=True)
    keys = np.asarray(table["image"]).astype(str)
    source = release.open_images(folder)
    try:
        native = _first_shape(source, keys)
        h, w = (size, size) if size is not None else native
        channels = len(release.bands)
        # the released pixel scale, scaled by the resize (taking the first image's size as the release's)
        pixscale = None if release.pixscale is None else float(release.pixscale) * native[1] / w
        manifest = {
            "shape": [channels, h, w], "dtype": "float32", "bands": list(release.bands), "extras": [],
            "size": h, "survey": f"release:{release.name}", "layer": None, "pixscale": pixscale,
            "provenance": {"release": release.name, "title": release.title, "citation": release.citation,
                           "licence": release.licence, "homepage": release.homepage, "schema": release.schema,
                           "files": {f.name: f.checksum for f in release.files}, "resized_to": size,
                           "native_pixscale": release.pixscale},
            "catalog": {"source": str(out / CATALOG_NAME), "rows": len(table), "columns": table.colnames},
            "catalog_fingerprint": _fingerprint(release, table),
        }
        ensure_manifest(out, manifest)
        (out / DONE_NAME).unlink(missing_ok=True)  # written again only when this run finishes
        _write_catalog(table, out / CATALOG_NAME)
        rows = np.asarray(table["row"])
        todo = rows[~StoreIndex(out, len(rows)).done()]  # lean resume index: ~13 bytes per row
        summary = PrepareSummary(release.name, out, out / CATALOG_NAME, len(table), len(rows) - len(todo),
                                 release.schema)
        ids = np.asarray(table["id"]).astype(str)
        ra = np.asarray(table["ra"], dtype=np.float64)
        dec = np.asarray(table["dec"], dtype=np.float64)
        start = time.monotonic()
        bar = tqdm(total=len(todo), unit="img", desc=release.name, disable=(None if progress is None else not progress),
                   smoothing=0.05, dynamic_ncols=True)
        try:
            with StoreWriter(out, "main", chunk_size=chunk_size) as writer:
                for row, cutout in _cutouts(source, keys, todo, channels, (h, w), workers):
                    writer.add(int(row), ids[row], ra[row], dec[row], cutout)
                    summary.counts[cutout.status.value] = summary.counts.get(cutout.status.value, 0) + 1
                    bar.update(1)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(errno.ENOSPC, f"disk full while writing the cutout store {out}; the rows "
                                                  "committed so far are kept: free some space and run again to "
                                                  "continue") from exc
            raise
        finally:
            bar.close()
    finally:
        source.close()
    summary.seconds = time.monotonic() - start
    summary.store_counts = StoreIndex(out, len(table)).counts()
    done = {"release": release.name, "schema": release.schema, "rows": summary.rows,
            "store_counts": summary.store_counts, "catalog": CATALOG_NAME, "limit": limit, "size": size}
    atomic_write(out / DONE_NAME, (json.dumps(done, indent=1) + "\n").encode())
    return summary
