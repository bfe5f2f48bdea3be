"""Reading catalogues: any table astropy can read, with its id / RA / Dec columns found by name.

Column names are matched case-insensitively against common spellings (``ra``/``dec``, ``RA``/``DEC``,
``ra_deg``/``dec_deg``, ``RAJ2000``/``DEJ2000``, ...), or given explicitly. Coordinates may be degrees
(plain numbers, or a column with an angular unit) or sexagesimal strings. Rows with NaN or out-of-range
coordinates are kept and marked invalid, so the rest of the catalogue proceeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.table import Table

__all__ = ["DEC_NAMES", "ID_NAMES", "RA_NAMES", "Catalog", "find_column", "read_catalog"]

#: Recognised RA column names (lower case), most preferred first.
RA_NAMES = ("ra", "ra_deg", "radeg", "raj2000", "_raj2000", "ra_j2000", "ra_icrs", "ra2000", "alpha", "ra_x")
#: Recognised Dec column names (lower case), most preferred first.
DEC_NAMES = ("dec", "dec_deg", "decdeg", "dej2000", "_dej2000", "decj2000", "dec_j2000", "de_icrs",
             "dec_icrs", "dec2000", "delta", "de", "dec_x")
#: Recognised identifier column names (lower case), most preferred first.
ID_NAMES = ("id", "objid", "obj_id", "object_id", "objectid", "source_id", "sourceid", "galaxy_id",
            "iauname", "name", "dr8_id", "id_str")


@dataclass
class Catalog:
    """A catalogue with resolved positions.

    Attributes
    ----------
    table : astropy.table.Table
        The table as read.
    ids : numpy.ndarray
        ``(N,)`` identifiers: an integer id column as it is, the row numbers when there is no id column,
        strings otherwise (so a million-row catalogue holds no per-row strings); ``str(ids[i])`` is the
        identifier's text.
    ra, dec : numpy.ndarray
        ``(N,)`` float64 degrees (ICRS); NaN where the row is invalid.
    valid : numpy.ndarray
        ``(N,)`` bool: position usable.
    reasons : numpy.ndarray
        ``(N,)`` object array of str: why a row is invalid (the shared empty string for valid rows).
    columns : dict
        The columns used: ``{"id": name or None, "ra": name, "dec": name}``.
    source : str
        Where the table came from.
    """

    table: Table
    ids: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    valid: np.ndarray
    reasons: np.ndarray
    columns: dict[str, str | None]
    source: str = "<table>"

    def __len__(self) -> int:
        return len(self.ra)

    @property
    def coords(self) -> SkyCoord:
        """The positions as a :class:`~astropy.coordinates.SkyCoord` (invalid rows are NaN)."""
        return SkyCoord(self.ra * u.deg, self.dec * u.deg, frame="icrs")

    def fingerprint(self) -> str:
        """SHA-256 of the row count and the positions, to tell whether a store belongs to this catalogue."""
        h = hashlib.sha256(str(len(self)).encode())
        h.update(np.ascontiguousarray(np.round(np.nan_to_num(self.ra, nan=-999.0), 9)).tobytes())
        h.update(np.ascontiguousarray(np.round(np.nan_to_num(self.dec, nan=-999.0), 9)).tobytes())
        return h.hexdigest()


def find_column(table: Table, wanted: str | None, candidates: tuple[str, ...], what: str, *,
                required: bool = True) -> str | None:
    """The name of ``table``'s ``what`` column: ``wanted`` if given, else the first matching candidate.

    Matching is case-insensitive. Raises ``ValueError`` naming the columns present when nothing matches.
    """
    present = list(table.colnames)
    lower: dict[str, str] = {}
    for name in present:
        lower.setdefault(name.lower(), name)
    if wanted is not None:
        if wanted in table.colnames:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise ValueError(f"{what} column {wanted!r} not found; the catalogue has columns: {', '.join(present)}")
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    if not required:
        return None
    raise ValueError(
        f"cannot find a {what} column (tried {', '.join(candidates)}, case-insensitively); the catalogue has "
        f"columns: {', '.join(present) or '(none)'}; name it with --{what.lower()}-col"
    )


def _degrees(column, name: str, kind: str) -> np.ndarray:
    """Column values in degrees; strings are parsed as sexagesimal (RA in hours if it has ``h`` or ``:``)."""
    data = column.data if hasattr(column, "data") else column
    mask = np.ma.getmaskarray(data)
    if data.dtype.kind in "USO":
        out = np.full(len(data), np.nan)
        unit = u.hourangle if kind == "RA" else u.deg
        for i, value in enumerate(np.asarray(data, dtype=str)):
            if mask[i] or not value.strip():
                continue
            text = value.strip()
            try:
                if kind == "RA" and not any(c in text for c in ":hHdD ") and _is_number(text):
                    out[i] = float(text)
                elif kind == "DEC" and _is_number(text):
                    out[i] = float(text)
                else:
                    out[i] = Angle(text, unit=unit).deg
            except (ValueError, u.UnitsError):
                continue
        return out
    if data.dtype.kind not in "iuf":
        raise TypeError(f"{kind} column {name!r} has dtype {data.dtype}; expected numbers (degrees) or strings")
    values = np.ma.filled(np.ma.asarray(data, dtype=float), np.nan)
    unit = getattr(column, "unit", None)
    if unit is not None and unit != u.deg:
        try:
            values = (values * unit).to_value(u.deg)
        except u.UnitConversionError:
            raise ValueError(f"{kind} column {name!r} has unit {unit}, which is not an angle") from None
    return np.asarray(values, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_catalog(source: str | Path | Table, *, id_col: str | None = None, ra_col: str | None = None,
                 dec_col: str | None = None, format: str | None = None) -> Catalog:
    """Read a catalogue and resolve its id / RA / Dec columns.

    Parameters
    ----------
    source : str, path or astropy.table.Table
        A file astropy can read (FITS, ECSV, CSV, VOTable, Parquet, HDF5, ...) or a table.
    id_col, ra_col, dec_col : str, optional
        Column names, overriding the automatic choice (case-insensitive).
    format : str, optional
        astropy ``Table.read`` format, when the extension does not tell.

    Returns
    -------
    Catalog

    Raises
    ------
    ValueError
        The file cannot be read, or no RA / Dec column can be found (the message lists the columns).

    Examples
    --------
    >>> from astropy.table import Table
    >>> cat = read_catalog(Table({"RAJ2000": [10.0, 400.0], "DEJ2000": [-5.0, 0.0]}))
    >>> cat.columns["ra"], cat.valid.tolist(), str(cat.reasons[1])
    ('RAJ2000', [True, False], 'RA 400.0 outside [0, 360)')
    """
    if isinstance(source, Table):
        table, where = source, "<table>"
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"catalogue {str(path)!r} does not exist or is not a file")
        try:
            table = Table.read(path, format=format) if format else _read_any(path)
        except Exception as exc:
            raise ValueError(f"cannot read catalogue {str(path)!r}: {type(exc).__name__}: {exc}") from exc
        where = str(path)
    if len(table.colnames) == 0:
        raise ValueError(f"catalogue {where} has no columns")
    ra_name = find_column(table, ra_col, RA_NAMES, "RA")
    dec_name = find_column(table, dec_col, DEC_NAMES, "DEC")
    id_name = find_column(table, id_col, ID_NAMES, "ID", required=False)
    ra = _degrees(table[ra_name], ra_name, "RA")
    dec = _degrees(table[dec_name], dec_name, "DEC")
    if id_name is None:
        ids = np.arange(len(table))
    elif table[id_name].dtype.kind in "iu" and not np.ma.is_masked(table[id_name]):
        ids = np.asarray(table[id_name])  # a view: text only when a row's id is written
    else:
        ids = np.asarray(np.ma.filled(np.ma.asarray(table[id_name]).astype(str), "")).astype(str)
    reasons = np.full(len(table), "", dtype=object)
    for i in np.flatnonzero(~np.isfinite(ra)):
        reasons[i] = f"RA in column {ra_name!r} is missing or not a number"
    for i in np.flatnonzero(~np.isfinite(dec)):
        reasons[i] = reasons[i] or f"Dec in column {dec_name!r} is missing or not a number"
    with np.errstate(invalid="ignore"):
        bad_ra = np.isfinite(ra) & ((ra < 0) | (ra >= 360))
        bad_dec = np.isfinite(dec) & (np.abs(dec) > 90)
    for i in np.flatnonzero(bad_ra):
        reasons[i] = reasons[i] or f"RA {ra[i]} outside [0, 360)"
    for i in np.flatnonzero(bad_dec):
        reasons[i] = reasons[i] or f"Dec {dec[i]} outside [-90, 90]"
    valid = reasons == ""
    ra = np.where(valid, ra, np.nan)
    dec = np.where(valid, dec, np.nan)
    return Catalog(table, ids, ra, dec, valid, reasons,
                   {"id": id_name, "ra": ra_name, "dec": dec_name}, where)


def _read_any(path: Path) -> Table:
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".csv", ".csv.gz")):
        return Table.read(path, format="ascii.csv")
    if suffix.endswith((".h5", ".hdf5")):
        return Table.read(path, path="table") if _has_hdf5_path(path) else Table.read(path)
    return Table.read(path)


def _has_hdf5_path(path: Path) -> bool:
    try:
        import h5py
    except ImportError:
        return False
    with h5py.File(path, "r") as fh:
        return "table" in fh
