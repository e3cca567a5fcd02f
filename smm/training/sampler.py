"""One batch per task per step, as the published training draws them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch


class TaskBatchSampler:
    """Indices of one batch per task for every training step, reproducible from ``(seed, step)``.

    The published scheme: the task datasets are aligned to the largest one (a smaller set is
    repeated, index ``i`` reading item ``i mod len``); each epoch takes one of ``splits``
    strided subsets of the indices (``r, r + splits, ...``, ``r`` at random) in a random
    order, and cuts it into batches of ``batch_size`` (the last partial batch is dropped).
    Every task's batch of a step uses the same indices.

    Unlike a ``DataLoader`` sampler, :meth:`step` gives the batch of any step directly, so a
    resumed run draws exactly the batches an uninterrupted one would have.

    Parameters
    ----------
    lengths : mapping
        ``{task: dataset length}``, e.g. ``{"AU": 1000, "EXPR": 400, "VA": 800}``.
    batch_size : int
        Per task (published: 24).
    splits : int, default 8
        Each epoch sees ``1/splits`` of the largest dataset (published: 8).
    seed : int, default 0
    """

    def __init__(self, lengths: Mapping[str, int], batch_size: int, *, splits: int = 8, seed: int = 0) -> None:
        if not lengths or any(n < 1 for n in lengths.values()):
            raise ValueError(f"every task needs at least one sample, got lengths {dict(lengths)}")
        if batch_size < 1 or splits < 1:
            raise ValueError(f"batch_size and splits must be >= 1, got {batch_size} and {splits}")
        self.lengths = dict(lengths)
        self.batch_size, self.splits, self.seed = batch_size, splits, seed
        self.reference = max(self.lengths.values())
        self.steps_per_epoch = len(range(0, self.reference, splits)) // batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"an epoch has no full batch: the largest task has {self.reference} samples, "
                f"1/{splits} of them is fewer than batch_size={batch_size}; lower batch_size or splits"
            )

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        start = int(torch.randint(self.splits, (1,), generator=generator))
        indices = torch.arange(start, self.reference, self.splits)
        return indices[torch.randperm(len(indices), generator=generator)]

    def step(self, step: int) -> dict[str, list[int]]:
        """``{task: indices}`` of step ``step`` (0-based)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = self._epoch_order(epoch)[position * self.batch_size : (position + 1) * self.batch_size]
        return {task: (order % length).tolist() for task, length in self.lengths.items()}

    def __iter__(self) -> Iterator[dict[str, list[int]]]:
        step = 0
        while True:
            yield self.step(step)
            step += 1
