"""ROI attention: one spatial attention map per facial region (Figure 1, part I)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from smm._checks import check_dim, check_ndim, check_positive, tracing
from smm.layers.tap_conv import TapConv2d


class ROIAttentionOutput(NamedTuple):
    """What :class:`ROIAttention` returns.

    Attributes
    ----------
    maps : Tensor[B, U, h, w]
        Per-region attention maps after a sigmoid, in (0, 1).
    logits : Tensor[B, U]
        Per-region attention logits of the classification branch (before any
        sigmoid). The published code computes and discards them; they can be
        supervised, e.g. with AU occurrence labels.
    """

    maps: torch.Tensor
    logits: torch.Tensor


class ROIAttention(nn.Module):
    """Predict one attention map per facial region from a backbone feature map.

    A shared trunk (conv 3x3 C->4U, BN, ReLU, conv 1x1 4U->U, BN, ReLU) feeds two
    1x1 convolutions: one gives the region maps (sigmoid), the other, averaged
    over space, gives a logit per region.

    Parameters
    ----------
    in_channels : int
        C, channels of the feature map.
    num_regions : int
        U, number of facial regions.
    hidden_factor : int, default 4
        The trunk's hidden width is ``hidden_factor * num_regions``.

    Shape
    -----
    - Input ``x``: ``(B, C, h, w)``
    - Output: :class:`ROIAttentionOutput` with maps ``(B, U, h, w)`` and logits ``(B, U)``.
    """

    def __init__(self, in_channels: int, num_regions: int, *, hidden_factor: int = 4) -> None:
        super().__init__()
        check_positive(in_channels, "in_channels")
        check_positive(num_regions, "num_regions")
        check_positive(hidden_factor, "hidden_factor")
        self.in_channels = in_channels
        self.num_regions = num_regions
        hidden = hidden_factor * num_regions
        self.trunk = nn.Sequential(
            # The 3x3 convolution has few output channels next to C: one GEMM over its taps
            # is faster than a direct convolution on CPU (same weights, same result).
            TapConv2d(in_channels, hidden, kernel_size=3, padding=1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_regions, kernel_size=1),
            nn.BatchNorm2d(num_regions),
            nn.ReLU(inplace=True),
        )
        self.map_conv = nn.Conv2d(num_regions, num_regions, kernel_size=1)
        self.logit_conv = nn.Conv2d(num_regions, num_regions, kernel_size=1)

    def forward(self, x: torch.Tensor) -> ROIAttentionOutput:
        """Compute region maps and region logits.

        Parameters
        ----------
        x : Tensor[B, C, h, w]
            Backbone feature map.

        Returns
        -------
        ROIAttentionOutput
            ``maps`` of shape ``(B, U, h, w)`` in (0, 1), ``logits`` of shape ``(B, U)``.
        """
        if not tracing():
            check_ndim(x, "x", "B C h w")
            check_dim(x, "x", 1, self.in_channels, "channels")
        hidden = self.trunk(x)
        maps = torch.sigmoid(self.map_conv(hidden))
        logits = self.logit_conv(hidden).mean(dim=(-2, -1))
        return ROIAttentionOutput(maps, logits)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_regions={self.num_regions}"
