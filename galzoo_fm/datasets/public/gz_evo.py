"""GZ-Evo as published on the Hugging Face hub: ``mwalmsley/gz_evo`` (Parquet shards with the images inside).

GZ-Evo (Walmsley et al. 2024, arXiv:2404.02973; the dataset paper "Galaxy Zoo Evo: 1 million
human-annotated images of galaxies", OpenReview 8HxzgdrXhG) gathers the Galaxy Zoo campaigns' volunteer
votes and images in one table. On the hub (https://huggingface.co/datasets/mwalmsley/gz_evo, licence CC BY-NC-SA
4.0 with the extra request that models trained on it be released as source code) it has two configurations:

* ``default`` — ``data/train-000NN-of-00030.parquet`` (30 shards) and ``data/test-0000N-of-00007.parquet``
  (7 shards), about 806k rows, about 18.3 GB;
* ``tiny`` — ``tiny/train-00000-of-00001.parquet`` and ``tiny/test-00000-of-00001.parquet``, about 8k rows,
  about 183 MB.

(Shard layout and totals from a public download script that read the hub's parquet API; row counts from the
hub's collection page. We could not read the hub's per-file SHA-256 (Git LFS ``oid``), so these files have
``checksum=None``: downloaded and size-checked, not verified.)

Columns, as in the sibling ``mwalmsley/gz_desi`` / ``gz_candels`` dataset cards: ``image`` (a Hugging Face
``Image`` feature: a struct of ``bytes`` and ``path``), ``id_str``, ``dataset_name``, ``ra``, ``dec`` and, per
campaign, ``{question}-{campaign}_{answer}`` vote counts (int32) with ``_fraction`` and
``{question}-{campaign}_total-votes`` columns. The counts are already named like the ``gz_evo`` schema's
label columns; every one of them is required (a missing or renamed one raises
:class:`~galzoo_fm.datasets.public.ReleaseFormatError`). Campaigns outside the ``gz_evo`` schema (e.g. UKIDSS)
are not read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from galzoo_fm.datasets.public._gz_common import require_files, votes_table
from galzoo_fm.datasets.public.base import Release, ReleaseFormatError, RemoteFile, require_columns
from galzoo_fm.datasets.public.images import decode_image

__all__ = ["HUB", "GZEvo", "GZEvoTiny", "ParquetImages"]

HUB = "https://huggingface.co/datasets/mwalmsley/gz_evo/resolve/main"


def _shards(folder: str, counts: dict[str, int]) -> tuple[RemoteFile, ...]:
    # the hub publishes each file's SHA-256 (Git LFS oid) but we could not read them: checksum None
    return tuple(
        RemoteFile(f"{split}-{i:05d}-of-{n:05d}.parquet", f"{HUB}/{folder}/{split}-{i:05d}-of-{n:05d}.parquet",
                   None, None, "catalog", f"GZ-Evo {folder} {split} shard {i + 1} of {n} (votes and images)")
        for split, n in counts.items() for i in range(n)
    )


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading GZ-Evo's Parquet shards needs pyarrow: pip install pyarrow") from None
    return pq


class ParquetImages:
    """Images by key ``"<shard file>#<row>"`` from Hugging Face Parquet shards, one row group at a time.

    Only the shards' footers are read up front; a call reads the image ``column`` (default ``image``) of the
    row group holding the row (the last ``cache_groups`` row groups read are kept, so sequential access
    decodes each group once and at most ``cache_groups`` row groups of image bytes are held).
    """

    def __init__(self, folder: Path, names: list[str], *, cache_groups: int = 2, column: str = "image"):
        pq = _pyarrow()
        self.folder = Path(folder)
        self._files: dict[str, object] = {}
        self._starts: dict[str, np.ndarray] = {}
        self._cache: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._cache_groups = cache_groups
        self._lock = threading.Lock()
        self.column = column
        for name in names:
            pf = pq.ParquetFile(self.folder / name)
            require_columns(pf.schema_arrow.names, [column], file=self.folder / name)
            sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
            self._files[name] = pf
            self._starts[name] = np.concatenate([[0], np.cumsum(sizes)])

    def __call__(self, key: str) -> np.ndarray:
        name, sep, row_text = key.rpartition("#")
        if not sep or name not in self._files or not row_text.isdigit():
            raise KeyError(f"no image {key!r}: keys are '<shard>#<row>' with a shard of {sorted(self._files)}")
        row = int(row_text)
        starts = self._starts[name]
        if row >= starts[-1]:
            raise KeyError(f"no image {key!r}: {name} has {int(starts[-1])} rows")
        group = int(np.searchsorted(starts, row, side="right") - 1)
        with self._lock:
            column = self._cache.get((name, group))
            if column is None:
                column = self._files[name].read_row_group(group, columns=[self.column]).column(self.column)
                self._cache[(name, group)] = column
                while len(self._cache) > self._cache_groups:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end((name, group))
            cell = column[row - int(starts[group])].as_py()
        data = cell.get("bytes") if isinstance(cell, dict) else cell
        if not data:
            raise ValueError(f"image {key!r}: no image bytes in row {row} of {self.folder / name}")
        return decode_image(data, what=f"image {key!r} in {self.folder / name}")

    def close(self) -> None:
        """Drop the cached row groups and the open shards."""
        with self._lock:
            self._cache.clear()
            for pf in self._files.values():
                close = getattr(pf, "close", None)
                if close is not None:
                    close()


def _column(col):
    """An Arrow column as a NumPy array, masked where null."""
    if not col.null_count:
        values = col.to_numpy(zero_copy_only=False)
        return values.astype(str) if values.dtype.kind == "O" else values
    mask = col.is_null().to_numpy(zero_copy_only=False)
    values = col.to_numpy(zero_copy_only=False)
    if values.dtype.kind == "O":
        return np.ma.MaskedArray(np.array(["" if v is None else str(v) for v in values]), mask=mask)
    return np.ma.MaskedArray(np.where(mask, 0, np.nan_to_num(values.astype(np.float64))), mask=mask)


class GZEvo(Release):
    """GZ-Evo (``mwalmsley/gz_evo``, ``default`` configuration): votes of every campaign, images inside.

    :meth:`catalog` returns one row per shard row: ``id`` (``id_str``), ``ra``, ``dec`` (NaN when absent),
    ``image`` (``"<shard>#<row>"``), the 206 ``gz_evo`` vote counts (int64; 0 where a campaign did not
    classify the galaxy), ``campaign`` (the shard's ``dataset_name``, when present) and ``split``
    (``"train"`` / ``"test"``, from the shard name).
    """

    name = "gz_evo"
    title = "GZ-Evo (Hugging Face mwalmsley/gz_evo, default configuration)"
    description = ("Galaxy Zoo volunteer votes from GZ2, GZ DECaLS/DESI, Hubble, CANDELS (and more) with their "
                   "images: about 806k rows")
    citation = ("Walmsley M. et al. 2024, 'Scaling Laws for Galaxy Images', arXiv:2404.02973; Walmsley M. et "
                "al. 2022, 'Towards Galaxy Foundation Models with Hybrid Contrastive Learning', "
                "arXiv:2206.11927; and the campaigns' papers (Willett et al. 2013, doi:10.1093/mnras/stt1458; "
                "Walmsley et al. 2022, doi:10.1093/mnras/stab2093; Willett et al. 2017, MNRAS 464, 4176; "
                "Simmons et al. 2017, MNRAS 464, 4420; Walmsley et al. 2023, MNRAS 526, 4768)")
    licence = ("CC BY-NC-SA 4.0 (hub dataset card); the curators ask that models trained on it be released "
               "as source code")
    homepage = "https://huggingface.co/datasets/mwalmsley/gz_evo"
    size_on_disk = "≈ 18.3 GB (37 Parquet shards)"
    schema = "gz_evo"
    files = _shards("data", {"train": 30, "test": 7})
    bands = ("R", "G", "B")
    pixscale = None  # each campaign's images have their own (per-galaxy) scale

    def _shard_names(self) -> list[str]:
        return [f.name for f in self.files if f.name.endswith(".parquet")]

    def catalog(self, folder: Path) -> Table:
        pq = _pyarrow()
        folder = Path(folder)
        names = self._shard_names()
        require_files(folder, self.name, names, {f.name: f.url for f in self.files})
        from galzoo_fm.plugins import get_registry

        label_cols = get_registry("schemas").create(self.schema).label_cols
        parts = []
        for name in names:
            path = folder / name
            present = pq.ParquetFile(path).schema_arrow.names
            require_columns(present, ["id_str", "image", *label_cols], file=path)
            extra = [c for c in ("ra", "dec", "dataset_name") if c in present]
            arrow = pq.read_table(path, columns=["id_str", *extra, *label_cols])
            src = Table()
            for c in arrow.column_names:
                src[c] = _column(arrow.column(c))
            part = Table()
            part["id"] = np.array([str(v) for v in src["id_str"]], dtype=str)
            for coord in ("ra", "dec"):
                part[coord] = (np.asarray(np.ma.filled(np.ma.asarray(src[coord], dtype=np.float64), np.nan))
                               if coord in src.colnames else np.full(len(src), np.nan))
            part["image"] = np.array([f"{name}#{i}" for i in range(len(src))], dtype=str)
            try:
                votes = votes_table(src, {c: c for c in label_cols}, label_cols)
            except ValueError as exc:
                raise ReleaseFormatError(f"{path}: {exc}") from None
            for col, values in votes.items():
                part[col] = values
            part["campaign"] = (np.array([str(v) for v in src["dataset_name"]], dtype=str)
                                if "dataset_name" in src.colnames else np.full(len(src), ""))
            part["split"] = np.full(len(src), name.split("-", 1)[0])
            parts.append(part)
        out = vstack(parts, join_type="exact", metadata_conflicts="silent") if len(parts) > 1 else parts[0]
        out.meta.update({"release": self.name, "schema": self.schema, "shards": names})
        return out

    def open_images(self, folder: Path) -> ParquetImages:
        return ParquetImages(Path(folder), self._shard_names())


class GZEvoTiny(GZEvo):
    """The ``tiny`` configuration of ``mwalmsley/gz_evo`` (about 8k rows, about 183 MB): for trying things out."""

    name = "gz_evo_tiny"
    title = "GZ-Evo tiny (Hugging Face mwalmsley/gz_evo, tiny configuration)"
    description = "The tiny configuration of GZ-Evo (about 8k rows, same columns), for tests and demos"
    size_on_disk = "≈ 183 MB (2 Parquet shards)"
    files = _shards("tiny", {"train": 1, "test": 1})
