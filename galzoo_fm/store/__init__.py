"""The cutout store: a resumable, memory-mappable folder of cutouts and their per-row status.

* ``writer`` — :func:`ensure_manifest` and :class:`StoreWriter` (atomic chunk commits,
  resumable);
* ``reader`` — :class:`CutoutStore` (random access for training, sequential for
  embedding; pixels, WCS, status, provenance);
* ``index`` — :class:`StoreIndex` (which rows are done, for resume; lean, for embedding);
* ``layout`` — what they share: file names, the manifest, the WCS columns, and the one rule
  that resolves rows recorded twice.
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

_WHERE = {
    "CutoutStore": "reader",
    "StoreIndex": "index",
    "StoreWriter": "writer",
    "ensure_manifest": "writer",
    "read_manifest": "layout",
    "wcs_from_row": "layout",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
