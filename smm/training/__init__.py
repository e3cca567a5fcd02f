"""The published training recipe as public pieces: transforms, per-task batches, schedules, a resumable loop.

Use the pieces in your own loop, or run :func:`train` (``smm-emotionnet train``). Names are
imported on first use, so ``smm.training.recipes`` is readable without torch (the command
line's help lists the recipes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smm._lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "TrainingError": "smm.training.loop",
    "TrainResult": "smm.training.loop",
    "describe": "smm.training.loop",
    "find_affwild2": "smm.training.loop",
    "train": "smm.training.loop",
    "validate": "smm.training.loop",
    "ABAW3_RECIPE": "smm.training.recipes",
    "DEMO_RECIPE": "smm.training.recipes",
    "RECIPES": "smm.training.recipes",
    "Recipe": "smm.training.recipes",
    "TaskBatchSampler": "smm.training.sampler",
    "cosine_schedule": "smm.training.schedule",
    "published_schedule": "smm.training.schedule",
    "eval_transform": "smm.training.transforms",
    "train_transform": "smm.training.transforms",
}

if TYPE_CHECKING:
    from smm.training.loop import TrainingError, TrainResult, describe, find_affwild2, train, validate
    from smm.training.recipes import ABAW3_RECIPE, DEMO_RECIPE, RECIPES, Recipe
    from smm.training.sampler import TaskBatchSampler
    from smm.training.schedule import cosine_schedule, published_schedule
    from smm.training.transforms import eval_transform, train_transform


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "ABAW3_RECIPE",
    "DEMO_RECIPE",
    "RECIPES",
    "Recipe",
    "TaskBatchSampler",
    "TrainResult",
    "TrainingError",
    "cosine_schedule",
    "describe",
    "eval_transform",
    "find_affwild2",
    "published_schedule",
    "train",
    "train_transform",
    "validate",
]
