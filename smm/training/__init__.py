"""The published training recipe as public pieces: transforms, per-task batches, schedules, a resumable loop.

Use the pieces in your own loop, or run :func:`train` (``smm-emotionnet train``). Names are
imported on first use, so ``smm.training.recipes`` is readable without torch (the command
line's help lists the recipes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smm._lazy import lazy_exports

if TYPE_CHECKING:
    from smm.training.loop import TrainingError, TrainResult, describe, find_affwild2, train, validate
    from smm.training.recipes import ABAW3_RECIPE, DEMO_RECIPE, RECIPES, Recipe
    from smm.training.sampler import TaskBatchSampler
    from smm.training.schedule import cosine_schedule, published_schedule
    from smm.training.transforms import eval_transform, train_transform


__getattr__, __dir__, __all__ = lazy_exports(__name__)
