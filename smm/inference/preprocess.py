"""The one preprocessing of prediction: a face crop to the model's input, built from ``model.data_config``.

Every prediction path (frame folders, photos, videos, the command line) turns a face crop into
the model's input with :func:`preprocess`: timm's evaluation transform of the model's
``data_config`` (resize, centre crop by ``crop_pct`` and ``crop_mode``, normalise), so on the
same crop it gives the numbers that ``timm.data.create_transform(**model.data_config)`` gives.
Crops from the face pipeline are rounded to 8 bits first, like the JPEG frames of Aff-Wild2
that the model is trained on, so a photo's face and the same face saved as a frame image
reach the model identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image

from smm.data.transforms import eval_transform

Crop = Image.Image | np.ndarray | torch.Tensor


class Preprocess:
    """A face crop (PIL image, or ``(H, W, 3)`` uint8 RGB array or tensor) -> ``Tensor[C, H_in, W_in]``.

    Parameters
    ----------
    data_config : mapping
        ``model.data_config``.
    """

    def __init__(self, data_config: Mapping[str, Any]) -> None:
        self.data_config = dict(data_config)
        self._transform: Callable[[Image.Image], torch.Tensor] = eval_transform(self.data_config)

    def __call__(self, crop: Crop) -> torch.Tensor:
        if isinstance(crop, torch.Tensor):
            crop = crop.cpu().numpy()
        if isinstance(crop, np.ndarray):
            if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
                raise ValueError(f"crop arrays must be (H, W, 3) uint8 RGB, got {crop.dtype} {crop.shape}")
            crop = Image.fromarray(crop)
        if not isinstance(crop, Image.Image):
            raise TypeError(f"crop must be a PIL image or an (H, W, 3) uint8 array, got {type(crop).__name__}")
        return self._transform(crop)

    def __repr__(self) -> str:
        return f"Preprocess({self.data_config})"


def preprocess(data_config: Mapping[str, Any]) -> Preprocess:
    """The preprocessing of a model: ``preprocess(model.data_config)(crop)`` is the model's input for ``crop``."""
    return Preprocess(data_config)
