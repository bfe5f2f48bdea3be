"""Torch datasets for training: in-memory / memory-mapped arrays and the cutout store.

Every dataset here returns a whole *batch* from one ``dataset[indices]`` call (a dict of tensors), so a
:class:`torch.utils.data.DataLoader` built with ``batch_size=None`` and a sampler of index lists (see
:class:`galzoo_fm.training.sampling.ResumableBatchSampler`) reads one contiguous batch per item: the
cutout store groups such reads per chunk file, which is far faster than one image at a time.

* :class:`ArrayDataset` — images ``(N, C, H, W)`` from a NumPy array or a ``.npy`` file (memory-mapped),
  with optional vote counts ``(N, A)`` and labels ``(N,)`` / ``(N, k)``;
* :class:`CutoutStoreDataset` — the rows of a :class:`~galzoo_fm.store.CutoutStore` that have pixels,
  with votes taken from the catalogue through a schema (``{question}_{answer}`` columns);
* :func:`open_dataset` — either of them from a path and an optional catalogue;
* a simulated Galaxy Zoo (:mod:`galzoo_fm.datasets.synthetic`, :mod:`~galzoo_fm.datasets.votesim`):
  galaxies of known morphology rendered with GalSim and simulated volunteer votes from several campaigns.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# imported on first use: the built-in dataset plugin (galzoo_fm.datasets.public.builtin) loads with every
# ``galzoo-fm`` command, and ArrayDataset imports torch
_WHERE = {
    "ArrayDataset": "arrays",
    "BatchDataset": "arrays",
    "BatchSubset": "arrays",
    "Campaign": "votesim",
    "CutoutStoreDataset": "store",
    "DEFAULT_CAMPAIGNS": "votesim",
    "SimulationConfig": "synthetic",
    "answer_probabilities": "votesim",
    "draw_truth": "simtruth",
    "open_dataset": "loading",
    "plot_classes": "simplots",
    "simulate_catalog": "synthetic",
    "simulate_images": "synthetic",
    "simulate_votes": "votesim",
    "synthetic_dataset": "synthetic",
    "table_targets": "loading",
    "write_synthetic": "synthetic",
}

__all__ = [
    "DEFAULT_CAMPAIGNS",
    "ArrayDataset",
    "BatchDataset",
    "BatchSubset",
    "Campaign",
    "CutoutStoreDataset",
    "SimulationConfig",
    "answer_probabilities",
    "draw_truth",
    "open_dataset",
    "plot_classes",
    "simulate_catalog",
    "simulate_images",
    "simulate_votes",
    "synthetic_dataset",
    "table_targets",
    "write_synthetic",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
