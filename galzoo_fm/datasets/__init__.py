"""Torch datasets for training: in-memory / memory-mapped arrays and the cutout store.

Every dataset here returns a whole *batch* from one ``dataset[indices]`` call (a dict of tensors), so a
:class:`torch.utils.data.DataLoader` built with ``batch_size=None`` and a sampler of index lists (see
:class:`galzoo_fm.training.sampling.ResumableBatchSampler`) reads one contiguous batch per item: the
cutout store groups such reads per chunk file, which is far faster than one image at a time.

* :class:`ArrayDataset` — images ``(N, C, H, W)`` from a NumPy array or a ``.npy`` file (memory-mapped),
  with optional vote counts ``(N, A)`` and labels ``(N,)`` / ``(N, k)``;
* :class:`CutoutStoreDataset` — the rows of a :class:`~galzoo_fm.store.CutoutStore` that have pixels,
  with votes taken from the catalogue through a schema (``{question}_{answer}`` columns);
* :func:`open_dataset` — either of them from a path and an optional catalogue.
"""

from __future__ import annotations

from .arrays import ArrayDataset, BatchDataset, BatchSubset
from .loading import open_dataset, table_targets
from .store import CutoutStoreDataset

__all__ = ["ArrayDataset", "BatchDataset", "BatchSubset", "CutoutStoreDataset", "open_dataset", "table_targets"]
