"""The cutout store: a resumable, memory-mappable folder of cutouts and their per-row status.

* :mod:`~galzoo_fm.store.writer` — :class:`StoreWriter` (atomic chunk commits, resumable);
* :mod:`~galzoo_fm.store.reader` — :class:`CutoutStore` (random access for training, sequential for
  embedding; pixels, WCS, status, provenance);
* :mod:`~galzoo_fm.store.index` — :class:`StoreIndex` (which rows are done, for resume).
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

_WHERE = {
    "CutoutStore": "reader",
    "StoreIndex": "index",
    "StoreWriter": "reader",
    "read_manifest": "reader",
    "wcs_from_row": "reader",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
