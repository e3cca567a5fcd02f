"""A 'same' convolution computed as one GEMM over all kernel taps, then shifted sums.

For a k x k kernel ``W`` (taps ``W_t``, offsets ``d_t``) and input ``x``::

    conv(x * s)[o, p] = sum_t (W_t x)[o, p + d_t] * s[p + d_t]

so one GEMM of ``x`` against every tap of every output channel (``k * k * O``
columns), optionally scaled position by position, then summed over the shifted taps,
is exactly the convolution, for any per-position scale ``s`` shared by a block of
output channels. That lets U regions with U different scales share one GEMM instead
of U re-weighted copies of ``x``, and it is faster than a direct convolution when
``O`` is small next to ``C``.

Eager code runs the positions-major ("channels last") formulation below, with a
hand-written backward: every GEMM of the training step (forward, input gradient,
weight gradient) is then a single large matrix product, and the scaling is fused
into the shifted sums (``addcmul_``) instead of being a separate pass over the
9-tap tensor. Under ``torch.compile`` / ``torch.export`` the same mathematics is
written with plain differentiable operators (:func:`_tap_conv2d_traced`), which
compilers fuse on their own and exporters understand; ``torch.func`` transforms use
it too.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from einops import rearrange

from smm._checks import tracing


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
        In eager mode the result is ``channels_last`` in memory (same values).
    """
    if tracing() or _functorch_active():
        return _tap_conv2d_traced(x, weight, bias, scale)
    inputs = (x, weight, bias, scale)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
        return _TapConv2d.apply(*inputs)
    return _forward(x, weight, bias, scale)[0]


def _functorch_active() -> bool:
    """``True`` inside ``torch.func`` transforms, which the hand-written backward does not support."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False


def _shifts(size: int, kernel: int) -> Iterator[tuple[int, slice, slice]]:
    """For each tap index along one axis: ``(index, out positions p, source positions p + d)``."""
    half = kernel // 2
    for index in range(kernel):
        d = index - half
        yield index, slice(max(0, -d), size - max(0, d)), slice(max(0, d), size + min(0, d))


def _taps(size_h: int, size_w: int, kernel: int) -> Iterator[tuple[int, tuple[slice, slice], tuple[slice, slice]]]:
    """``(tap, out window, source window)`` for every tap of a ``kernel`` x ``kernel`` filter."""
    for i, out_h, src_h in _shifts(size_h, kernel):
        for j, out_w, src_w in _shifts(size_w, kernel):
            yield i * kernel + j, (out_h, out_w), (src_h, src_w)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B*h*w, C): a view when ``x`` is channels_last, else a copy."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b * h * w, c)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _tap_matrix(weight: torch.Tensor) -> torch.Tensor:
    """(O, C, k, k) -> (k*k*O, C), rows ordered (tap, output channel)."""
    out_channels, c, k, _ = weight.shape
    return weight.permute(2, 3, 0, 1).reshape(k * k * out_channels, c)


def _per_tap_products(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The one GEMM: every tap of every output channel at every position, ``(B, h, w, k*k, O)``."""
    b, _, h, w = x.shape
    out_channels, _, k, _ = weight.shape
    return (_rows(x) @ _tap_matrix(weight).t()).view(b, h, w, k * k, out_channels)  # autocast applies here


def _group_scale(scale: torch.Tensor, out_channels: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Scale as ``(B, h, w, G, 1)`` and the split ``(G, O/G)`` of the channel axis it multiplies."""
    groups = scale.shape[1]
    return rearrange(scale, "b g h w -> b h w g 1"), (groups, out_channels // groups)


def _forward(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, scale: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the output (channels_last) and the per-tap products ``(B, h, w, k*k, O)``."""
    b, _, h, w = x.shape
    out_channels, _, k, _ = weight.shape
    per_tap = _per_tap_products(x, weight)
    out = per_tap.new_empty((b, h, w, out_channels), dtype=_accumulation_dtype(per_tap.dtype))
    if bias is None:
        out.zero_()
    else:
        out.copy_(bias.expand_as(out))
    if scale is not None:
        s, split = _group_scale(scale, out_channels)
    for t, (oh, ow), (sh, sw) in _taps(h, w, k):
        src = per_tap[:, sh, sw, t]
        if scale is None:
            out[:, oh, ow].add_(src)
        else:
            out[:, oh, ow].unflatten(-1, split).addcmul_(src.unflatten(-1, split), s[:, sh, sw])
    return out.permute(0, 3, 1, 2).to(per_tap.dtype), per_tap


class _TapConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, scale):  # type: ignore[override]
        out, per_tap = _forward(x, weight, bias, scale)
        # Inputs are saved by reference (no copies); the per-tap products only when the
        # scale needs a gradient, like the elementwise product autograd would record.
        ctx.save_for_backward(x, weight, bias, scale, per_tap if ctx.needs_input_grad[3] else None)
        ctx.compute = per_tap.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, weight, bias, scale, per_tap = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the differentiable formulation instead, so
            # that higher-order gradients are exact.
            return _differentiable_backward(ctx.needs_input_grad, (x, weight, bias, scale), grad_out)
        compute, x_dtype, w_dtype = ctx.compute, x.dtype, weight.dtype
        out_channels, c, k, _ = weight.shape
        needs_x, needs_w, needs_b, needs_s = ctx.needs_input_grad
        b, _, h, w = grad_out.shape
        grad = grad_out.permute(0, 2, 3, 1).contiguous()  # (B, h, w, O); free if channels_last
        grad_bias = grad.sum((0, 1, 2)) if needs_b else None
        grad_x = grad_w = None
        if not (needs_x or needs_w or needs_s):
            return None, None, grad_bias, None

        grad_taps, grad_scale = _spread_grad(grad, scale, per_tap if needs_s else None, k, compute)
        grad_taps = grad_taps.view(b * h * w, k * k * out_channels)
        if needs_x:
            # channels_last, like the output: consumers (convolutions) accept either layout.
            grad_x = (grad_taps @ _tap_matrix(weight).to(compute)).view(b, h, w, c).permute(0, 3, 1, 2).to(x_dtype)
        if needs_w:
            grad_w = (grad_taps.t() @ _rows(x).to(compute)).view(k, k, out_channels, c)
            grad_w = grad_w.permute(2, 3, 0, 1).to(w_dtype)
        return grad_x, grad_w, grad_bias, grad_scale


