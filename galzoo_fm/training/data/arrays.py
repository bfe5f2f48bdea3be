"""Batch datasets over arrays: images ``(N, C, H, W)`` with optional vote counts and labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["ArrayDataset", "BatchDataset", "BatchSubset"]


def _as_index(indices: Any, n: int) -> tuple[np.ndarray, bool]:
    """``(int64 positions, single)`` from an int, a slice, a sequence or an array of positions."""
    if isinstance(indices, int | np.integer) and not isinstance(indices, bool):
        idx, single = np.array([int(indices)], dtype=np.int64), True
    elif isinstance(indices, slice):
        idx, single = np.arange(n)[indices], False
    else:
        idx, single = np.asarray(indices, dtype=np.int64).reshape(-1), False
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index out of range for a dataset of {n} galaxies")
    return np.where(idx < 0, idx + n, idx), single


class BatchDataset(Dataset):
    """Base class: ``dataset[indices]`` gives one batch as a dict of tensors.

    Keys of a batch: ``"images"`` ``(n, C, H, W)`` float32; ``"index"`` ``(n,)`` int64 positions in the
    dataset; ``"votes"`` ``(n, A)`` float32 when the dataset has votes; ``"labels"`` ``(n,)`` int64 or
    ``(n, k)`` float32 when it has labels. An integer index gives one galaxy without the batch dimension.

    Subclasses implement :meth:`read_images`.

    Parameters
    ----------
    n : int
        Number of galaxies.
    votes : numpy.ndarray, optional
        ``(n, A)`` vote counts (zeros for unlabelled galaxies).
    labels : numpy.ndarray, optional
        ``(n,)`` integer class labels or ``(n,)`` / ``(n, k)`` float regression targets.
    """

    def __init__(self, n: int, *, votes: np.ndarray | None = None, labels: np.ndarray | None = None):
        self._n = int(n)
        self.votes = None if votes is None else self._check_rows(np.asarray(votes, dtype=np.float32), "votes", 2)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.dtype.kind not in "iufb":
                raise TypeError(f"labels must be integers (classes) or floats (regression), got dtype {labels.dtype}")
            labels = labels.astype(np.int64 if labels.dtype.kind in "iub" else np.float32)
            labels = self._check_rows(labels, "labels", None)
        self.labels = labels

    def _check_rows(self, array: np.ndarray, what: str, ndim: int | None) -> np.ndarray:
        if array.shape[:1] != (self._n,) or (ndim is not None and array.ndim != ndim):
            shape = f"({self._n}, ...)" if ndim is None else f"({self._n}, A)"
            raise ValueError(f"{what} must have shape {shape}, one row per image; got {array.shape}")
        if what == "votes" and not (np.all(np.isfinite(array)) and np.all(array >= 0)):
            raise ValueError("votes must be finite, non-negative counts (store 0 votes for unanswered questions)")
        return array

    def __len__(self) -> int:
        return self._n

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        raise NotImplementedError

    @property
    def n_labelled(self) -> int:
        """Galaxies with at least one vote (0 without votes)."""
        return 0 if self.votes is None else int((self.votes.sum(1) > 0).sum())

    def read_images(self, positions: np.ndarray) -> np.ndarray:
        """Pixels ``(n, C, H, W)`` of dataset positions ``positions`` (implemented by subclasses)."""
        raise NotImplementedError

    def __getitem__(self, indices: int | Sequence[int] | np.ndarray | slice) -> dict[str, torch.Tensor]:
        idx, single = _as_index(indices, self._n)
        images = np.asarray(self.read_images(idx), dtype=np.float32)
        if not images.flags.writeable or not images.flags.c_contiguous:  # e.g. a read-only memory map
            images = np.array(images, dtype=np.float32, order="C")
        batch = {"images": torch.from_numpy(images), "index": torch.from_numpy(idx)}
        if self.votes is not None:
            batch["votes"] = torch.from_numpy(self.votes[idx])
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[idx])
        return {k: v[0] for k, v in batch.items()} if single else batch


class ArrayDataset(BatchDataset):
    """Images from a NumPy array or a ``.npy`` file (memory-mapped, never fully loaded).

    Parameters
    ----------
    images : numpy.ndarray, torch.Tensor, str or path
        ``(N, C, H, W)`` images, any real dtype (read as float32), or a ``.npy`` file holding them.
    votes : numpy.ndarray, optional
        ``(N, A)`` vote counts in a schema's column order; zeros for unlabelled galaxies.
    labels : numpy.ndarray, optional
        ``(N,)`` integer classes, or ``(N,)`` / ``(N, k)`` float targets.

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm.training.data import ArrayDataset
    >>> ds = ArrayDataset(np.zeros((10, 3, 8, 8)), labels=np.arange(10) % 2)
    >>> batch = ds[[0, 3]]
    >>> batch["images"].shape, batch["labels"].tolist()
    (torch.Size([2, 3, 8, 8]), [0, 1])
    """

    def __init__(self, images: Any, *, votes: np.ndarray | None = None, labels: np.ndarray | None = None):
        self.source: str | None = None
        if isinstance(images, str | Path):
            path = Path(images)
            if path.suffix.lower() != ".npy" or not path.is_file():
                raise ValueError(f"images file {str(path)!r} must be an existing .npy file of shape (N, C, H, W)")
            try:
                images = np.load(path, mmap_mode="r", allow_pickle=False)
            except ValueError as exc:
                raise ValueError(f"cannot read {str(path)!r} as a .npy array: {exc}") from None
            self.source = str(path)
        elif isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        images = images if isinstance(images, np.ndarray) else np.asarray(images)
        if images.ndim != 4 or images.dtype.kind not in "iuf":
            where = f" in {self.source!r}" if self.source else ""
            raise ValueError(f"images{where} must be a real array of shape (N, C, H, W), got {images.shape} "
                             f"{images.dtype}")
        self.images = images
        super().__init__(len(images), votes=votes, labels=labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])

    def read_images(self, positions: np.ndarray) -> np.ndarray:
        if positions.size > 1 and np.all(np.diff(positions) == 1):
            return np.array(self.images[positions[0]:positions[-1] + 1], dtype=np.float32)  # slab: one copy
        order = np.argsort(positions, kind="stable")
        out = np.empty((len(positions), *self.images.shape[1:]), np.float32)
        out[order] = self.images[positions[order]]
        return out


class BatchSubset(BatchDataset):
    """The galaxies of ``dataset`` at ``positions`` (e.g. a training or validation split).

    The batch key ``"index"`` still holds positions in the *parent* dataset.
    """

    def __init__(self, dataset: BatchDataset, positions: np.ndarray):
        self.parent = dataset
        self.positions = np.asarray(positions, dtype=np.int64)
        if self.positions.size and (self.positions.min() < 0 or self.positions.max() >= len(dataset)):
            raise IndexError(f"subset positions out of range for a dataset of {len(dataset)} galaxies")
        super().__init__(len(self.positions))
        self.votes = None if dataset.votes is None else dataset.votes[self.positions]
        self.labels = None if dataset.labels is None else dataset.labels[self.positions]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.parent.image_shape

    def read_images(self, positions: np.ndarray) -> np.ndarray:
        return self.parent.read_images(self.positions[positions])

    def __getitem__(self, indices: int | Sequence[int] | np.ndarray | slice) -> dict[str, torch.Tensor]:
        batch = super().__getitem__(indices)
        batch["index"] = torch.as_tensor(self.positions[batch["index"].numpy()])
        return batch
