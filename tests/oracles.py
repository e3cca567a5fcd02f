"""Independent oracles the tests share: what the model should say, computed without the code under test."""

from __future__ import annotations

import numpy as np
import timm.data
import torch
from PIL import Image

import smm


def model_on_crop(model: smm.SMMEmotionNet, crop: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AU probabilities, expression probabilities and VA of an aligned uint8 crop: timm's transform of the
    model's ``data_config``, the model, sigmoid and softmax."""
    inputs = timm.data.create_transform(**model.data_config)(Image.fromarray(crop))[None]
    with torch.no_grad():
        out = model(inputs)
    return torch.sigmoid(out.au)[0], torch.softmax(out.expr, -1)[0], out.va[0]
