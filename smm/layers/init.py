"""Parameter initialisation for stacked per-region weights.

PyTorch's default for ``nn.Linear``/``nn.Conv2d`` draws weights and biases from
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``. Stacked parameters of shape ``(U, ...)``
would get the wrong fan-in from ``nn.init``, so the bound is passed explicitly.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def uniform_fan_in_(tensor: torch.Tensor, fan_in: int) -> torch.Tensor:
    """Fill ``tensor`` in place from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.init.uniform_(tensor, -bound, bound)
