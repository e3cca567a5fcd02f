"""Our batched heads against the per-region loop of the published code, on random sizes.

The loop (tests/loop_reference.py) is checked against the fixture below, so agreement
here extends the fixture's guarantee to every size, to train mode (BatchNorm batch
statistics and running-statistic updates) and to gradients.
"""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

import smm
from benchmarks.loop_heads import LoopHeads
from tests.strategies import Sizes, sizes

TOL = {"atol": 1e-4, "rtol": 1e-4}
FIELDS = ("attention", "attention_logits", "region_features", "au", "au_features", "message", "expr", "va")


def _pair(s: Sizes) -> tuple[LoopHeads, smm.SMMEmotionNet]:
    torch.manual_seed(s.seed)
    loop = LoopHeads(s.channels, s.regions, s.labelled, s.dim, s.nhead, 16, dropout=0.0).double()
    ours = smm.SMMEmotionNet(
        backbone=None,
        feature_channels=s.channels,
        num_regions=s.regions,
        num_labelled=s.labelled,
        dim=s.dim,
        nhead=s.nhead,
        dim_feedforward=16,
        transformer_dropout=0.0,
        input_dropout=0.0,
    ).double()
    ours.load_state_dict(smm.convert_reference_state_dict(loop.reference_state_dict()), strict=True)
    return loop, ours


def test_loop_oracle_reproduces_fixture(reference_weights, reference_tensors) -> None:
    loop = LoopHeads().eval()
    weights = {k: v for k, v in reference_weights.items() if not k.startswith("positional_encoding")}
    loop.load_state_dict(weights, strict=True)
    with torch.no_grad():
        out = loop(reference_tensors["input.feature_maps"])
    torch.testing.assert_close(out["au"], reference_tensors["expected.AU"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out["expr"], reference_tensors["expected.EXPR"], atol=1e-5, rtol=1e-4)


@given(sizes(min_batch=2), st.booleans())
def test_heads_equal_loop(s: Sizes, training: bool) -> None:
    loop, ours = _pair(s)
    loop.train(training)
    ours.train(training)
    x = torch.randn(
        s.batch, s.channels, s.height, s.width, dtype=torch.float64, generator=torch.Generator().manual_seed(s.seed)
    )
    x_loop = x.clone().requires_grad_(True)
    x_ours = x.clone().requires_grad_(True)
    expected = loop(x_loop)
    got = ours.forward_head(x_ours)._asdict()
    for name in FIELDS:
        torch.testing.assert_close(got[name], expected[name], **TOL, msg=name)

    # Same gradients, to the input and to every weight.
    weights = torch.randn(s.batch, s.labelled, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def objective(o) -> torch.Tensor:
        return (o["au"] * weights).sum() + o["expr"].square().sum() + o["va"].sum() + o["attention_logits"].sum()

    objective(expected).backward()
    objective(got).backward()
    torch.testing.assert_close(x_ours.grad, x_loop.grad, **TOL)
    # The converter maps gradients like weights: put them in place of the weights.
    loop_grads = {k: p.grad for k, p in loop.named_parameters()}
    our_grads = smm.convert_reference_state_dict(
        {k: loop_grads.get(k, v) for k, v in loop.reference_state_dict().items()}
    )
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param.grad, our_grads[name], **TOL, msg=name)

    # Train mode updates the BatchNorm running statistics identically.
    converted = smm.convert_reference_state_dict(loop.reference_state_dict())
    for name, buffer in ours.named_buffers():
        if name in converted:
            torch.testing.assert_close(buffer, converted[name], **TOL, msg=name)
