"""The tap-GEMM convolution behind both heads: eager (hand-written backward) and traced paths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from smm.layers.tap_conv import _tap_conv2d_traced, tap_conv2d


def _reference(x, weight, bias, scale):
    """Direct convolution of each group's re-weighted input (the definition)."""
    if scale is None:
        return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)
    groups = scale.shape[1]
    per_group = weight.shape[0] // groups
    outs = []
    for g in range(groups):
        rows = slice(g * per_group, (g + 1) * per_group)
        outs.append(
            F.conv2d(
                x * scale[:, g : g + 1],
                weight[rows],
                None if bias is None else bias[rows],
                padding=weight.shape[-1] // 2,
            )
        )
    return torch.cat(outs, dim=1)


def _inputs(batch, channels, groups, per_group, h, w, kernel, *, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(groups * per_group, channels, kernel, kernel, generator=gen, dtype=dtype)
    bias = torch.randn(groups * per_group, generator=gen, dtype=dtype)
    scale = 1.0 + torch.rand(batch, groups, h, w, generator=gen, dtype=dtype)
    return x, weight, bias, scale


sizes = st.tuples(
    st.integers(1, 3),  # batch
    st.integers(1, 6),  # channels
    st.integers(1, 4),  # groups
    st.integers(1, 3),  # channels per group
    st.integers(1, 6),  # h
    st.integers(1, 6),  # w
    st.sampled_from([1, 3, 5]),  # kernel
)


@given(sizes=sizes, use_scale=st.booleans(), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_eager_and_traced_paths_equal_the_direct_convolution(sizes, use_scale, use_bias, seed) -> None:
    x, weight, bias, scale = _inputs(*sizes, seed=seed)
    bias = bias if use_bias else None
    scale = scale if use_scale else None
    params = [t.requires_grad_(True) for t in (x, weight, bias, scale) if t is not None]
    expected = _reference(x, weight, bias, scale)
    grad_out = torch.randn(expected.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=x.dtype)
    expected_grads = torch.autograd.grad(expected, params, grad_out)
    for fn in (tap_conv2d, _tap_conv2d_traced):
        got = fn(x, weight, bias, scale)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
        for g, e in zip(torch.autograd.grad(got, params, grad_out), expected_grads, strict=True):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_hand_written_backward_passes_gradcheck(kernel: int) -> None:
    x, weight, bias, scale = (t.requires_grad_(True) for t in _inputs(2, 3, 2, 2, 4, 5, kernel, seed=kernel))
    assert torch.autograd.gradcheck(tap_conv2d, (x, weight, bias, scale))
    assert torch.autograd.gradcheck(lambda a, b: tap_conv2d(a, b), (x, weight))


@pytest.mark.parametrize("frozen", ["x", "weight", "scale", "bias"])
def test_gradients_only_for_what_requires_them(frozen: str) -> None:
    tensors = dict(zip(("x", "weight", "bias", "scale"), _inputs(2, 4, 2, 3, 5, 5, 3, seed=1), strict=True))
    expected_in = {k: v.clone().requires_grad_(True) for k, v in tensors.items()}
    got_in = {k: v.clone().requires_grad_(k != frozen) for k, v in tensors.items()}
    _reference(**expected_in).square().sum().backward()
    tap_conv2d(**got_in).square().sum().backward()
    assert got_in[frozen].grad is None
    for name in tensors.keys() - {frozen}:
        torch.testing.assert_close(got_in[name].grad, expected_in[name].grad)


def test_no_grad_and_channels_last_input() -> None:
    x, weight, bias, scale = _inputs(2, 8, 2, 4, 6, 7, 3, seed=2, dtype=torch.float32)
    expected = _reference(x, weight, bias, scale)
    with torch.no_grad():
        got = tap_conv2d(x.contiguous(memory_format=torch.channels_last), weight, bias, scale)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_bf16_autocast_stays_close_to_float32() -> None:
    inputs = tuple(t.requires_grad_(True) for t in _inputs(2, 16, 2, 4, 6, 6, 3, seed=3, dtype=torch.float32))
    expected = _reference(*inputs)
    expected_grads = torch.autograd.grad(expected.sum(), inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = tap_conv2d(*inputs)
    assert got.dtype == torch.bfloat16
    got_grads = torch.autograd.grad(got.float().sum(), inputs)
    # bf16 keeps 8 bits of mantissa: errors of about 2**-8 of each tensor's magnitude.
    for g, e in zip((got, *got_grads), (expected, *expected_grads), strict=True):
        assert g.dtype == e.dtype or g is got
        torch.testing.assert_close(g.float(), e, rtol=0, atol=2e-2 * e.abs().max().item())


def test_torch_func_grad_uses_the_differentiable_path() -> None:
    x, weight, bias, scale = _inputs(2, 3, 2, 2, 4, 4, 3, seed=4)
    got = torch.func.grad(lambda w: tap_conv2d(x, w, bias, scale).square().sum())(weight)
    weight.requires_grad_(True)
    _reference(x, weight, bias, scale).square().sum().backward()
    torch.testing.assert_close(got, weight.grad)


def test_second_order_gradients_are_exact() -> None:
    inputs = tuple(t.requires_grad_(True) for t in _inputs(1, 2, 2, 1, 3, 4, 3, seed=5))
    assert torch.autograd.gradgradcheck(tap_conv2d, inputs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
def test_cuda_matches_cpu(autocast: bool) -> None:
    cpu = tuple(t.requires_grad_(True) for t in _inputs(2, 32, 4, 8, 9, 9, 3, seed=6, dtype=torch.float32))
    gpu = tuple(t.detach().cuda().requires_grad_(True) for t in cpu)
    expected = _reference(*cpu)
    expected_grads = torch.autograd.grad(expected.square().sum(), cpu)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        got = tap_conv2d(*gpu)
    got_grads = torch.autograd.grad(got.float().square().sum(), gpu)
    relative = 2e-2 if autocast else 1e-4  # bf16 keeps 8 bits of mantissa
    for g, e in zip((got, *got_grads), (expected, *expected_grads), strict=True):
        torch.testing.assert_close(g.float().cpu(), e, rtol=0, atol=relative * e.abs().max().item())


def test_roi_attention_runs_its_own_convolution_module() -> None:
    """Forward hooks on the trunk's first convolution fire: the module that holds the weight runs."""
    from smm import ROIAttention
    from smm.layers.tap_conv import TapConv2d

    attention = ROIAttention(6, 3).eval()
    seen = []
    attention.trunk[0].register_forward_hook(lambda module, args, out: seen.append(out.shape))
    x = torch.randn(2, 6, 5, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        attention(x)
        assert seen == [torch.Size([2, 12, 5, 5])]
        direct = torch.nn.functional.conv2d(x, attention.trunk[0].weight, attention.trunk[0].bias, padding=1)
        torch.testing.assert_close(attention.trunk[0](x), direct, atol=1e-5, rtol=1e-5)
    strided = TapConv2d(6, 4, kernel_size=3, stride=2, padding=1)
    with torch.no_grad():
        torch.testing.assert_close(strided(x), torch.nn.functional.conv2d(x, strided.weight, strided.bias, 2, 1))
    with pytest.raises(ValueError, match="scale needs a stride-1 'same' convolution"):
        strided(x, scale=torch.ones(2, 1, 5, 5))
