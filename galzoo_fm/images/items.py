"""Where each row's image bytes are: files named by a catalogue column or found in a folder
(:class:`PathItems`), or the cells of a Parquet / Arrow column (:class:`ParquetItems`); and the catalogue of
those rows (:func:`items_for`).

An item source answers :meth:`~ImageItems.load` with, per row, the bytes, a name for messages (the file's
path, or ``row 17 of shard-0003.parquet``) and, when the row has no usable bytes, its status and reason.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from galzoo_fm.catalog import Catalog, read_catalog
from galzoo_fm.cutout import Status
from galzoo_fm.images.decode import IMAGE_SUFFIXES

__all__ = ["ImageCatalog", "ImageItems", "ParquetItems", "PathItems", "items_for"]

_PARQUET = (".parquet", ".pq", ".arrow", ".feather")
_GROUPS_CACHED = 4  # Parquet row groups kept decoded (a few loader threads work on neighbouring rows)
Loaded = tuple[bytes | None, str, tuple[Status, str] | None]


@dataclass
class ImageCatalog(Catalog):
    """A :class:`~galzoo_fm.catalog.Catalog` whose fingerprint also covers where its images are (the paths,
    or the Parquet files and their row counts), so a store is never resumed with another image list."""

    keys: str = ""

    def fingerprint(self) -> str:
        return hashlib.sha256((super().fingerprint() + self.keys).encode()).hexdigest()


class ImageItems:
    """The protocol: ``load(rows)``, ``describe()``, ``close()``."""

    def load(self, rows: np.ndarray) -> list[Loaded]:  # pragma: no cover - protocol
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover - protocol
        raise NotImplementedError

    def close(self) -> None:
        """Release open files."""


class PathItems(ImageItems):
    """Image files named by paths, relative ones resolved against ``base``.

    Parameters
    ----------
    paths : numpy.ndarray
        ``(N,)`` str, one per catalogue row (``""``: no image).
    base : path
        Folder relative paths start from (the catalogue's, or ``root``).
    root : path, optional
        When given, a path that resolves (symbolic links followed) outside this folder is an ``invalid`` row.
    source, column : str
        For messages and provenance.
    """

    def __init__(self, paths: np.ndarray, base: Path, root: Path | None, source: str, column: str | None):
        self.paths, self.base, self.source, self.column = paths, base, source, column
        self.root = root.resolve() if root is not None else None

    def _one(self, row: int) -> Loaded:
        text = str(self.paths[row]).strip()
        where = f"column {self.column!r}" if self.column else "the file list"
        if not text:
            return None, f"row {row}", (Status.INVALID, f"row {row}: no image path in {where}")
        path = Path(os.path.expanduser(text))
        path = path if path.is_absolute() else self.base / path
        if self.root is not None and not path.resolve().is_relative_to(self.root):
            return None, str(path), (Status.INVALID, f"{text}: outside the image root {self.root}")
        try:
            return path.read_bytes(), str(path), None
        except FileNotFoundError:
            return None, str(path), (Status.FAILED, f"{path}: no such file")
        except IsADirectoryError:
            return None, str(path), (Status.FAILED, f"{path}: is a folder, not an image file")
        except OSError as exc:
            return None, str(path), (Status.FAILED, f"{path}: cannot be read: {exc.strerror}")

    def load(self, rows: np.ndarray) -> list[Loaded]:
        return [self._one(int(r)) for r in rows]

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "column": self.column, "root": str(self.root or self.base)}


def _cell_bytes(value: Any) -> bytes | None:
    if isinstance(value, dict):  # a Hugging Face ``Image`` feature: {"bytes": ..., "path": ...}
        value = value.get("bytes")
    return bytes(value) if value is not None else None


class ParquetItems(ImageItems):
    """Image bytes in one column of Parquet (or Arrow IPC / Feather) files, read a row group at a time.

    Memory stays bounded by :data:`_GROUPS_CACHED` decoded row groups of the one column, whatever the
    files' size; reads are safe from several threads.
    """

    def __init__(self, files: list[Path], column: str, counts: list[list[int]]):
        self.files, self.column, self.counts = files, column, counts
        sizes = [n for per_file in counts for n in per_file]
        self._starts = np.cumsum([0, *sizes])
        self._where = [(fi, gi) for fi, per_file in enumerate(counts) for gi in range(len(per_file))]
        self._cache: OrderedDict[int, list] = OrderedDict()
        self._lock = threading.Lock()

    def _group(self, g: int) -> list:
        with self._lock:
            if g in self._cache:
                self._cache.move_to_end(g)
                return self._cache[g]
            fi, gi = self._where[g]
            values = _read_group(self.files[fi], gi, self.column)
            self._cache[g] = values
            while len(self._cache) > _GROUPS_CACHED:
                self._cache.popitem(last=False)
            return values

    def load(self, rows: np.ndarray) -> list[Loaded]:
        out: list[Loaded] = []
        for r in np.asarray(rows, dtype=np.int64):
            g = int(np.searchsorted(self._starts, r, side="right") - 1)
            k = int(r - self._starts[g])
            name = f"row {k} of row group {self._where[g][1]} of {self.files[self._where[g][0]].name}"
            data = _cell_bytes(self._group(g)[k])
            if not data:
                out.append((None, name, (Status.INVALID, f"{name}: no image in column {self.column!r}")))
            else:
                out.append((data, name, None))
        return out

    def describe(self) -> dict[str, Any]:
        return {"source": ",".join(str(f) for f in self.files), "column": self.column}

    def close(self) -> None:
        self._cache.clear()


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is in the parquet and test extras
        raise ValueError("reading images from Parquet needs pyarrow: pip install 'galzoo_fm[parquet]'") from None
    return pq


def _is_ipc(path: Path) -> bool:
    return path.suffix.lower() in (".arrow", ".feather")


def _read_group(path: Path, group: int, column: str) -> list:
    pq = _pyarrow()
    if _is_ipc(path):
        import pyarrow.feather as feather

        return feather.read_table(path, columns=[column]).column(0).to_pylist()
    return pq.ParquetFile(path).read_row_group(group, columns=[column]).column(0).to_pylist()


def _schema_and_counts(path: Path) -> tuple[Any, list[int]]:
    pq = _pyarrow()
    try:
        if _is_ipc(path):
            import pyarrow.feather as feather

            table = feather.read_table(path, memory_map=True)
            return table.schema, [table.num_rows]
        meta = pq.ParquetFile(path)
        return meta.schema_arrow, [meta.metadata.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except Exception as exc:
        raise ValueError(f"cannot read {path} as Parquet/Arrow: {exc}") from None


def _is_image_type(arrow_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return True
    return pa.types.is_struct(arrow_type) and any(arrow_type.field(i).name == "bytes"
                                                  for i in range(arrow_type.num_fields))


def _missing_column(column: str, present: list[str], where: str) -> ValueError:
    close = difflib.get_close_matches(column, present, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(f"{where} has no column {column!r}{hint}; its columns are: {', '.join(present) or '(none)'}")


def _column(chunked: Any) -> np.ndarray:
    """An Arrow column as NumPy without Python objects per cell where it can (numbers; text as ``str``)."""
    import pyarrow as pa

    if pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type):
        return np.asarray(chunked.fill_null("").to_numpy(zero_copy_only=False), dtype=str)
    values = chunked.to_numpy(zero_copy_only=False)
    return values if values.dtype != object else np.array(values.tolist(), dtype=object)


def _parquet_source(files: list[Path], column: str | None, root: Path | None, id_col: str | None,
                    source: str) -> tuple[ImageItems, Catalog]:
    import pyarrow as pa

    schemas, counts = zip(*(_schema_and_counts(f) for f in files), strict=True)
    present = list(schemas[0].names)
    if column is None:
        images = [n for n in present if _is_image_type(schemas[0].field(n).type)]
        raise ValueError(f"{source}: name the image column with --images (columns holding image bytes: "
                         f"{', '.join(images) or 'none'})")
    for f, schema in zip(files, schemas, strict=True):
        if column not in schema.names:
            raise _missing_column(column, list(schema.names), str(f))
    kind = schemas[0].field(column).type
    keep = [n for n in present if not _is_image_type(schemas[0].field(n).type) or (n == column and
            pa.types.is_string(kind))]
    pq = _pyarrow()
    parts = []
    for f in files:
        if _is_ipc(f):
            import pyarrow.feather as feather

            parts.append(feather.read_table(f, columns=keep))
        else:
            parts.append(pq.read_table(f, columns=keep))
    arrow = pa.concat_tables(parts, promote_options="default") if keep else None
    table = Table({name: _column(arrow.column(name)) for name in keep}) if keep else Table()
    n = sum(sum(c) for c in counts)
    if len(table.colnames) == 0:
        table = Table({"row": np.arange(n)})
    catalog = read_catalog(table, id_col=id_col, positions="optional")
    catalog.source = source
    keys = "|".join(f"{f.name}:{sum(c)}" for f, c in zip(files, counts, strict=True))
    catalog = ImageCatalog(**vars(catalog), keys=keys)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):  # a Parquet catalogue of paths
        base = root if root is not None else files[0].parent
        return PathItems(np.asarray(table[column], dtype=str), base, root, source, column), catalog
    if not _is_image_type(kind):
        raise ValueError(f"column {column!r} of {files[0]} holds {kind}, neither image bytes nor file paths")
    return ParquetItems(list(files), column, [list(c) for c in counts]), catalog


def _folder_source(folder: Path, root: Path | None, id_col: str | None) -> tuple[ImageItems, Catalog]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise ValueError(f"image folder {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}), "
                         "searched recursively")
    rel = [p.relative_to(folder).as_posix() for p in files]
    stems = [_stem(p.name) for p in files]
    ids = stems if len(set(stems)) == len(stems) else [r[: len(r) - len(p.name) + len(s)]
                                                       for r, p, s in zip(rel, files, stems, strict=True)]
    table = Table({"id": np.array(ids, dtype=str), "file_loc": np.array(rel, dtype=str)})
    catalog = read_catalog(table, id_col=id_col, positions="optional")
    catalog.source = str(folder)
    catalog = ImageCatalog(**vars(catalog), keys=hashlib.sha256("\n".join(rel).encode()).hexdigest())
    return PathItems(table["file_loc"].data, folder, root, str(folder), None), catalog


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def items_for(source: Path, *, column: str | None, root: str | os.PathLike | None,
              id_col: str | None) -> tuple[ImageItems, Catalog]:
    """The item source and catalogue of ``source``; see :func:`~galzoo_fm.images.open_images`."""
    root_path = Path(root) if root is not None else None
    if root_path is not None and not root_path.is_dir():
        raise ValueError(f"image root {root_path} is not a folder")
    if source.is_dir():
        shards = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in _PARQUET)
        if column is not None and shards:
            return _parquet_source(shards, column, root_path, id_col, str(source))
        return _folder_source(source, root_path, id_col)
    if not source.is_file():
        raise ValueError(f"image source {source} does not exist (a catalogue, a Parquet file or a folder)")
    if source.suffix.lower() in _PARQUET:
        return _parquet_source([source], column, root_path, id_col, str(source))
    if column is None:
        raise ValueError(f"{source} is a catalogue: name its column of image paths with --images (e.g. file_loc), "
                         "or fetch cutouts by position with --survey")
    catalog = read_catalog(source, id_col=id_col, positions="optional")
    table = catalog.table
    if column not in table.colnames:
        same = [c for c in table.colnames if c.lower() == column.lower()]  # as the other columns: any case
        if len(same) != 1:
            raise _missing_column(column, list(table.colnames), f"catalogue {source}")
        column = same[0]
    col = table[column]
    if len(col) and np.ma.getmaskarray(col).all():  # astropy reads a column of empty cells as masked ints
        raise ValueError(f"column {column!r} of {source} is empty: no row names an image file")
    if col.dtype.kind not in "USO":
        raise ValueError(f"column {column!r} of {source} holds {col.dtype} values, not image file paths")
    paths = np.asarray(np.ma.filled(np.ma.asarray(col).astype(str), ""), dtype=str)
    if len(paths) and not np.char.strip(paths).any():
        raise ValueError(f"column {column!r} of {source} is empty: no row names an image file")
    catalog = ImageCatalog(**vars(catalog), keys=hashlib.sha256("\n".join(paths.tolist()).encode()).hexdigest())
    base = root_path if root_path is not None else source.parent
    return PathItems(paths, base, root_path, str(source), column), catalog