def _spread_grad(
    grad: torch.Tensor, scale: torch.Tensor | None, per_tap: torch.Tensor | None, k: int, compute: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Backward of the scaled shifted sums.

    Parameters
    ----------
    grad : Tensor[B, h, w, O]
        Gradient of the output, positions-major.
    scale : Tensor[B, G, h, w] or None
    per_tap : Tensor[B, h, w, k*k, O] or None
        Forward per-tap products; given when the scale needs a gradient.

    Returns
    -------
    grad_taps : Tensor[B, h, w, k*k, O]
        Gradient of the per-tap products (``dtype=compute``).
    grad_scale : Tensor[B, G, h, w] or None
    """
    b, h, w, out_channels = grad.shape
    grad_taps = grad.new_empty((b, h, w, k * k, out_channels), dtype=compute)
    grad_s = None
    if scale is not None:
        s, split = _group_scale(scale, out_channels)
        if per_tap is not None:
            grad_s = grad.new_zeros((b, h, w, split[0]), dtype=_accumulation_dtype(scale.dtype))
    for t, (oh, ow), (sh, sw) in _taps(h, w, k):
        # Source position q = p + d fed output p; positions that fed no output get zero.
        dst = grad_taps[:, :, :, t]
        _zero_outside(dst, sh, sw)
        g = grad[:, oh, ow]
        if scale is None:
            dst[:, sh, sw] = g
            continue
        g = g.unflatten(-1, split)
        if grad_s is not None:
            grad_s[:, sh, sw] += (g * per_tap[:, sh, sw, t].unflatten(-1, split)).sum(-1)
        torch.mul(g, s[:, sh, sw], out=dst[:, sh, sw].unflatten(-1, split))
    grad_scale = None if grad_s is None else rearrange(grad_s, "b h w g -> b g h w").to(scale.dtype)
    return grad_taps, grad_scale


def _differentiable_backward(
    needs: tuple[bool, ...], inputs: tuple[torch.Tensor | None, ...], grad_out: torch.Tensor
) -> tuple[torch.Tensor | None, ...]:
    wanted = [t for t, n in zip(inputs, needs, strict=True) if n]
    out = _tap_conv2d_traced(*inputs)
    grads = iter(torch.autograd.grad(out, wanted, grad_out.to(out.dtype), create_graph=True))
    return tuple(next(grads) if n else None for n in needs)


def _zero_outside(dst: torch.Tensor, rows: slice, cols: slice) -> None:
    """Zero ``dst[:, i, j]`` for positions outside ``rows`` x ``cols`` (the image border)."""
    h, w = dst.shape[1], dst.shape[2]
    dst[:, : rows.start].zero_()
    dst[:, rows.stop : h].zero_()
    dst[:, rows, : cols.start].zero_()
    dst[:, rows, cols.stop : w].zero_()


def _tap_conv2d_traced(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same result with differentiable operators only: GEMM, scale, padded shifted sums."""
    _, _, h, w = x.shape
    out_channels, _, k, _ = weight.shape
    pad = k // 2
    per_tap = _per_tap_products(x, weight)
    if scale is not None:
        s, split = _group_scale(scale, out_channels)
        per_tap = (per_tap.unflatten(-1, split) * s.unsqueeze(3)).flatten(-2)
    # padded[q + pad] = per_tap[q], so out[p] = sum_t per_tap[p + d_t] = sum_t padded[p + t].
    padded = F.pad(per_tap, (0, 0, 0, 0, pad, pad, pad, pad))
    out = sum(padded[:, i : i + h, j : j + w, i * k + j] for i in range(k) for j in range(k))
    out = out.permute(0, 3, 1, 2)
    if bias is not None:
        out = out + bias.to(out.dtype).reshape(1, -1, 1, 1)
    return out


class TapConv2d(torch.nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, initialisation and state-dict keys) run by :func:`tap_conv2d`.

    A stride-1 'same' convolution with an odd square kernel goes through one GEMM over its
    taps; any other setting falls back to ``nn.Conv2d``. Being the module that runs, it
    fires forward hooks and shows in ``print(model)`` like any convolution.

    Shape
    -----
    - Input: ``(B, C, h, w)``
    - Output: ``(B, O, h, w)`` (``channels_last`` in memory in eager mode)
    """

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        """Convolve ``x`` (each output block optionally sees ``x * scale[:, g]``, see :func:`tap_conv2d`)."""
        kernel = self.kernel_size[0]
        same = (
            self.kernel_size == (kernel, kernel)
            and kernel % 2 == 1
            and self.stride == (1, 1)
            and self.dilation == (1, 1)
            and self.groups == 1
            and self.padding == (kernel // 2, kernel // 2)
            and self.padding_mode == "zeros"
        )
        if same:
            return tap_conv2d(x, self.weight, self.bias, scale)
        if scale is not None:
            raise ValueError("scale needs a stride-1 'same' convolution with an odd square kernel")
        return super().forward(x)
