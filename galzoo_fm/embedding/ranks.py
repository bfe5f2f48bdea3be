"""Scale-out: which part of the catalogue this process embeds, under ``torchrun`` or alone.

``torchrun --nproc-per-node N galzoo-fm embed ...`` (and multi-node ``torchrun --nnodes M ...``) starts one
process per GPU with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each rank fetches its share of the
catalogue into its own part of the cutout store and embeds a contiguous run of blocks; a gloo process
group (it works with or without GPUs) only provides barriers between the phases. All ranks must see the
same output folder (a shared file system across nodes).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch

__all__ = ["Ranks", "rank_blocks"]

_TIMEOUT = datetime.timedelta(hours=48)  # a barrier may wait for the slowest rank's whole download


@dataclass
class Ranks:
    """This process's place in a distributed run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @classmethod
    def from_env(cls) -> Ranks:
        """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (a single process when unset)."""
        try:
            rank = int(os.environ.get("RANK", "0"))
            world = int(os.environ.get("WORLD_SIZE", "1"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {exc}") from None
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world}")
        return cls(rank, world, local)

    def start(self) -> None:
        """Join (or create) the gloo process group used for barriers, when there are several ranks."""
        import torch.distributed as dist

        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("gloo", timeout=_TIMEOUT)
            self.owns_group = True

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Leave the process group if :meth:`start` created it."""
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.owns_group = False

    def device(self, device: str | torch.device | None) -> str | torch.device | None:
        """``device``, or this rank's own GPU (``cuda:LOCAL_RANK``) when none is given and CUDA exists."""
        if device is None and torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return device

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(rank, world)`` for the fetch engine, ``None`` for a single process."""
        return (self.rank, self.world) if self.world > 1 else None


def rank_blocks(n_blocks: int, rank: int, world: int) -> range:
    """The contiguous blocks of ``rank`` among ``world`` (every block belongs to exactly one rank)."""
    return range(rank * n_blocks // world, (rank + 1) * n_blocks // world)
