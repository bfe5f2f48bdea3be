"""Pieces shared by the Galaxy Zoo release loaders (:mod:`.gz_decals`, :mod:`.gz2`, :mod:`.gz_evo`).

* :func:`require_files` — a clear :class:`FileNotFoundError` listing every missing file with its URL;
* :func:`read_csv_columns` — read the wanted columns of a (gzipped) CSV file, after checking the header;
* :func:`votes_table` — the schema's vote-count columns (int64, 0 where absent / masked / NaN) from renamed
  release columns;
* :func:`archive_images` — images by key from zip archives, or from the folders they were extracted into
  (:class:`~galzoo_fm.datasets.public.images.ZipImages` / ``FolderImages``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from galzoo_fm.datasets.public.base import ReleaseFormatError, require_columns

__all__ = ["ChainedImages", "archive_images", "read_csv_columns", "require_files", "votes_table"]


def require_files(folder: Path, release_name: str, names: Sequence[str], urls: Mapping[str, str]) -> None:
    """Raise :class:`FileNotFoundError` listing every file of ``names`` missing from ``folder``, with its URL."""
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        lines = "\n".join(f"  {folder / n}\n      from {urls.get(n, '?')}" for n in missing)
        raise FileNotFoundError(
            f"release {release_name}: {len(missing)} file(s) missing from {folder}:\n{lines}\n"
            f"download them (`galzoo-fm datasets download {release_name}`) or place them there, and run again"
        )


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def csv_header(path: Path) -> list[str]:
    """The column names on the first line of a (gzipped) CSV file."""
    import csv

    with _open_text(path) as fh:
        try:
            return [c.strip() for c in next(csv.reader(fh))]
        except StopIteration:
            raise ReleaseFormatError(f"{path} is empty: no header line") from None


def read_csv_columns(path: Path, required: Sequence[str], optional: Iterable[str] = (),
                     *, string_cols: Iterable[str] = ()) -> Table:
    """Read ``required`` (all must exist) and the present ``optional`` columns of a CSV / CSV.gz file.

    The header is checked first, so a renamed column raises :class:`ReleaseFormatError` naming the file and
    every missing column before the (possibly large) file is parsed. Only the wanted columns are kept
    (pyarrow's CSV reader when installed, else the standard library's, row by row). Columns in
    ``string_cols`` stay strings (SDSS ``objid`` values exceed float64 precision); the others are parsed
    as numbers where every value is one (empty cells become masked), else kept as strings.
    """
    header = csv_header(path)
    require_columns(header, required, file=path)
    wanted = list(dict.fromkeys([*required, *(c for c in optional if c in header)]))
    strings = set(string_cols)
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return _read_csv_stdlib(path, header, wanted, strings)
    opts = pacsv.ConvertOptions(include_columns=wanted, column_types={c: pa.string() for c in wanted
                                                                       if c in strings})
    try:
        arrow = pacsv.read_csv(path, convert_options=opts)
    except pa.ArrowInvalid as exc:
        raise ReleaseFormatError(f"{path} cannot be parsed as CSV: {exc}") from None
    table = Table()
    for c in wanted:
        col = arrow.column(c)
        values = col.to_numpy(zero_copy_only=False)
        if col.null_count:
            mask = col.is_null().to_numpy(zero_copy_only=False)
            if values.dtype.kind == "O":
                values = np.array(["" if v is None else v for v in values], dtype=str)
            table[c] = np.ma.MaskedArray(values, mask=mask)
        else:
            table[c] = values.astype(str) if values.dtype.kind == "O" else values
    return table


def _read_csv_stdlib(path: Path, header: list[str], wanted: list[str], strings: set[str]) -> Table:
    import csv

    index = [header.index(c) for c in wanted]
    columns: list[list[str]] = [[] for _ in wanted]
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        next(reader)
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ReleaseFormatError(f"{path} line {lineno} has {len(row)} fields; the header has "
                                         f"{len(header)}")
            for j, i in enumerate(index):
                columns[j].append(row[i])
    table = Table()
    for c, values in zip(wanted, columns, strict=True):
        table[c] = values if c in strings else _numbers_or_strings(values)
    return table


def _numbers_or_strings(values: list[str]):
    empty = np.array([v.strip() == "" for v in values], dtype=bool)
    try:
        data = np.array([0.0 if e else float(v) for v, e in zip(values, empty, strict=True)], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)
    return np.ma.MaskedArray(data, mask=empty) if empty.any() else data


def votes_table(source: Table, mapping: Mapping[str, str], label_cols: Sequence[str]) -> dict[str, np.ndarray]:
    """``{schema column: int64 counts}`` for every ``label_cols`` entry.

    ``mapping`` maps schema column → release column; schema columns without a mapping (another campaign's
    answers) are 0. Masked / NaN release values become 0 (not asked); negative or non-integer counts raise
    :class:`ValueError` naming the column and row.
    """
    n = len(source)
    out: dict[str, np.ndarray] = {}
    for col in label_cols:
        rel = mapping.get(col)
        if rel is None:
            out[col] = np.zeros(n, dtype=np.int64)
            continue
        values = source[rel]
        mask = np.ma.getmaskarray(values)
        data = np.asarray(np.ma.getdata(values), dtype=np.float64)
        bad_fill = mask | np.isnan(data)
        data = np.where(bad_fill, 0.0, data)
        wrong = (data < 0) | (data != np.round(data))
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise ValueError(f"release column {rel!r} (schema column {col!r}) holds {data[row]!r} in row {row}; "
                             "vote counts are non-negative integers")
        out[col] = data.astype(np.int64)
    return out


def release_catalog(src: Table, ids: np.ndarray, images: np.ndarray, mapping: Mapping[str, str],
                    label_cols: Sequence[str], campaign: str, extras: Iterable[str], meta: dict) -> Table:
    """The loader's catalogue layout: ``id``, ``ra``, ``dec`` (float64, NaN where missing), ``image``, the
    schema's vote counts (:func:`votes_table`), ``campaign``, the release's ``extras`` it has, and ``meta``."""
    out = Table()
    out["id"] = ids
    for coord in ("ra", "dec"):
        out[coord] = np.asarray(np.ma.filled(np.ma.asarray(src[coord], dtype=np.float64), np.nan))
    out["image"] = images
    for col, values in votes_table(src, mapping, label_cols).items():
        out[col] = values
    out["campaign"] = np.full(len(out), campaign)
    for extra in extras:
        if extra in src.colnames:
            out[extra] = src[extra]
    out.meta.update(meta)
    return out


class ChainedImages:
    """Several image sources behind one key space (the first source holding a key wins)."""

    def __init__(self, sources: Sequence):
        self.sources = list(sources)

    def __len__(self) -> int:
        return len({k for s in self.sources for k in s.keys()})

    def __contains__(self, key: object) -> bool:
        return any(key in s for s in self.sources)

    def keys(self) -> list[str]:
        """Every key with an image."""
        return list(dict.fromkeys(k for s in self.sources for k in s.keys()))

    def __call__(self, key: str) -> np.ndarray:
        for s in self.sources:
            if key in s:
                return s(key)
        raise KeyError(f"no image {key!r} in any of {len(self.sources)} image archives")

    def close(self) -> None:
        """Close every source."""
        for s in self.sources:
            s.close()


def archive_images(folder: Path, archives: Sequence[str]):
    """Images of the zip ``archives`` in ``folder``, each read from the zip or from its extracted folder.

    For each archive name the zip is used when present, else a folder called like the zip without
    ``.zip`` (the user extracted it there). Keys are the image file names without folders and suffix.
    Raises :class:`FileNotFoundError` naming every archive with neither.
    """
    from galzoo_fm.datasets.public.images import FolderImages, ZipImages

    zips, folders, missing = [], [], []
    for name in archives:
        path, extracted = folder / name, folder / name.removesuffix(".zip")
        if path.is_file():
            zips.append(path)
        elif extracted.is_dir():
            folders.append(extracted)
        else:
            missing.append(f"{path} (or the extracted folder {extracted})")
    if missing:
        raise FileNotFoundError("image archives missing: " + "; ".join(missing))
    sources = ([ZipImages(zips)] if zips else []) + [FolderImages(f) for f in folders]
    return sources[0] if len(sources) == 1 else ChainedImages(sources)
