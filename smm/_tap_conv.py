"""A 'same' convolution computed as one GEMM over all kernel taps, then a fold.

For a k x k kernel ``W`` and input ``x``::

    conv(x * s)[o, p] = sum_t (W_t x)[o, p + t] * s[p + t]

so one 1x1 convolution of ``x`` against every tap of every output channel
(``O * k * k`` channels), optionally scaled position by position, summed over the
shifted taps with :func:`torch.nn.functional.fold`, is exactly the convolution, for any
per-position scale ``s`` shared by a block of output channels. That lets U regions with
U different scales share one GEMM instead of U re-weighted copies of ``x``, and it is
faster than a direct convolution when ``O`` is small next to ``C``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange


def tap_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stride-1, zero-padded ('same') convolution with an odd square kernel.

    Parameters
    ----------
    x : Tensor[B, C, h, w]
    weight : Tensor[O, C, k, k]
        ``k`` odd.
    bias : Tensor[O], optional
    scale : Tensor[B, G, h, w], optional
        ``O`` must be divisible by ``G``. Output channels ``g*O/G .. (g+1)*O/G - 1``
        see ``x * scale[:, g]`` instead of ``x``.

    Returns
    -------
    Tensor[B, O, h, w]
    """
    b, _, h, w = x.shape
    out_channels, _, k, _ = weight.shape
    # fold scatters tap t of position p to p + t; a convolution gathers from p + t:
    # flipping the kernel turns one into the other.
    taps = rearrange(weight.flip(-2, -1), "o c kh kw -> (o kh kw) c 1 1")
    per_tap = F.conv2d(x, taps)  # (B, O*k*k, h, w)
    if scale is not None:
        groups = scale.shape[1]
        per_tap = rearrange(per_tap, "b (g r) h w -> b g r (h w)", g=groups) * rearrange(
            scale, "b g h w -> b g 1 (h w)"
        )
    out = F.fold(per_tap.reshape(b, out_channels * k * k, h * w), (h, w), kernel_size=k, padding=k // 2)
    if bias is not None:
        out = out + bias.to(out.dtype).reshape(1, -1, 1, 1)
    return out
