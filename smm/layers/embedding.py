"""ROI embedding: one D-dimensional feature vector per facial region (Figure 1, part I).

Region ``u`` sees the feature map re-weighted by its attention map, ``x * (1 + m_u)``,
and passes it through its own small CNN: conv 3x3 C->D, BN, ReLU, conv 1x1 D->D, BN,
ReLU, global average pooling, linear D->D.

All U regions are computed together, without a loop over regions and without
materialising the U re-weighted copies of ``x`` (a ``(B, U, C, h, w)`` tensor). The
3x3 convolution is linear in its input, so for every tap ``k`` of the kernel

    conv_u(x * s_u)[p] = sum_k  W_{u,k} x[p + k] * s_u[p + k]
                       = sum_k  (W_{u,k} x)[p + k] * s_u[p + k]

with ``s_u = 1 + m_u``. One matrix product of ``x`` against the taps of all regions
(``9 U D`` output channels) is therefore scaled, position by position, by each
region's ``s_u`` and summed over the shifted taps (see :mod:`smm.layers.tap_conv`). The result
is exactly the per-region convolution; autograd keeps the 9-tap product (about 3x the
feature map) instead of U re-weighted copies (17x for ABAW3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from smm._checks import check_dim, check_ndim, check_positive, tracing
from smm.layers.init import uniform_fan_in_
from smm.layers.tap_conv import tap_conv2d

_KERNEL = 3


class ROIEmbedding(nn.Module):
    """Embed each facial region of a feature map into a D-dimensional vector.

    Parameters
    ----------
    in_channels : int
        C, channels of the feature map.
    num_regions : int
        U, number of regions (and of attention maps).
    dim : int
        D, size of each region embedding.

    Shape
    -----
    - Input ``x``: ``(B, C, h, w)``; ``maps``: ``(B, U, h, w)``
    - Output: ``(B, U, D)``

    Notes
    -----
    The per-region weights are stacked parameters: ``conv1_weight`` ``(U * D, C, 3, 3)``
    (region ``u`` owns rows ``u * D`` to ``(u + 1) * D - 1``; 4-D so that
    ``model.to(memory_format=torch.channels_last)`` works),
    ``conv1_bias`` ``(U, D)``, ``conv2_weight`` ``(U, D, D)``, ``conv2_bias`` ``(U, D)``,
    ``fc_weight`` ``(U, D, D)`` (output, input) and ``fc_bias`` ``(U, D)``. The two
    BatchNorms normalise the ``U * D`` channels independently, exactly as U separate
    ``BatchNorm2d(D)`` would.
    """

    def __init__(self, in_channels: int, num_regions: int, dim: int) -> None:
        super().__init__()
        check_positive(in_channels, "in_channels")
        check_positive(num_regions, "num_regions")
        check_positive(dim, "dim")
        self.in_channels = in_channels
        self.num_regions = num_regions
        self.dim = dim
        u, d, c = num_regions, dim, in_channels
        self.conv1_weight = nn.Parameter(torch.empty(u * d, c, _KERNEL, _KERNEL))
        self.conv1_bias = nn.Parameter(torch.empty(u, d))
        self.bn1 = nn.BatchNorm2d(u * d)
        self.conv2_weight = nn.Parameter(torch.empty(u, d, d))
        self.conv2_bias = nn.Parameter(torch.empty(u, d))
        self.bn2 = nn.BatchNorm2d(u * d)
        self.fc_weight = nn.Parameter(torch.empty(u, d, d))
        self.fc_bias = nn.Parameter(torch.empty(u, d))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every region like a fresh ``nn.Conv2d``/``nn.Linear``."""
        conv1_fan_in = self.in_channels * _KERNEL * _KERNEL
        uniform_fan_in_(self.conv1_weight, conv1_fan_in)
        uniform_fan_in_(self.conv1_bias, conv1_fan_in)
        for param in (self.conv2_weight, self.conv2_bias, self.fc_weight, self.fc_bias):
            uniform_fan_in_(param, self.dim)
        self.bn1.reset_parameters()
        self.bn2.reset_parameters()

    def region_conv(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """First convolution of every region on its re-weighted input, batched.

        Parameters
        ----------
        x : Tensor[B, C, h, w]
        maps : Tensor[B, U, h, w]

        Returns
        -------
        Tensor[B, U * D, h, w]
            ``conv3x3_u(x * (1 + maps[:, u]))`` for every region, bias included.
        """
        return tap_conv2d(x, self.conv1_weight, self.conv1_bias.flatten(), scale=1.0 + maps)

    def forward(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """Embed every region.

        Parameters
        ----------
        x : Tensor[B, C, h, w]
            Backbone feature map.
        maps : Tensor[B, U, h, w]
            Region attention maps (from :class:`~smm.ROIAttention`).

        Returns
        -------
        Tensor[B, U, D]
            The region features ``f``.
        """
        if not tracing():
            check_ndim(x, "x", "B C h w")
            check_dim(x, "x", 1, self.in_channels, "channels")
            check_ndim(maps, "maps", "B U h w")
            check_dim(maps, "maps", 1, self.num_regions, "regions")
            if maps.shape[0] != x.shape[0] or maps.shape[2:] != x.shape[2:]:
                raise ValueError(
                    f"maps must match x in batch size and spatial size: expected "
                    f"({x.shape[0]}, {self.num_regions}, {x.shape[2]}, {x.shape[3]}), got {tuple(maps.shape)}"
                )
        y = F.relu(self.bn1(self.region_conv(x, maps)))
        y = F.conv2d(
            y,
            rearrange(self.conv2_weight, "u o i -> (u o) i 1 1"),
            self.conv2_bias.flatten(),
            groups=self.num_regions,
        )
        y = F.relu(self.bn2(y))
        pooled = rearrange(y.mean(dim=(-2, -1)), "b (u d) -> b u d", u=self.num_regions)
        return torch.einsum("bui,uoi->buo", pooled, self.fc_weight) + self.fc_bias

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_regions={self.num_regions}, dim={self.dim}"
