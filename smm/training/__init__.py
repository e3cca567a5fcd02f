"""The published training recipe as public pieces: transforms, per-task batches, schedules, a resumable loop.

Use the pieces in your own loop, or run :func:`train` (``smm-emotionnet train``).
"""

from __future__ import annotations

from smm.training.loop import TrainingError, TrainResult, describe, find_affwild2, train, validate
from smm.training.recipes import ABAW3_RECIPE, DEMO_RECIPE, RECIPES, Recipe
from smm.training.sampler import TaskBatchSampler
from smm.training.schedule import cosine_schedule, published_schedule
from smm.training.transforms import eval_transform, train_transform

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
