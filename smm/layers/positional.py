"""Sinusoidal positional encoding (Vaswani et al., 2017)."""

from __future__ import annotations

import math

import torch


def sinusoidal_encoding(length: int, dim: int, *, base: float = 10000.0) -> torch.Tensor:
    """Return the ``(length, dim)`` table ``PE[p, 2i] = sin(p / base^(2i/dim))``, ``PE[p, 2i+1] = cos(...)``.

    Parameters
    ----------
    length : int
        Number of positions.
    dim : int
        Embedding size; must be even.
    base : float, default 10000
        Wavelength base.

    Returns
    -------
    Tensor[length, dim]
        float32 table.
    """
    if dim % 2:
        raise ValueError(f"dim must be even for a sinusoidal encoding, got {dim}")
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(base) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table
