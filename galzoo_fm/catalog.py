"""Reading catalogues: any table astropy can read, with its id / RA / Dec columns found by name.

Column names are matched case-insensitively against the spellings of common catalogue conventions
(:data:`CONVENTIONS`: hand-made tables, the Legacy Surveys' Tractor, SDSS, Gaia, HSC, DES, SExtractor,
VizieR), or given explicitly. Coordinates may be degrees (plain numbers, or a column with an angular unit)
or sexagesimal strings. Rows with NaN or out-of-range coordinates are kept and marked invalid, so the rest
of the catalogue proceeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.table import Table

from galzoo_fm._utils.tablefile import looks_like_prose, read_file

__all__ = ["AMBIGUOUS_ARCSEC", "CONVENTIONS", "DEC_NAMES", "ID_NAMES", "POSITION_PAIRS", "RA_NAMES", "Catalog",
           "Convention", "conventions_rst", "find_column", "read_catalog"]


@dataclass(frozen=True)
class Convention:
    """How one family of catalogues names its identifier and position columns.

    Attributes
    ----------
    name : str
        The convention, e.g. ``"SExtractor"``.
    written_by : str
        The tools and archives whose tables follow it.
    ids : tuple of str
        Identifier column names (lower case), most preferred first.
    positions : tuple of (str, str)
        ``(RA, Dec)`` column name pairs (lower case), most preferred first.
    note : str
        What else the reader does or assumes for these tables.
    """

    name: str
    written_by: str
    ids: tuple[str, ...]
    positions: tuple[tuple[str, str], ...]
    note: str = ""


#: The column conventions, in priority order: the first (RA, Dec) pair present in this order is used, and
#: the first identifier present in the order of :data:`ID_NAMES` (these ids, with sequence numbers last).
CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        "plain", "hand-made tables, pandas, TOPCAT, Galaxy Zoo releases",
        ids=("id", "objid", "obj_id", "object_id", "objectid", "source_id", "sourceid", "galaxy_id", "iauname",
             "name", "dr8_id", "id_str"),
        positions=(("ra", "dec"), ("ra_deg", "dec_deg"), ("radeg", "decdeg"), ("ra_j2000", "dec_j2000"),
                   ("raj2000", "decj2000"), ("ra_icrs", "dec_icrs"), ("ra2000", "dec2000"), ("alpha", "delta"),
                   ("ra", "de"), ("ra_x", "dec_x")),
        note="the common spellings; ``ra_x``/``dec_x`` are what a pandas merge leaves"),
    Convention(
        "Legacy Surveys Tractor",
        "``tractor-*.fits`` and ``sweep-*.fits`` catalogues, NOIRLab Data Lab ``ls_dr*`` tables",
        ids=("ls_id",), positions=(("ra", "dec"),),
        note="``objid`` counts sources within one brick, so where a table has ``brickid`` or ``ls_id`` the id is "
             "``ls_id``: the column when present, else built from ``release``, ``brickid`` and ``objid`` as "
             "Data Lab and DESI define it, ``(release << 40) | (brickid << 16) | objid`` (added to the table "
             "as ``ls_id``)"),
    Convention(
        "SDSS", "SkyServer / CasJobs ``PhotoObj``, ``SpecObj`` and ``Galaxy`` queries, ``astroquery.sdss``",
        ids=("objid", "dr7objid", "specobjid"), positions=(("ra", "dec"),)),
    Convention(
        "Gaia", "Gaia archive ``gaia_source`` queries, ``astroquery.gaia``",
        ids=("source_id",), positions=(("ra", "dec"),),
        note="positions at ``ref_epoch`` (2016.0 for DR3), the same for galaxies"),
    Convention(
        "HSC", "HSC-SSP data release (CAS) ``forced`` and ``meas`` tables",
        ids=("object_id",), positions=(("ra", "dec"), ("i_ra", "i_dec")),
        note="``i_ra``/``i_dec`` (the i-band measurement) only without ``ra``/``dec``"),
    Convention(
        "SExtractor", "SExtractor / Source Extractor ``FITS_1.0``, ``FITS_LDAC`` (the ``LDAC_OBJECTS`` table "
        "is read) and ``ASCII_HEAD`` catalogues",
        ids=("number",),
        positions=(("alpha_j2000", "delta_j2000"), ("x_world", "y_world"), ("alphawin_j2000", "deltawin_j2000"),
                   ("alpha_sky", "delta_sky")),
        note="``NUMBER`` counts detections in one image, so ids repeat across images; ``X_WORLD``/``Y_WORLD`` "
             "are the image's world system, taken as RA/Dec"),
    Convention(
        "DES", "DES DR1/DR2 ``main`` tables, Y3/Y6 Gold",
        ids=("coadd_object_id",), positions=(("ra", "dec"), ("alphawin_j2000", "deltawin_j2000")),
        note="the windowed ``ALPHAWIN_J2000``/``DELTAWIN_J2000`` only without ``RA``/``DEC``"),
    Convention(
        "VizieR", "VizieR tables (``astroquery.vizier``, the VizieR TAP service, the CDS portal)",
        ids=("seq", "recno"),
        positions=(("raj2000", "dej2000"), ("_raj2000", "_dej2000"), ("ra_icrs", "de_icrs"), ("radeg", "dedeg"),
                   ("_ra", "_de")),
        note="``Seq`` (the catalogue's running number) and ``recno`` (VizieR's record number) are used only "
             "without any other id column; sexagesimal ``RAJ2000`` strings are read as hours"),
)


def _unique(names) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


#: (RA, Dec) name pairs (lower case), in priority order, from :data:`CONVENTIONS`.
POSITION_PAIRS: tuple[tuple[str, str], ...] = _unique(p for c in CONVENTIONS for p in c.positions)
#: Recognised RA column names (lower case), most preferred first.
RA_NAMES: tuple[str, ...] = _unique(ra for ra, _ in POSITION_PAIRS)
#: Recognised Dec column names (lower case), most preferred first.
DEC_NAMES: tuple[str, ...] = _unique(dec for _, dec in POSITION_PAIRS)
_SEQUENCE_IDS = ("number", "seq", "recno")  # running numbers: an id only when nothing better exists
#: Recognised identifier column names (lower case), most preferred first (running numbers last).
ID_NAMES: tuple[str, ...] = _unique([*(i for c in CONVENTIONS for i in c.ids if i not in _SEQUENCE_IDS),
                                     *_SEQUENCE_IDS])
#: Two recognised coordinate columns whose positions differ by more than this (median over the rows, in
#: arcsec) are refused as ambiguous; closer ones (windowed vs. isophotal centroids, rounded copies) are not.
AMBIGUOUS_ARCSEC = 1.0


def conventions_rst() -> str:
    """The :data:`CONVENTIONS` as a reStructuredText list table (the one in the documentation)."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 14 24 20 22 30", "",
             "   * - convention", "     - written by", "     - id columns", "     - RA, Dec columns", "     - notes"]
    for c in CONVENTIONS:
        lines += [f"   * - {c.name}", f"     - {c.written_by}",
                  "     - " + ", ".join(f"``{n}``" for n in c.ids),
                  "     - " + "; ".join(f"``{r}``, ``{d}``" for r, d in c.positions),
                  f"     - {c.note}" if c.note else "     -"]
    return "\n".join(lines) + "\n"


