"""Output tables in the format named by the file extension: reading them, and the header fix-ups the writers use.

The tables themselves are written by :mod:`galzoo_fm._utils.writers` (block by block, through the one atomic
writer, :mod:`galzoo_fm._utils.atomic`). What the package adds to astropy's own writers, so that the tables
astronomers open in TOPCAT, STILTS or ``fitsverify`` are valid and self-describing:

- **FITS**: column descriptions and UCDs as ``TCOMMn`` / ``TUCDn`` (astropy keeps them only in its own
  serialisation comments), ``LONGSTRN = 'OGIP 1.0'`` when a long string value needs ``CONTINUE`` cards, and
  dates as ``YYYY-MM-DDThh:mm:ss`` (UTC, no offset: :func:`fits_date`).
- **VOTable** (``.vot``, ``.xml``): ``BINARY2`` serialisation, column descriptions, UCDs and units as FIELD
  attributes, and the table metadata as ``PARAM`` elements, which :func:`read_table` turns back into
  ``meta``.
- Files are created with the process umask (see :mod:`galzoo_fm._utils.atomic`), and a write whose process was
  killed leaves a temporary file that the next write of the same output removes.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

__all__ = ["EMBEDDING_COLUMNS", "FORMATS", "describe_column", "describe_columns", "fits_date", "read_table",
           "read_table_meta", "table_format"]

#: File extension → astropy ``Table.write`` format, and the optional package it needs.
FORMATS: dict[str, tuple[str, str | None]] = {
    ".fits": ("fits", None),
    ".fit": ("fits", None),
    ".ecsv": ("ascii.ecsv", None),
    ".parquet": ("parquet", "pyarrow"),
    ".h5": ("hdf5", "h5py"),
    ".hdf5": ("hdf5", "h5py"),
    ".vot": ("votable", None),
    ".xml": ("votable", None),
}


def table_format(path: str | Path) -> str:
    """The astropy format for ``path``'s extension; ``ValueError`` listing the supported ones otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the table format of {str(path)!r} from its extension; use one of "
            f"{', '.join(FORMATS)}"
        )
    fmt, needs = FORMATS[suffix]
    if needs is not None:
        try:
            __import__(needs)
        except ImportError as exc:
            raise ValueError(f"writing {suffix} files needs the {needs!r} package: pip install {needs}") from exc
    return fmt


def fits_date(when: datetime.datetime | None = None) -> str:
    """A FITS ``DATE`` value: ``YYYY-MM-DDThh:mm:ss`` in UTC, without an offset (FITS standard 4.0, 4.4.2.1).

    Examples
    --------
    >>> import datetime
    >>> fits_date(datetime.datetime(2026, 12, 1, 7, 51, 35, 500, tzinfo=datetime.timezone(datetime.timedelta(hours=1))))
    '2026-12-01T06:51:35'
    """
    when = datetime.datetime.now(datetime.UTC) if when is None else when
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def describe_column(table: Table, name: str, description: str, ucd: str | None = None,
                    unit: str | None = None) -> None:
    """Set a column's description, UCD (``meta['ucd']``) and unit, which every writer here carries along."""
    col = table[name]
    col.description = description
    if ucd:
        col.meta["ucd"] = ucd
    if unit:
        col.unit = unit


#: Description, UCD (IVOA UCD1+) and unit of each output column, written as ``TCOMMn``/``TUCDn``/``TUNITn``
#: in FITS and as FIELD attributes in VOTable, so that TOPCAT and STILTS identify the sky columns.
EMBEDDING_COLUMNS: dict[str, tuple[str, str | None, str | None]] = {
    "id": ("Object identifier (the catalogue's id column; row number if it has none)", "meta.id;meta.main", None),
    "ra": ("Right ascension (ICRS) of the catalogue position", "pos.eq.ra;meta.main", "deg"),
    "dec": ("Declination (ICRS) of the catalogue position", "pos.eq.dec;meta.main", "deg"),
    "embedding": ("Encoder embedding vector (NaN when the row has no usable cutout)", None, None),
    "status": ("Cutout status: ok, partial, off_footprint, failed or invalid", "meta.code.status", None),
    "reason": ("Why the cutout is not ok; for ok rows empty or what was changed (an image resized ...)",
               "meta.note", None),
    "flags": ("Preprocessing flag bits (galzoo_fm.preprocess.PreprocessFlag)", "meta.code.qual", None),
    "anomaly_score": ("Mean cosine distance to the ANOMALYK nearest other embeddings", "stat.value", None),
}


def describe_columns(table: Table, columns: Mapping[str, tuple[str, str | None, str | None]] | None = None
                     ) -> Table:
    """:func:`describe_column` for every column of ``table`` named in ``columns`` (default
    :data:`EMBEDDING_COLUMNS`); returns ``table``."""
    for name, (text, ucd, unit) in (EMBEDDING_COLUMNS if columns is None else columns).items():
        if name in table.colnames:
            describe_column(table, name, text, ucd, unit)
    return table


