"""DistributedDataParallel set-up for runs launched by ``torchrun`` (one process per device)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..engine import select_device

__all__ = ["DistributedContext", "init_distributed"]


@dataclass
class DistributedContext:
    """Rank, world size and device of this process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """True on the process that writes logs, checkpoints and weights."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group ``torchrun`` set up (``WORLD_SIZE`` > 1), or run alone.

    NCCL on CUDA, gloo on CPU. Each process uses ``cuda:LOCAL_RANK`` when on CUDA.
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = select_device(device)
    if world <= 1:
        return DistributedContext(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return DistributedContext(rank, world, local_rank, device)
