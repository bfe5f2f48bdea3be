"""A resumable, distributed sampler of index batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler

__all__ = ["ResumableBatchSampler"]


class ResumableBatchSampler(torch.utils.data.Sampler):
    """Shuffled batches of dataset positions for one rank, restartable mid-epoch.

    Epoch ``e`` is the permutation :class:`torch.utils.data.DistributedSampler` draws with seed
    ``seed + e`` (identical on every rank), split between ranks and cut into batches of ``batch_size``
    (the per-rank batch); incomplete batches are dropped so that every rank takes the same number of
    equal steps. :meth:`set_position` skips the batches an interrupted run already consumed.

    Parameters
    ----------
    n : int
        Dataset length.
    batch_size : int
        Batch size on this rank.
    rank, world_size : int
    seed : int
    shuffle : bool

    Yields
    ------
    list of int
        Dataset positions of one batch.
    """

    def __init__(self, n: int, batch_size: int, *, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True):
        if batch_size * world_size > n:
            raise ValueError(
                f"the dataset has {n} galaxies, fewer than one global batch of {batch_size * world_size}; "
                "lower train.batch_size or add data"
            )
        self.inner = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                        drop_last=True)
        self.batch_size = int(batch_size)
        self.epoch = 0
        self.skip = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.inner) // self.batch_size

    def set_position(self, epoch: int, batches_done: int = 0) -> None:
        """Start at epoch ``epoch`` after its first ``batches_done`` batches."""
        self.epoch = int(epoch)
        self.skip = int(batches_done)
        self.inner.set_epoch(self.epoch)

    def __iter__(self) -> Iterator[list[int]]:
        positions = list(self.inner)
        start, self.skip = self.skip, 0
        for b in range(start, len(self)):
            yield positions[b * self.batch_size:(b + 1) * self.batch_size]
