"""Process-group set-up for ``torchrun`` (DDP), device choice, and rank-0 helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "all_gather_objects", "barrier", "init_distributed", "resolve_device"]


@dataclass
class DistInfo:
    """Where this process runs.

    Attributes
    ----------
    rank, world_size, local_rank : int
        From the ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` variables that ``torchrun`` sets (0, 1, 0 alone).
    device : torch.device
    initialized_here : bool
        This call created the process group (and :meth:`close` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    def close(self) -> None:
        """Destroy the process group if :func:`init_distributed` created it."""
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()
            self.initialized_here = False


def resolve_device(preference: str | None, local_rank: int = 0) -> torch.device:
    """``"auto"``/``None`` → ``cuda:<local_rank>`` when CUDA is available, else CPU; otherwise as given."""
    if preference in (None, "auto"):
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device = {preference!r} but CUDA is not available on this machine")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device: str | None = "auto") -> DistInfo:
    """Join the process group described by ``torchrun``'s environment variables, if any.

    Uses NCCL on CUDA and gloo on the CPU. A process group that already exists (e.g. created by the
    caller) is used as it is. Without ``WORLD_SIZE`` > 1 this is a single process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        return DistInfo(rank, world, local, resolve_device(device, local), False)
    if world <= 1:
        return DistInfo(device=resolve_device(device, 0))
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistInfo(rank, world, local, dev, True)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op alone)."""
    if info.distributed:
        dist.barrier()


def all_gather_objects(info: DistInfo, obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order (``[obj]`` alone). In-memory only: nothing read from files."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
