"""What the writer and the readers of a cutout store agree on: file names, the manifest, the WCS columns, and
the one rule that resolves rows recorded twice.

Layout of a store folder::

    store.json                         manifest: shape (C, H, W), bands, survey provenance, catalogue
    parts/<part>/chunk-000000.npy      (k, C, H, W) pixels of k cutouts (only rows with pixels): float32, or
                                       the manifest's ``dtype`` (uint8 / uint16 for 8/16-bit image files)
    parts/<part>/chunk-000000.invvar.npy   optional extra planes, same shape
    parts/<part>/chunk-000000.rows.npz     the k' >= k rows of this chunk: catalogue row, id, ra, dec, status,
                                           reason, slot into the .npy (-1: no pixels), WCS of the pixel grid

A chunk exists for readers once its ``.rows.npz`` does (:func:`chunk_files`). Rows recorded twice (a
``failed`` row retried by a later run) resolve to one record by :func:`winning_records`: a final status beats
``failed``, and a later record beats an earlier one.

The WCS of each row is kept twice: as the full celestial FITS header (``wcs_header``, ASCII bytes, one card
per line: ``WCS.to_header_string(relax=True)``, so SIP distortions survive), and as its linear part
(``crval``, ``crpix``, ``cd``, ``ctype``), which is all that stores written before the header column existed
hold, and which those versions read. :func:`wcs_of_record` prefers the header.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.wcs import WCS

__all__ = ["FORMAT", "MANIFEST", "chunk_files", "read_manifest", "wcs_from_header", "wcs_from_row",
           "wcs_of_record", "wcs_record", "winning_records"]

FORMAT = "galzoo_fm.cutouts"
FORMAT_VERSION = 1
MANIFEST = "store.json"
#: The one file-name pattern of a chunk's files: ``chunk-<6 digits>.<what>``, ``<what>`` being ``rows.npz``
#: (the commit marker), ``npy`` (the pixels) or ``<plane>.npy`` (an extra plane).
CHUNK_RE = re.compile(r"^chunk-(?P<number>\d{6})\.(?P<what>.+)$")
ROWS = "rows.npz"
#: Columns of a ``.rows.npz`` that every record has (``wcs_header`` is newer and may be absent).
RECORD_COLUMNS = ("row", "id", "ra", "dec", "status", "reason", "slot", "crval", "crpix", "cd", "ctype", "time")
_FAILED = "failed"


def now() -> str:
    """The current UTC time, ISO 8601 to the second (the manifest's ``created``)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------------------ names
def chunk_name(number: int, what: str = ROWS) -> str:
    """File name of chunk ``number``'s ``what`` (``"rows.npz"``, ``"npy"``, ``"invvar.npy"``; ``""``: the stem)."""
    return f"chunk-{number:06d}" + (f".{what}" if what else "")


def plane_suffix(plane: str) -> str:
    """``".npy"`` for the pixels (``plane="data"``), ``".<plane>.npy"`` for an extra plane."""
    return ".npy" if plane == "data" else f".{plane}.npy"


def committed_number(name: str) -> int | None:
    """The chunk number of a commit marker's file name (``chunk-000012.rows.npz`` → 12), else ``None``."""
    m = CHUNK_RE.match(name)
    return int(m["number"]) if m and m["what"] == ROWS else None


def chunk_files(root: str | Path) -> list[Path]:
    """The committed chunks of the store at ``root``: their ``.rows.npz`` files, part by part, in order.

    This order (parts by name, then chunk number) is the order of the records for :func:`winning_records`.
    """
    parts = Path(root) / "parts"
    if not parts.is_dir():
        return []
    return [p for part in sorted(parts.iterdir()) if part.is_dir()
            for p in sorted(part.iterdir()) if committed_number(p.name) is not None]


def chunk_stem(rows_file: str | Path) -> str:
    """``.../chunk-000012`` of ``.../chunk-000012.rows.npz``: add :func:`plane_suffix` to name a pixel file."""
    return str(rows_file)[: -len("." + ROWS)]


# ---------------------------------------------------------------------------------------------- records
def winning_records(rows: np.ndarray, status: np.ndarray, held_final: np.ndarray | None = None) -> np.ndarray:
    """The one record-resolution rule: which of several records of a catalogue row stands.

    A final status (anything but ``failed``) beats ``failed``, and a later record beats an earlier one.

    Parameters
    ----------
    rows : numpy.ndarray
        ``(n,)`` catalogue rows of the records, in record order (the order of :func:`chunk_files`, then
        position in the chunk).
    status : numpy.ndarray
        ``(n,)`` status strings, or bool "is final" flags.
    held_final : numpy.ndarray, optional
        ``(n,)`` bool: the record's row already holds a final record from earlier records not passed here
        (for readers that apply the records chunk by chunk); such rows take no ``failed`` record.

    Returns
    -------
    numpy.ndarray
        Positions (into ``rows``) of the records that stand, one per row that takes one, sorted by row.
    """
    rows = np.asarray(rows)
    final = np.asarray(status) if np.asarray(status).dtype == bool else np.asarray(status) != _FAILED
    order = np.lexsort((np.arange(len(rows)), final, rows))  # per row: failed first, then final; in order
    if held_final is not None:
        order = order[final[order] | ~np.asarray(held_final, bool)[order]]
    by_row = rows[order]
    last = np.r_[by_row[1:] != by_row[:-1], True] if len(order) else np.zeros(0, bool)
    return order[last]


# --------------------------------------------------------------------------------------------- manifest
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


# -------------------------------------------------------------------------------------------------- WCS
def wcs_record(wcs: WCS | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, bytes]:
    """What a row stores of its WCS: ``(crval (2,), crpix (2,) 1-based, cd (2, 2), "CTYPE1,CTYPE2", header)``.

    ``header`` is the celestial part's ``to_header_string(relax=True)`` as ASCII, one card per line with the
    trailing blanks removed. NaN, ``""`` and ``b""`` when there is no WCS.
    """
    if wcs is None:
        return np.full(2, np.nan), np.full(2, np.nan), np.full((2, 2), np.nan), "", b""
    cel = wcs.celestial
    text = cel.to_header_string(relax=True)
    header = "\n".join(text[i:i + 80].rstrip() for i in range(0, len(text), 80)).encode("ascii")
    return (np.asarray(cel.wcs.crval, float), np.asarray(cel.wcs.crpix, float),
            np.asarray(cel.pixel_scale_matrix, float), ",".join(cel.wcs.ctype), header)


def wcs_from_row(crval: Sequence[float], crpix: Sequence[float], cd: np.ndarray, ctype: str) -> WCS | None:
    """Rebuild the linear celestial WCS stored for one cutout (``None`` when the row has none)."""
    if not ctype or not np.all(np.isfinite(crval)):
        return None
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ctype.split(",")
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = list(crpix)
    wcs.wcs.cd = np.asarray(cd)
    return wcs


def wcs_from_header(header: bytes | str) -> WCS | None:
    """The WCS of a stored ``wcs_header`` (SIP distortions included); ``None`` for an empty one."""
    from astropy.io import fits
    from astropy.wcs import FITSFixedWarning

    text = header.decode("ascii") if isinstance(header, bytes | np.bytes_) else str(header)
    if not text.strip():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(fits.Header.fromstring(text, sep="\n"), relax=True)


def wcs_of_record(record: Any) -> WCS | None:
    """The WCS of one stored row (a table row or mapping): from ``wcs_header`` if it has one, else the linear
    columns (stores written before the header column)."""
    names = record.colnames if hasattr(record, "colnames") else list(record)
    if "wcs_header" in names:
        wcs = wcs_from_header(record["wcs_header"])
        if wcs is not None:
            return wcs
    if "ctype" not in names:
        return None
    return wcs_from_row(record["crval"], record["crpix"], record["cd"], str(record["ctype"]))
