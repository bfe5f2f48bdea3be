"""Writing output tables atomically, in the format named by the file extension."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from astropy.table import Table

__all__ = ["FORMATS", "table_format", "write_table"]

#: File extension → astropy ``Table.write`` format, and the optional package it needs.
FORMATS: dict[str, tuple[str, str | None]] = {
    ".fits": ("fits", None),
    ".fit": ("fits", None),
    ".ecsv": ("ascii.ecsv", None),
    ".parquet": ("parquet", "pyarrow"),
    ".h5": ("hdf5", "h5py"),
    ".hdf5": ("hdf5", "h5py"),
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


def write_table(table: Table, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``table`` to ``path`` atomically (a temporary file in the same folder, then a rename).

    Parameters
    ----------
    table : astropy.table.Table
        The table; multidimensional columns (e.g. an ``(N, D)`` embedding) are kept as such.
    path : str or path
        Output file; its extension chooses the format (``.fits``, ``.ecsv``, ``.parquet``, ``.h5``).
    overwrite : bool
        Replace an existing file; otherwise an existing file raises ``FileExistsError``.
    """
    path = Path(path)
    fmt = table_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        kwargs = {"path": "table", "serialize_meta": True} if fmt == "hdf5" else {}
        table.write(tmp, format=fmt, overwrite=True, **kwargs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