# ---------------------------------------------------------------------------------------------------- FITS
def fits_header_fixups(header: Any, table: Table) -> Any:
    """Add ``TCOMMn``/``TUCDn`` from ``table``'s columns and ``LONGSTRN`` where needed, to a BINTABLE header.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header of ``fits.table_to_hdu(table)`` (modified in place and returned).
    table : astropy.table.Table
        The table the header describes.
    """
    keys = list(header.keys())
    for i in range(int(header["TFIELDS"]), 0, -1):  # backwards: inserting never moves a later column's cards
        name = header[f"TTYPE{i}"]
        col = table[name] if name in table.colnames else None
        if col is None:  # e.g. the "<name>.mask" companions some formats add
            continue
        own = {f"{k}{i}" for k in ("TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TZERO", "TSCAL", "TDISP")}
        at = max(j for j, k in enumerate(keys) if k in own) + 1
        ucd = (col.meta or {}).get("ucd")
        if ucd:
            header.insert(at, (f"TUCD{i}", str(ucd)))
        if col.description:
            header.insert(at, (f"TCOMM{i}", str(col.description)))
    if "CONTINUE" in header.tostring() and "LONGSTRN" not in header:
        header.insert("TFIELDS", ("LONGSTRN", "OGIP 1.0", "The OGIP long string convention may be used"),
                      after=True)
    return header


def fits_table_hdu(table: Table) -> Any:
    """``fits.table_to_hdu(table)`` with :func:`fits_header_fixups` applied."""
    from astropy.io import fits

    hdu = fits.table_to_hdu(table)
    fits_header_fixups(hdu.header, table)
    return hdu


# ------------------------------------------------------------------------------------------------- VOTable
def _param_of(votable: Any, key: str, value: Any) -> Any:
    from astropy.io.votable.tree import Param

    if isinstance(value, bool | np.bool_):
        return Param(votable, name=key, datatype="boolean", value=bool(value))
    if isinstance(value, int | np.integer):
        return Param(votable, name=key, datatype="long", value=int(value))
    if isinstance(value, float | np.floating):
        return Param(votable, name=key, datatype="double", value=float(value))
    return Param(votable, name=key, datatype="char", arraysize="*", value=str(value))


def votable_of(table: Table) -> Any:
    """The :class:`~astropy.io.votable.tree.VOTableFile` of ``table``: BINARY2, metadata as ``PARAM``."""
    from astropy.io.votable import from_table

    plain = table.copy(copy_data=False)
    plain.meta = {}
    votable = from_table(plain)
    first = votable.get_first_table()
    first.format = "binary2"
    for key, value in table.meta.items():
        if value is None or isinstance(value, Mapping | list | tuple):
            continue
        first.params.append(_param_of(votable, str(key), value))
    return votable


def _read_votable(path: Path) -> Table:
    from astropy.io.votable import parse

    first = parse(str(path)).get_first_table()
    table = first.to_table(use_names_over_ids=True)
    for param in first.params:
        value = param.value
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        table.meta[param.name] = value
    return table


# ------------------------------------------------------------------------------------------------ reading
def read_table(path: str | Path, **kwargs: Any) -> Table:
    """``Table.read`` for the formats of :data:`FORMATS`; a VOTable's ``PARAM`` elements become ``meta``."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "votable":
        return _read_votable(path)
    if fmt == "hdf5":
        kwargs.setdefault("path", "table")
    table = Table.read(path, format=fmt, **kwargs)
    if fmt == "fits":
        from astropy.io import fits

        header = fits.getheader(path, kwargs.get("hdu", 1))
        for i in range(1, int(header.get("TFIELDS", 0)) + 1):
            name = header.get(f"TTYPE{i}")
            if name not in table.colnames:
                continue
            if f"TCOMM{i}" in header and not table[name].description:
                table[name].description = header[f"TCOMM{i}"]
            if f"TUCD{i}" in header:
                table[name].meta.setdefault("ucd", header[f"TUCD{i}"])
    return table


def read_table_meta(path: str | Path) -> dict[str, Any]:
    """The table metadata of ``path`` without reading its rows (FITS, Parquet, HDF5 and ECSV headers).

    A VOTable is parsed whole (its ``PARAM`` elements become the metadata).
    """
    path = Path(path)
    fmt = table_format(path)
    if fmt == "fits":
        from astropy.io import fits

        header = fits.getheader(path, 1)
        import re

        structural = re.compile(r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|LONGSTRN|COMMENT|HISTORY|"
                                r"T(TYPE|FORM|UNIT|DIM|NULL|ZERO|SCAL|DISP|COMM|UCD)\d+)$")
        return {k: v for k, v in header.items() if k and not structural.match(k)}
    if fmt == "parquet":
        return dict(Table.read(path, format="parquet", schema_only=True).meta)
    if fmt == "ascii.ecsv":
        from astropy.table.meta import get_header_from_yaml

        lines = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                lines.append(line[2:].rstrip("\n") if line.startswith("# ") else line[1:].rstrip("\n"))
        return dict(get_header_from_yaml(lines).get("meta", {}))
    if fmt == "hdf5":
        import h5py
        from astropy.table.meta import get_header_from_yaml

        with h5py.File(path, "r") as fh:
            key = "table.__table_column_meta__"
            if key in fh:
                lines = [x.decode() if isinstance(x, bytes) else str(x) for x in fh[key][()]]
                return dict(get_header_from_yaml(lines).get("meta", {}))
    return dict(read_table(path).meta)


# ------------------------------------------------------------------------------------------------ writing