@dataclass
class Catalog:
    """A catalogue with resolved positions.

    Attributes
    ----------
    table : astropy.table.Table
        The table as read (a Tractor catalogue without ``ls_id`` gains the built ``ls_id`` column).
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
                 dec_col: str | None = None, format: str | None = None, positions: str = "required") -> Catalog:
    """Read a catalogue and resolve its id / RA / Dec columns.

    Parameters
    ----------
    source : str, path or astropy.table.Table
        A file astropy can read (FITS, ECSV, CSV, VOTable, Parquet, HDF5, ...) or a table.
    id_col, ra_col, dec_col : str, optional
        Column names, overriding the automatic choice (case-insensitive).
    format : str, optional
        astropy ``Table.read`` format, when the extension does not tell.
    positions : {"required", "optional"}
        ``"optional"``: a table without RA / Dec columns is read too, every row ``invalid`` with the reason
        "no RA/Dec columns" (image catalogues, whose cutouts are found by row: see :mod:`galzoo_fm.images`).

    Returns
    -------
    Catalog

    Raises
    ------
    ValueError
        The file cannot be read (the message names it and says whether it is truncated, damaged or not a
        table), no RA / Dec column can be found (the message lists the columns), or two recognised columns
        hold different positions (ambiguous: name one).

    Notes
    -----
    Without ``ra_col``/``dec_col`` the first (RA, Dec) pair of :data:`CONVENTIONS` present is used; without
    ``id_col`` the first of :data:`ID_NAMES` (see :data:`CONVENTIONS` for a Tractor ``objid``), else the row
    number. The columns used are in :attr:`Catalog.columns`.

    Examples
    --------
    >>> from astropy.table import Table
    >>> cat = read_catalog(Table({"RAJ2000": [10.0, 400.0], "DEJ2000": [-5.0, 0.0]}))
    >>> cat.columns["ra"], cat.valid.tolist(), str(cat.reasons[1])
    ('RAJ2000', [True, False], 'RA 400.0 outside [0, 360)')
    """
    if isinstance(source, Table):
        table, where, text = source, "<table>", None
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"catalogue {str(path)!r} does not exist or is not a file")
        table, text = read_file(path, format)
        where = str(path)
    if len(table.colnames) == 0:
        raise ValueError(f"catalogue {where} has no columns")
    if positions not in ("required", "optional"):
        raise ValueError(f"positions must be 'required' or 'optional', got {positions!r}")
    try:
        ra_name, dec_name, by_name = _position_columns(table, ra_col, dec_col)
    except ValueError as exc:
        if positions == "optional" and ra_col is None and dec_col is None:
            return _without_positions(table, where, id_col)
        if text is not None and looks_like_prose(table):
            raise ValueError(f"cannot read catalogue {where!r}: it does not look like a table with column names: "
                             f"its first line reads {text!r}; a catalogue needs a header line of column names "
                             "(e.g. id,ra,dec) and one row per object") from exc
        raise
    ra = _degrees(table[ra_name], ra_name, "RA")
    dec = _degrees(table[dec_name], dec_name, "DEC")
    if by_name and ra_col is None:
        _check_ambiguous(table, ra_name, ra, dec, RA_NAMES, "RA")
    if by_name and dec_col is None:
        _check_ambiguous(table, dec_name, dec, dec, DEC_NAMES, "DEC")
    table, id_name = _id_column(table, id_col)
    ids = _identifiers(table, id_name)
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


def _identifiers(table: Table, id_name: str | None) -> np.ndarray:
    if id_name is None:
        return np.arange(len(table))
    if table[id_name].dtype.kind in "iu" and not np.ma.is_masked(table[id_name]):
        return np.asarray(table[id_name])  # a view: text only when a row's id is written
    return np.asarray(np.ma.filled(np.ma.asarray(table[id_name]).astype(str), "")).astype(str)


def _without_positions(table: Table, where: str, id_col: str | None) -> Catalog:
    """The catalogue of a table without RA / Dec columns: NaN positions, every row marked as having none."""
    table, id_name = _id_column(table, id_col)
    n = len(table)
    reasons = np.full(n, "no RA/Dec columns", dtype=object)
    return Catalog(table, _identifiers(table, id_name), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool),
                   reasons, {"id": id_name, "ra": None, "dec": None}, where)


def _lower_names(table: Table) -> dict[str, str]:
    lower: dict[str, str] = {}
    for name in table.colnames:
        lower.setdefault(name.lower(), name)
    return lower


def _position_columns(table: Table, ra_col: str | None, dec_col: str | None) -> tuple[str, str, bool]:
    """The RA and Dec columns (given ones, else the first convention pair present, else one by one) and
    whether they were found by name alone, so that other recognised columns may make them ambiguous."""
    lower = _lower_names(table)
    ra = find_column(table, ra_col, RA_NAMES, "RA") if ra_col is not None else None
    dec = find_column(table, dec_col, DEC_NAMES, "DEC") if dec_col is not None else None
    if ra is not None and dec is not None:
        return ra, dec, False
    for ra_name, dec_name in POSITION_PAIRS:
        if ra is None and dec is None and ra_name in lower and dec_name in lower:
            return lower[ra_name], lower[dec_name], True
        if ra is not None and ra.lower() == ra_name and dec_name in lower:
            return ra, lower[dec_name], False  # the partner of a given RA column
        if dec is not None and dec.lower() == dec_name and ra_name in lower:
            return lower[ra_name], dec, False
    return (ra or find_column(table, None, RA_NAMES, "RA"), dec or find_column(table, None, DEC_NAMES, "DEC"),
            True)


def _check_ambiguous(table: Table, chosen: str, values: np.ndarray, dec: np.ndarray, candidates: tuple[str, ...],
                     kind: str) -> None:
    """``ValueError`` when another recognised ``kind`` column holds other positions than ``chosen``.

    Positions agreeing to :data:`AMBIGUOUS_ARCSEC` (median over the rows both give) are the same measurement
    (a windowed centroid, a rounded sexagesimal copy); columns that hold no numbers do not compete.
    """
    others = []
    for name in table.colnames:
        if name == chosen or name.lower() not in candidates:
            continue
        try:
            other = _degrees(table[name], name, kind)
        except (TypeError, ValueError):
            continue
        both = np.isfinite(other) & np.isfinite(values)
        if kind == "RA":
            both &= np.isfinite(dec)
        if not both.any():
            continue
        diff = np.abs(other[both] - values[both])
        if kind == "RA":
            diff = np.abs((diff + 180.0) % 360.0 - 180.0) * np.cos(np.radians(dec[both]))
        median = float(np.median(diff)) * 3600.0
        if median > AMBIGUOUS_ARCSEC:
            others.append((name, median))
    if others:
        found = [n for n in table.colnames if n == chosen or n in dict(others)]
        detail = ", ".join(f"{n} differs from {chosen} by {m:.3g} arcsec" for n, m in others)
        raise ValueError(
            f"ambiguous {kind} column: {', '.join(found)} all look like {kind} but hold different values (median "
            f"over the rows: {detail}); choose one with --{kind.lower()}-col. The catalogue has columns: "
            f"{', '.join(table.colnames)}"
        )


def _id_column(table: Table, id_col: str | None) -> tuple[Table, str | None]:
    """The identifier column (``None``: row numbers); a Tractor table may gain a built ``ls_id`` column."""
    if id_col is not None:
        return table, find_column(table, id_col, ID_NAMES, "ID")
    lower = _lower_names(table)
    for cand in ID_NAMES:
        if cand == "objid" and cand in lower and ("brickid" in lower or "ls_id" in lower):
            # a Tractor objid counts sources within one brick: ls_id is the catalogue-wide id
            if "ls_id" in lower:
                return table, lower["ls_id"]
            built = _ls_id(table, lower)
            if built is not None:
                table = type(table)(table, copy=False)  # the caller's table keeps its columns
                table["ls_id"] = built
                return table, "ls_id"
        if cand in lower:
            return table, lower[cand]
    return table, None


def _ls_id(table: Table, lower: dict[str, str]) -> np.ndarray | None:
    """``(release << 40) | (brickid << 16) | objid`` (Data Lab's and DESI's ``ls_id``), or ``None`` when a
    column is missing, masked, not integer or out of its bit range."""
    limits = {"release": 1 << 23, "brickid": 1 << 24, "objid": 1 << 16}
    parts = {}
    for name, limit in limits.items():
        if name not in lower:
            return None
        col = table[lower[name]]
        if col.dtype.kind not in "iu" or np.ma.is_masked(col):
            return None
        values = np.asarray(col, dtype=np.int64)
        if len(values) and (values.min() < 0 or values.max() >= limit):
            return None
        parts[name] = values
    return (parts["release"] << 40) | (parts["brickid"] << 16) | parts["objid"]
