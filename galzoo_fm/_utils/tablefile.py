"""Reading the table in any file a user hands over, with a message that names the file and what is wrong.

FITS (any HDU with a table, LDAC catalogues), ECSV, CSV, VOTable, Parquet, HDF5 and the ASCII formats
astropy guesses; empty, truncated, image-only and prose files are told apart in the message.
"""

from __future__ import annotations

import math
from pathlib import Path

from astropy.table import Table

__all__ = ["looks_like_prose", "read_file", "read_table_file"]

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")


def read_table_file(path: str | Path, format: str | None = None) -> Table:
    """The table in a catalogue file (any format astropy reads; CSV, LDAC and HDF5 found by content), as it is:
    no columns chosen or checked (that is :func:`read_catalog`'s job).

    Raises
    ------
    ValueError
        Naming the file: it does not exist, is empty, truncated, not a table, or unreadable (and why).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"catalogue {str(path)!r} does not exist or is not a file")
    return read_file(path, format)[0]


def read_file(path: Path, format: str | None) -> tuple[Table, str | None]:
    """The table in ``path`` and, for a text file, its first line (for messages); ``ValueError`` naming the
    file and what is wrong with it otherwise."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head:
        raise ValueError(f"cannot read catalogue {str(path)!r}: it is empty (0 bytes)")
    if head.startswith(b"SIMPLE  =") and format in (None, "fits"):
        short = _fits_shortfall(path)
        if short is not None:
            expected, size, where = short
            raise ValueError(f"cannot read catalogue {str(path)!r}: it is truncated: the file has {size} bytes but "
                             f"its FITS {where} needs {expected} (an interrupted download or copy?); fetch or copy it "
                             "again")
    try:
        table = Table.read(path, format=format) if format else _read_any(path, head)
    except Exception as exc:
        raise ValueError(_unreadable(path, head, exc)) from exc
    return table, _first_line(head) if _is_text(head) else None


def _read_any(path: Path, head: bytes = b"") -> Table:
    from astropy.io.registry import IORegistryError

    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".csv", ".csv.gz")):
        return Table.read(path, format="ascii.csv")
    if suffix.endswith((".h5", ".hdf5")):
        return Table.read(path, path="table") if _has_hdf5_path(path) else Table.read(path)
    if head.startswith(b"SIMPLE  =") or suffix.endswith(_FITS_SUFFIXES):
        from astropy.io import fits

        with fits.open(path) as hdul:  # a SExtractor FITS_LDAC file: the objects follow LDAC_IMHEAD
            try:
                ldac = hdul[1].name == "LDAC_IMHEAD"  # reads the headers up to HDU 1 only
            except IndexError:
                ldac = False
        return Table.read(path, hdu="LDAC_OBJECTS") if ldac else Table.read(path)
    try:
        return Table.read(path)
    except IORegistryError:
        if not _is_text(head):
            raise
    return Table.read(path, format="ascii")  # .txt, .dat, .cat (SExtractor ASCII_HEAD), ...: the format guessed


