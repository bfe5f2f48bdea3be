"""Torch datasets for training: in-memory / memory-mapped arrays and the cutout store.

Every dataset here returns a whole *batch* from one ``dataset[indices]`` call (a dict of tensors), so a
:class:`torch.utils.data.DataLoader` built with ``batch_size=None`` and a sampler of index lists (see
``galzoo_fm.training.sampling.ResumableBatchSampler``) reads one contiguous batch per item: the
cutout store groups such reads per chunk file, which is far faster than one image at a time.

* :class:`ArrayDataset` — images ``(N, C, H, W)`` from a NumPy array or a ``.npy`` file (memory-mapped),
  with optional vote counts ``(N, A)`` and labels ``(N,)`` / ``(N, k)``;
* :class:`CutoutStoreDataset` — the rows of a :class:`~galzoo_fm.store.CutoutStore` that have pixels,
  with votes taken from the catalogue through a schema (``{question}_{answer}`` columns);
* :func:`open_dataset` — either of them from a path and an optional catalogue.
* :func:`synthetic_dataset` — simulated galaxies (:mod:`galzoo_fm.datasets.sim`) with their votes.
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

# imported on first use: ArrayDataset imports torch
_WHERE = {
    "ArrayDataset": "arrays",
    "BatchDataset": "arrays",
    "BatchSubset": "arrays",
    "CutoutStoreDataset": "store",
    "open_dataset": "loading",
    "synthetic_dataset": "synthetic",
    "table_targets": "loading",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
