"""A bounded, thread-safe LRU of open FITS files, read by pixel section.

Files open on first use and close when more than ``max_open`` are open (least recently used first); a file
another thread is reading from stays open until that read ends. Uncompressed, unscaled images are read
through a memory map; tile-compressed (fpack ``.fits.fz``) and scaled (``BSCALE``/``BZERO``) images through
astropy's ``section``, which decompresses only the compression tiles under the cutout.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from astropy.io import fits

__all__ = ["OpenFiles"]


class _Entry:
    __slots__ = ("evicted", "hdul", "lock", "sources", "users")

    def __init__(self, hdul: fits.HDUList):
        self.hdul = hdul
        self.users = 0
        self.evicted = False
        self.sources: dict[int, Any] = {}
        self.lock = threading.Lock()  # section reads move the file position: one at a time per file

    def read(self, hdu: int, plane: int, ys: slice, xs: slice) -> np.ndarray:
        """The pixels ``[ys, xs]`` of ``hdu`` (plane ``plane`` of a cube; -1 for a 2-D image)."""
        with self.lock:
            src = self.sources.get(hdu)
            if src is None:
                h = self.hdul[hdu]
                scaled = h.header.get("BSCALE", 1) != 1 or h.header.get("BZERO", 0) != 0
                src = h.section if isinstance(h, fits.CompImageHDU) or scaled else h.data
                self.sources[hdu] = src
            if not isinstance(src, np.ndarray):
                return np.asarray(src[ys, xs] if plane < 0 else src[plane, ys, xs])
        return src[ys, xs] if plane < 0 else src[plane, ys, xs]  # a memory map: slicing needs no lock

    def header(self, hdu: int) -> fits.Header:
        with self.lock:
            return self.hdul[hdu].header


class OpenFiles:
    """At most ``max_open`` open FITS files (more only while all of them are being read).

    Parameters
    ----------
    max_open : int
        How many files stay open.

    Attributes
    ----------
    opened : int
        Files opened so far (a file opened again after its eviction counts again).
    """

    def __init__(self, max_open: int):
        if max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {max_open}")
        self.max_open = max_open
        self.opened = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def use(self, path: str) -> Iterator[_Entry]:
        """The open file ``path``, held open for the ``with`` block."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None:
                self._entries.move_to_end(path)
                entry.users += 1
        if entry is None:
            hdul = fits.open(path, memmap=True, lazy_load_hdus=True)
            with self._lock:
                entry = self._entries.get(path)
                if entry is None:
                    entry = self._entries[path] = _Entry(hdul)
                    self.opened += 1
                    hdul = None
                else:
                    self._entries.move_to_end(path)
                entry.users += 1
                self._evict()
            if hdul is not None:  # another thread opened it meanwhile
                hdul.close()
        try:
            yield entry
        finally:
            with self._lock:
                entry.users -= 1
                close = entry.evicted and entry.users == 0
            if close:
                entry.hdul.close()

    def _evict(self) -> None:
        """Drop least recently used entries beyond ``max_open`` (under the lock)."""
        excess = len(self._entries) - self.max_open
        for path in list(self._entries):
            if excess <= 0:
                break
            entry = self._entries[path]
            if entry.users:
                continue
            del self._entries[path]
            entry.evicted = True
            entry.hdul.close()
            excess -= 1

    def close(self) -> None:
        """Close every file not being read (those being read close when their read ends)."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            for entry in entries:
                entry.evicted = True
            idle = [e for e in entries if not e.users]
        for entry in idle:
            entry.hdul.close()
