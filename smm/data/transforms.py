"""Image transforms that follow a model's preprocessing (its ``data_config``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from PIL import Image

from smm.models.config import ABAW3


class _Transform:
    """A timm eval transform that first converts the image to the model's channels (picklable)."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor], mode: str) -> None:
        self.transform, self.mode = transform, mode

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image.convert(self.mode) if image.mode != self.mode else image)

    def __repr__(self) -> str:
        return f"eval_transform(mode={self.mode!r}, {self.transform!r})"


def eval_transform(
    data_config: Mapping[str, Any] | None = None, **overrides: Any
) -> Callable[[Image.Image], torch.Tensor]:
    """The evaluation transform of a model: PIL face crop -> normalised ``Tensor[C, H, W]``.

    Built with ``timm.data.create_transform`` from the model's preprocessing, so it is the
    transform the model was trained with: ``eval_transform(model.data_config)``. With the
    ABAW3 config it is the published one: resize to 299x299 (bilinear, aspect ratio not
    kept), ImageNet mean and standard deviation.

    Parameters
    ----------
    data_config : mapping, optional
        ``model.data_config`` (``input_size``, ``mean``, ``std``, ``interpolation``,
        ``crop_pct``, ``crop_mode``); default the ABAW3 model's.
    **overrides
        Replace entries, e.g. ``input_size=(3, 96, 96)``.
    """
    import timm.data

    config = {**ABAW3.data_config, **(data_config or {}), **overrides}
    mode = {1: "L", 3: "RGB"}.get(int(config["input_size"][0]), "RGB")
    return _Transform(timm.data.create_transform(**config, is_training=False), mode)


def default_transform(image_size: int = 299) -> Callable[[Image.Image], torch.Tensor]:
    """The published evaluation transform at ``image_size`` (:func:`eval_transform` of the ABAW3 config)."""
    return eval_transform(ABAW3.replace(image_size=image_size).data_config)