def _fits_shortfall(path: Path) -> tuple[int, int, str] | None:
    """``(bytes needed, bytes present, "header"/"data")`` when the FITS file is shorter than its headers say."""
    size = path.stat().st_size
    pos = 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            cards: dict[str, int] = {}
            blocks, ended = 0, False
            while not ended:
                block = fh.read(2880)
                if len(block) < 2880:
                    return pos + (blocks + 1) * 2880, size, "header"
                blocks += 1
                for i in range(0, 2880, 80):
                    key = block[i:i + 8].decode("ascii", "replace").strip()
                    if key == "END":
                        ended = True
                        break
                    if block[i + 8:i + 10] == b"= " and (key in ("BITPIX", "PCOUNT", "GCOUNT") or
                                                          key.startswith("NAXIS")):
                        try:
                            cards[key] = int(block[i + 10:i + 80].split(b"/")[0].strip())
                        except ValueError:
                            return None  # not a header this check understands: let astropy judge
            pos += blocks * 2880
            naxis = cards.get("NAXIS", 0)
            dims = [cards.get(f"NAXIS{k}", 0) for k in range(1, naxis + 1)]
            if dims and dims[0] == 0 and len(dims) > 1:
                dims = dims[1:]  # random groups
            nbytes = (abs(cards.get("BITPIX", 8)) // 8 * cards.get("GCOUNT", 1) *
                      (cards.get("PCOUNT", 0) + (math.prod(dims) if dims else 0)))
            if pos + nbytes > size:
                return pos + nbytes, size, "data"
            pos += -(-nbytes // 2880) * 2880
            fh.seek(pos)
            if fh.read(8) != b"XTENSION":
                break  # the end, or bytes after the last HDU: not a truncation
    return None


def _is_text(head: bytes) -> bool:
    if not head or b"\0" in head:
        return False
    text = head.decode("utf-8", "ignore")
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return printable >= 0.95 * len(text) and len(text) >= 0.9 * len(head)


def _first_line(head: bytes) -> str:
    for line in head.decode("utf-8", "replace").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 80 else line[:77] + "..."
    return ""


def looks_like_prose(table: Table) -> bool:
    """Whether a table read from text is rather a text: no rows, no header (astropy's ``col1, col2, ...``), or
    column names that are words of a sentence."""
    if len(table) == 0 or all(n == f"col{i + 1}" for i, n in enumerate(table.colnames)):
        return True
    return any(" " in n.strip() or n.rstrip().endswith(tuple(".,;:!?"))
                                 for n in table.colnames)


def _unreadable(path: Path, head: bytes, exc: Exception) -> str:
    """Why ``path`` gives no table, naming it."""
    name = repr(str(path))
    detail = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, EOFError) or "end-of-stream" in detail or "Compressed file ended" in detail:
        return (f"cannot read catalogue {name}: it is truncated: the compressed file ends early ({detail}); fetch or "
                "copy it again")
    suffix = "".join(path.suffixes[-2:]).lower()
    if head.startswith(b"SIMPLE  ="):
        if "No table found" in detail:
            return (f"cannot read catalogue {name}: it is a FITS file without a table HDU ({_hdu_summary(path)}); "
                    "a catalogue is a FITS binary or ASCII table")
        return f"cannot read catalogue {name}: it is a damaged FITS file: {type(exc).__name__}: {detail}"
    if suffix.endswith(_FITS_SUFFIXES) and not head.startswith(b"\x1f\x8b"):
        start = repr(_first_line(head)) if _is_text(head) else repr(head[:40])
        return (f"cannot read catalogue {name}: it is not a FITS file although its name says so: it starts with "
                f"{start} (an error page saved in its place?)")
    if _is_text(head):
        why = "" if "Unable to guess" in detail else f" ({type(exc).__name__}: {detail})"
        return (f"cannot read catalogue {name}: it is not a table: it is text in which astropy finds no table{why}; "
                f"its first line reads {_first_line(head)!r}. A catalogue is FITS, VOTable, ECSV, CSV or another "
                "ASCII table with a header line of column names, Parquet or HDF5")
    if type(exc).__name__ == "IORegistryError":
        return (f"cannot read catalogue {name}: it is not a table astropy can read: no format is recognised from "
                f"its name or content (binary, starting with {head[:16]!r})")
    return f"cannot read catalogue {name}: {type(exc).__name__}: {detail}"


def _hdu_summary(path: Path) -> str:
    try:
        from astropy.io import fits

        with fits.open(path) as hdul:
            return "HDUs: " + ", ".join(f"{h.name} {type(h).__name__}" for h in hdul)
    except Exception:  # the summary is only a hint
        return "no readable HDU"


def _has_hdf5_path(path: Path) -> bool:
    try:
        import h5py
    except ImportError:
        return False
    with h5py.File(path, "r") as fh:
        return "table" in fh
