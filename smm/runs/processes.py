"""Several processes under ``torchrun`` (training and prediction), and a fair share of the work for each.

In a single process every method is a no-op. Under ``torchrun --nproc_per_node=N`` (or several
machines through torchrun's rendezvous) :class:`Processes` joins the process group, and
:func:`share` splits the inputs between the processes by their size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from smm.metrics import ABAWMetrics


class Processes:
    """Rank, world size and device of this process.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group: NCCL on CUDA, Gloo on
    CPU. In training each process then takes every ``world``-th sample of each step's batches,
    DDP averages the gradients, validation is split between the processes and merged; in
    prediction each takes its :func:`share` of the inputs. Only rank 0 writes shared files.

    Parameters
    ----------
    device : str, default "auto"
        ``"auto"`` or ``"cuda"``: the process's own GPU (``cuda:LOCAL_RANK``) under torchrun
        where CUDA is available; else the device it names (:func:`smm.inference.runtime.resolve_device`).
    """

    def __init__(self, device: str = "auto") -> None:
        from smm.inference.runtime import resolve_device

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


def share(sizes: Sequence[int], world: int) -> list[list[int]]:
    """Split items of the given sizes (frames) between ``world`` processes, each load as even as can be.

    The largest items first, each to the process with the least work so far (ties: the lower
    rank); every process computes the same split from the same sizes.

    Parameters
    ----------
    sizes : sequence of int
        The work of each item, e.g. its frame count.
    world : int
        Processes.

    Returns
    -------
    list of list of int
        ``world`` lists of item indices, each in input order.
    """
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise ValueError(f"world must be a positive integer, got {world!r}")
    if any(size < 0 for size in sizes):
        raise ValueError(f"sizes must be >= 0, got {min(sizes)}")
    loads = [0] * world
    shares: list[list[int]] = [[] for _ in range(world)]
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        rank = min(range(world), key=lambda r: (loads[r], r))
        loads[rank] += sizes[index]
        shares[rank].append(index)
    return [sorted(indices) for indices in shares]


__all__ = ["Processes", "share"]
