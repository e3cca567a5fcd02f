"""Training recipes: the published ABAW3 setup and a one-minute CPU demo."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run except the data and the output folder.

    Attributes
    ----------
    name : str
    model : str
        Registry name (:func:`smm.list_models`).
    image_size : int
        Input side; recorded in the model's config.
    batch_size : int
        Per task and step (three batches per step).
    steps : int
        Optimiser steps.
    lr : float
        SGD learning rate.
    momentum : float
        SGD momentum.
    weight_decay : float
        SGD weight decay.
    schedule : {"published", "cosine"}
        ``"published"``: ``CosineAnnealingLR(T_max=1e4)`` per step (periodic);
        ``"cosine"``: one annealing over ``steps``.
    splits : int
        Each sampler epoch sees ``1/splits`` of the largest task set (published 8).
    forward : {"per-task", "concatenated"}
        ``"per-task"`` (published): three forward passes per step, so BatchNorm normalises
        each task's batch with its own statistics; ``"concatenated"``: one pass over the
        three batches together (faster; BatchNorm statistics are shared, and the CCC of a
        step still only sees the VA batch).
    color_jitter : 4 floats or None
        Brightness, contrast, saturation, hue of the training augmentation.
    hflip : float
        Probability of a horizontal flip.
    loss_weights : {"published", "data"}
        ``"published"``: the published pos_weight and class weights (computed on the
        training and validation annotations together); ``"data"``: computed from the
        training annotations given.
    va_correction : int
        CCC statistics of the VA loss: 1 unbiased (published), 0 population.
    val_every : int
        Validate every that many steps (and at the end).
    save_every : int
        Save the resume state every that many steps (and at the end).
    """

    name: str
    model: str
    image_size: int
    batch_size: int
    steps: int
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: Literal["published", "cosine"] = "published"
    splits: int = 8
    forward: Literal["per-task", "concatenated"] = "per-task"
    color_jitter: tuple[float, float, float, float] | None = (0.4, 0.4, 0.4, 0.1)
    hflip: float = 0.5
    loss_weights: Literal["published", "data"] = "published"
    va_correction: int = 1
    val_every: int = 5000
    save_every: int = 1000

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


#: The published ABAW3 setup: InceptionV3 to Mixed_6e at 299x299, 24 images per task and
#: step, SGD(lr 1e-3, momentum 0.9), CosineAnnealingLR(T_max=1e4) per step, up to 6e5 steps.
ABAW3_RECIPE = Recipe(name="abaw3", model="smm_abaw3", image_size=299, batch_size=24, steps=600_000)

#: A CPU demo that learns every task within about a minute on synthetic data.
DEMO_RECIPE = Recipe(
    name="demo",
    model="smm_resnet18",
    image_size=64,
    batch_size=16,
    steps=150,
    lr=0.02,
    schedule="cosine",
    splits=1,
    color_jitter=None,
    hflip=0.0,  # the synthetic AU labels are not mirror-symmetric
    loss_weights="data",
    va_correction=0,
    val_every=50,
    save_every=25,
)

#: The recipes by name, as ``smm-emotionnet train --recipe NAME`` takes them.
RECIPES = {recipe.name: recipe for recipe in (ABAW3_RECIPE, DEMO_RECIPE)}
