"""Several training processes under ``torchrun``; a no-op in a single process."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from smm.metrics import ABAWMetrics


class Processes:
    """Rank, world size and device of this process.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group: NCCL on CUDA, Gloo on
    CPU. Each process then takes every ``world``-th sample of each step's batches, DDP averages
    the gradients, validation is split between the processes and merged, and only rank 0
    writes files.
    """

    def __init__(self, device: str = "auto") -> None:
        from smm.runtime import resolve_device

        self.enabled = int(os.environ.get("WORLD_SIZE", "1")) > 1
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if self.enabled and device in ("auto", "cuda") and torch.cuda.is_available():
            device = f"cuda:{local}"  # one GPU per process
        self.device = resolve_device(device)
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.rank = dist.get_rank() if self.enabled else 0
        self.world = dist.get_world_size() if self.enabled else 1
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the process that writes files."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order (``[value]`` in a single process)."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` in every process."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box)
        return box[0]

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds in every process."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([0.0 if flag else 1.0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(tensor)
        return bool(tensor.item() == 0)

    def merge(self, metric: ABAWMetrics) -> ABAWMetrics:
        """Every process's accumulated measures combined (exactly those of all the data): :meth:`ABAWMetrics.sync`."""
        return metric.sync() if self.enabled else metric

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
