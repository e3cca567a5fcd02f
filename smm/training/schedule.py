"""Learning-rate schedules: the published one, exactly, and a single cosine annealing."""

from __future__ import annotations

import torch

#: ``T_max`` of the published ``CosineAnnealingLR``, stepped once per iteration.
PUBLISHED_T_MAX = 10_000


def published_schedule(
    optimizer: torch.optim.Optimizer, t_max: int = PUBLISHED_T_MAX
) -> torch.optim.lr_scheduler.LRScheduler:
    """The published schedule: ``CosineAnnealingLR(T_max=1e4)`` stepped every iteration.

    Run for more than ``t_max`` steps (the published training ran up to 6e5), PyTorch's
    closed form makes the learning rate fall to 0 at step 1e4, rise back to the initial
    value at 2e4, and so on: a cosine with a 2e4-step period, not one annealing.
    """
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max)


def cosine_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, *, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LRScheduler:
    """One cosine annealing to 0 over ``total_steps``, after an optional linear warm-up."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    anneal = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    if warmup_steps <= 0:
        return anneal
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup_steps + 1), total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, anneal], milestones=[warmup_steps])
