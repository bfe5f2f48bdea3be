"""Streaming table writers: an output table written block by block, in constant memory, atomically.

Each block is an :class:`~astropy.table.Table` with the final column types (fixed string widths). It is
encoded by astropy's own writer for the format and the encoded rows are appended to the output, so the
file is exactly what ``Table.write`` would produce for the whole table — readable by ``Table.read`` — while
only one block is ever in memory:

- FITS: the binary-table header of the first block with ``NAXIS2`` set to the total, then each block's raw
  records; the file is padded to 2880 bytes.
- Parquet: one row group per block through :class:`pyarrow.parquet.ParquetWriter`, with the schema and
  astropy metadata of the first block.
- HDF5: the dataset of the first block, re-created with the total length via ``h5py``, filled slice by slice.
- ECSV: the header of the first block, then each block's data lines.
- VOTable: the XML of the first block (``BINARY2``, metadata as ``PARAM``) up to its ``STREAM`` element, then
  the base64 of each block's binary rows (carrying the bytes that do not fill a 3-byte group to the next
  block), then the closing elements.

FITS headers carry ``TCOMMn``/``TUCDn`` and ``LONGSTRN`` (:func:`galzoo_fm._utils.tableio.fits_header_fixups`).
Everything goes to a temporary file beside the output (created with the umask, named so that a later run
recognises it as debris: :mod:`galzoo_fm._utils.atomic`), renamed over it by :meth:`StreamingWriter.close`; opening a
writer removes the temporary files a killed writer of the same output left.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import MaskedColumn, Table

from galzoo_fm._utils.atomic import commit_temporary, remove_stale_temporaries, temporary_path
from galzoo_fm._utils.checks import OutputExistsError
from galzoo_fm._utils.tableio import fits_table_hdu, table_format, votable_of

__all__ = ["StreamingWriter", "write_table"]


def _arrow_column(block: Table, name: str, kind: Any) -> Any:
    """Column ``name`` of astropy's Parquet layout of ``block`` as an Arrow array of type ``kind``, or ``None``.

    The layout: each column's values (a masked column's raw data, plus a ``<name>.mask`` bool column),
    ``(N, D)`` columns as fixed-size lists. astropy's own writer turns an ``(N, D)`` column into ``N``
    one-row columns before building the list (seconds per 100k rows); this uses the flat buffer instead.
    """
    import pyarrow as pa

    if name not in block.colnames:
        base = name[: -len(".mask")]
        if name.endswith(".mask") and base in block.colnames and block[base].ndim == 1:
            return pa.array(np.ma.getmaskarray(block[base]), type=kind)
        return None
    column = block[name]
    data = np.asarray(column.data.data if isinstance(column, MaskedColumn) else column)
    if data.ndim == 1:
        return pa.array(data, type=kind)
    if data.ndim == 2 and pa.types.is_fixed_size_list(kind) and kind.list_size == data.shape[1]:
        flat = pa.array(np.ascontiguousarray(data).reshape(-1), type=kind.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, data.shape[1])
    return None


class StreamingWriter:
    """Write ``n_rows`` rows to ``path`` in blocks (format by extension).

    Parameters
    ----------
    path : str or path
        Output file (``.fits``, ``.parquet``, ``.h5``/``.hdf5``, ``.ecsv``, ``.vot``/``.xml``).
    n_rows : int
        Total rows that will be written.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from galzoo_fm._utils.writers import StreamingWriter
    >>> w = StreamingWriter(getfixture("tmp_path") / "t.fits", 4)
    >>> for start in (0, 2):
    ...     w.write(Table({"x": np.arange(start, start + 2), "v": np.ones((2, 3), "f4")}))
    >>> Table.read(w.close())["x"].tolist()
    [0, 1, 2, 3]
    """

    def __init__(self, path: str | Path, n_rows: int):
        self.path = Path(path)
        self.format = table_format(self.path)
        self.n_rows = int(n_rows)
        self.written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path.parent, self.path.name)
        self.tmp = temporary_path(self.path, self.path.suffix)
        self._state: Any = None
        self._scratch = self.tmp.with_name(self.tmp.name + ".block" + self.path.suffix)

    # ------------------------------------------------------------------ formats
    def _fits(self, block: Table) -> None:
        from astropy.io import fits

        buf = io.BytesIO()
        hdu = fits_table_hdu(block)
        fixed = hdu.header.copy()
        hdu.writeto(buf)
        raw = buf.getvalue()
        hdul = fits.HDUList.fromstring(raw)
        header = hdul[1].header
        start = len(fits.PrimaryHDU().header.tostring()) + len(header.tostring())
        nbytes = header["NAXIS1"] * header["NAXIS2"]
        if self._state is None:
            full = fixed  # the column descriptions in order (astropy's writer re-sorts the table keywords)
            full["NAXIS2"] = self.n_rows
            fh = open(self.tmp, "wb")
            fh.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
            fh.write(full.tostring().encode("ascii"))
            self._state = {"fh": fh, "naxis1": header["NAXIS1"], "bytes": 0}
        elif header["NAXIS1"] != self._state["naxis1"] or header.get("PCOUNT", 0):
            raise ValueError(f"block rows are {header['NAXIS1']} bytes, the table's {self._state['naxis1']}: "
                             "column types changed between blocks")
        self._state["fh"].write(raw[start:start + nbytes])
        self._state["bytes"] += nbytes

    def _fits_close(self) -> None:
        state = self._state
        pad = -state["bytes"] % 2880
        state["fh"].write(b"\0" * pad)
        state["fh"].close()

    def _parquet(self, block: Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._state is None:  # astropy encodes one row: the schema and its metadata (units, shapes, meta)
            sample = block[:1].copy()
            for col in sample.itercols():
                if isinstance(col, MaskedColumn) and col.ndim == 1:
                    col.mask[:] = True  # so that the schema has its "<name>.mask" column whatever row 0 holds
            sample.write(self._scratch, format="parquet", overwrite=True)
            self._state = pq.ParquetWriter(self.tmp, pq.read_schema(self._scratch))
        schema = self._state.schema
        arrays = [_arrow_column(block, name, schema.field(name).type) for name in schema.names]
        if any(a is None for a in arrays):  # >2-D columns and the like: astropy's own, slower, encoding
            block.write(self._scratch, format="parquet", overwrite=True)
            arrays = pq.read_table(self._scratch).columns
        self._state.write_table(pa.Table.from_arrays(arrays, schema=schema))

    def _hdf5(self, block: Table) -> None:
        import h5py

        block.write(self._scratch, format="hdf5", path="table", serialize_meta=True, overwrite=True)
        with h5py.File(self._scratch, "r") as src:
            data = src["table"][()]
            if self._state is None:
                fh = h5py.File(self.tmp, "w")
                dset = fh.create_dataset("table", shape=(self.n_rows,), dtype=data.dtype)
                for key, value in src["table"].attrs.items():
                    dset.attrs[key] = value
                for name in src:
                    if name != "table":
                        src.copy(src[name], fh, name=name)
                self._state = {"fh": fh, "dtype": data.dtype}
            elif data.dtype != self._state["dtype"]:
                raise ValueError(f"block dtype {data.dtype} differs from the table's {self._state['dtype']}")
            self._state["fh"]["table"][self.written:self.written + len(data)] = data

    def _ecsv(self, block: Table) -> None:
        buf = io.StringIO()
        block.write(buf, format="ascii.ecsv")
        text = buf.getvalue()
        if self._state is None:
            self._state = open(self.tmp, "w", encoding="utf-8")
            self._state.write(text)
            return
        lines = text.splitlines(keepends=True)
        body = [ln for ln in lines if not ln.startswith("#")][1:]  # drop the header and the column-name line
        self._state.writelines(body)

    _STREAM_OPEN, _STREAM_CLOSE = b'<STREAM encoding="base64">', b"</STREAM>"

    def _votable(self, block: Table) -> None:
        buf = io.BytesIO()
        votable_of(block).to_xml(buf)
        xml = buf.getvalue()
        start = xml.index(self._STREAM_OPEN) + len(self._STREAM_OPEN)
        stop = xml.index(self._STREAM_CLOSE, start)
        rows = base64.b64decode(xml[start:stop])
        if self._state is None:
            fh = open(self.tmp, "wb")
            fh.write(xml[:start] + b"\n")
            self._state = {"fh": fh, "carry": b"", "tail": xml[stop:], "head": xml[:xml.index(b"<DATA>")]}
        elif xml[:xml.index(b"<DATA>")] != self._state["head"]:
            raise ValueError("the block's VOTable fields differ from the table's: column types changed between "
                             "blocks")
        data = self._state["carry"] + rows
        whole = len(data) - len(data) % 3
        self._state["fh"].write(base64.encodebytes(data[:whole]))
        self._state["carry"] = data[whole:]

    def _votable_close(self) -> None:
        state = self._state
        if state["carry"]:
            state["fh"].write(base64.encodebytes(state["carry"]))
        state["fh"].write(state["tail"])
        state["fh"].close()

    # ------------------------------------------------------------------ API
    def write(self, block: Table) -> None:
        """Append ``block`` (same columns and types as every other block)."""
        if self.written + len(block) > self.n_rows:
            raise ValueError(f"{self.written + len(block)} rows written, more than the announced {self.n_rows}")
        {"fits": self._fits, "parquet": self._parquet, "hdf5": self._hdf5, "ascii.ecsv": self._ecsv,
         "votable": self._votable}[self.format](block)
        self.written += len(block)

    def close(self) -> Path:
        """Finish the file and rename it over :attr:`path`; returns the path."""
        try:
            if self.written != self.n_rows:
                raise ValueError(f"only {self.written} of {self.n_rows} rows were written")
            if self.format == "fits":
                self._fits_close()
            elif self.format == "votable":
                self._votable_close()
            elif self.format == "hdf5":
                self._state["fh"].close()
            elif self._state is not None:
                self._state.close()
            self._state = None
            commit_temporary(self.tmp, self.path, sync_dir=True)  # on disk before the rename makes it the output
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        """Discard the temporary files (the output is left as it was)."""
        state, self._state = self._state, None
        if state is not None:
            handle = state["fh"] if isinstance(state, dict) else state
            try:
                handle.close()
            except Exception:  # best effort while cleaning up
                pass
        for p in (self.tmp, self._scratch):
            if p.exists():
                p.unlink()


def write_table(table: Table, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``table`` to ``path`` atomically (a temporary file in the same folder, then a rename).

    Parameters
    ----------
    table : astropy.table.Table
        The table; multidimensional columns (e.g. an ``(N, D)`` embedding) are kept as such. Column
        descriptions, ``meta['ucd']`` and units are written in every format (see the module docstring).
    path : str or path
        Output file; its extension chooses the format (``.fits``, ``.ecsv``, ``.parquet``, ``.h5``,
        ``.vot``/``.xml``).
    overwrite : bool
        Replace an existing file; otherwise an existing file raises
        :class:`~galzoo_fm._utils.checks.OutputExistsError` (a ``FileExistsError``).
    """
    path = Path(path)
    table_format(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    writer = StreamingWriter(path, len(table))
    try:
        writer.write(table)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
