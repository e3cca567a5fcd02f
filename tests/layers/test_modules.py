"""Shapes and properties of each head module, over random sizes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from smm import MessageSpaceHead, ROIAttention, ROIEmbedding, SignVehicleHead
from tests.strategies import Sizes, sizes


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@given(sizes())
def test_roi_attention_shapes(s: Sizes) -> None:
    torch.manual_seed(s.seed)
    module = ROIAttention(s.channels, s.regions).eval()
    out = module(_randn(s.batch, s.channels, s.height, s.width, seed=s.seed))
    assert out.maps.shape == (s.batch, s.regions, s.height, s.width)
    assert out.logits.shape == (s.batch, s.regions)
    assert bool(((out.maps > 0) & (out.maps < 1)).all())


@given(sizes())
def test_roi_embedding_shapes(s: Sizes) -> None:
    torch.manual_seed(s.seed)
    module = ROIEmbedding(s.channels, s.regions, s.dim).eval()
    x = _randn(s.batch, s.channels, s.height, s.width, seed=s.seed)
    maps = torch.rand(s.batch, s.regions, s.height, s.width, generator=torch.Generator().manual_seed(s.seed))
    assert module(x, maps).shape == (s.batch, s.regions, s.dim)


@given(sizes(), st.sampled_from(["all", "labelled"]))
def test_sign_vehicle_shapes(s: Sizes, tokens: str) -> None:
    torch.manual_seed(s.seed)
    module = SignVehicleHead(s.dim, s.regions, s.labelled, nhead=s.nhead, dim_feedforward=8, tokens=tokens)
    out = module(_randn(s.batch, s.regions, s.dim, seed=s.seed))
    assert out.logits.shape == (s.batch, s.labelled)
    assert out.features.shape == (s.batch, s.labelled, s.dim)


@given(sizes(), st.integers(1, 9), st.integers(1, 3))
def test_message_space_shapes(s: Sizes, num_classes: int, va_dim: int) -> None:
    torch.manual_seed(s.seed)
    module = MessageSpaceHead(s.dim, s.regions, num_classes, va_dim)
    f = _randn(s.batch, s.regions, s.dim, seed=s.seed)
    for average in ("features", "logits"):
        out = module(f, average)
        assert out.expr.shape == (s.batch, num_classes)
        assert out.va.shape == (s.batch, va_dim)
        assert out.message.shape == (s.batch, s.dim)
    votes = module(f, "none")
    assert votes.expr.shape == (s.batch, s.regions, num_classes)
    assert votes.va.shape == (s.batch, s.regions, va_dim)
    assert votes.message.shape == (s.batch, s.regions, s.dim)
    # The values, written here region by region: M_u = A_u f_u, their mean, the linear readers.
    with torch.no_grad():
        per_region = torch.stack([f[:, u] @ module.transforms[u].T for u in range(s.regions)], 1)
        message = per_region.mean(1)
        out = module(f)
        torch.testing.assert_close(votes.message, per_region, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.message, message, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.expr, message @ module.expr.weight.T + module.expr.bias, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.va, message @ module.va.weight.T + module.va.bias, atol=1e-5, rtol=1e-5)


@given(sizes(), st.integers(1, 9), st.booleans())
def test_averaging_features_equals_averaging_logits(s: Sizes, num_classes: int, bias: bool) -> None:
    torch.manual_seed(s.seed)
    module = MessageSpaceHead(s.dim, s.regions, num_classes, bias=bias).double()
    f = _randn(s.batch, s.regions, s.dim, seed=s.seed).double()
    by_features = module(f, "features")
    by_logits = module(f, "logits")
    votes = module(f, "none")
    torch.testing.assert_close(by_features.expr, by_logits.expr)
    torch.testing.assert_close(by_features.va, by_logits.va)
    torch.testing.assert_close(by_features.expr, votes.expr.mean(1))
    # And against the paper's formula directly: M_u = A_u f_u, y = W mean_u(M_u) + b.
    message = torch.stack([f[:, u] @ module.transforms[u].T for u in range(s.regions)], 1).mean(1)
    torch.testing.assert_close(by_features.message, message)


@given(sizes(min_batch=2))
def test_eval_outputs_do_not_depend_on_the_rest_of_the_batch(s: Sizes) -> None:
    torch.manual_seed(s.seed)
    attention = ROIAttention(s.channels, s.regions).eval()
    embedding = ROIEmbedding(s.channels, s.regions, s.dim).eval()
    sign = SignVehicleHead(s.dim, s.regions, s.labelled, nhead=s.nhead, dim_feedforward=8).eval()
    message = MessageSpaceHead(s.dim, s.regions).eval()
    # Non-default BatchNorm statistics, so that eval mode is really exercised.
    for bn in (*attention.trunk[1::3], embedding.bn1, embedding.bn2):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        maps = attention(x).maps
        f = embedding(x, maps)
        return [maps, f, *sign(f), *message(f)]

    x = _randn(s.batch, s.channels, s.height, s.width, seed=s.seed)
    with torch.no_grad():
        whole = run(x)
        alone = run(x[:1])
        other = x.clone()
        other[1:] = _randn(s.batch - 1, s.channels, s.height, s.width, seed=s.seed + 1)
        mixed = run(other)
    for a, b, c in zip(whole, alone, mixed, strict=True):
        torch.testing.assert_close(a[:1], b, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a[:1], c[:1], atol=1e-5, rtol=1e-4)


def test_labelled_tokens_ignore_unlabelled_regions() -> None:
    # Paper's Eq. 1: only the first H region features enter the transformer.
    f = torch.randn(3, 6, 8)
    changed = f.clone()
    changed[:, 4:] = torch.randn(3, 2, 8)
    paper = SignVehicleHead(8, 6, 4, nhead=2, dim_feedforward=16, tokens="labelled").eval()
    code = SignVehicleHead(8, 6, 4, nhead=2, dim_feedforward=16, tokens="all").eval()
    code.load_state_dict(paper.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(paper(f).logits, paper(changed).logits)
        assert not torch.allclose(code(f).logits, code(changed).logits)


def test_au_logits_are_inner_products_of_au_features() -> None:
    head = SignVehicleHead(8, 5, 3, nhead=2, dim_feedforward=16).eval()
    with torch.no_grad():
        out = head(torch.randn(2, 5, 8))
    expected = torch.stack([out.features[:, h] @ head.au_weight[h] + head.au_bias[h] for h in range(3)], 1)
    torch.testing.assert_close(out.logits, expected)


def test_positional_encoding_formula() -> None:
    head = SignVehicleHead(6, 4, 2, nhead=2, dim_feedforward=8)
    for p in range(4):
        for i in range(3):
            angle = torch.tensor(p / 10000 ** (2 * i / 6))
            torch.testing.assert_close(head.pe[p, 2 * i], torch.sin(angle))
            torch.testing.assert_close(head.pe[p, 2 * i + 1], torch.cos(angle))


@pytest.mark.parametrize("module", [ROIEmbedding(4, 3, 2), MessageSpaceHead(4, 3), SignVehicleHead(4, 3, 2, nhead=2)])
def test_modules_move_with_dtype(module: torch.nn.Module) -> None:
    module = module.double()
    assert all(t.dtype == torch.float64 for t in module.state_dict().values() if t.is_floating_point())
    if isinstance(module, SignVehicleHead):
        assert module.pe.dtype == torch.float64


def test_roi_attention_values_follow_the_published_formula() -> None:
    """Maps are sigmoid(map_conv(trunk(x))); logits the spatial mean of logit_conv(trunk(x)); written here."""
    from smm import ROIAttention

    torch.manual_seed(3)
    module = ROIAttention(6, 4).eval()
    for bn in (module.trunk[1], module.trunk[4]):  # statistics other than 0 and 1, so that they count
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 6, 5, 7)

    def batch_norm(y: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
        scale = bn.weight / (bn.running_var + bn.eps).sqrt()
        return (y - bn.running_mean.view(-1, 1, 1)) * scale.view(-1, 1, 1) + bn.bias.view(-1, 1, 1)

    def pointwise(y: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
        return torch.einsum("bchw,oc->bohw", y, conv.weight[:, :, 0, 0]) + conv.bias.view(-1, 1, 1)

    with torch.no_grad():
        out = module(x)
        conv3 = torch.nn.functional.conv2d(x, module.trunk[0].weight, module.trunk[0].bias, padding=1)
        hidden = torch.relu(batch_norm(conv3, module.trunk[1]))
        trunk = torch.relu(batch_norm(pointwise(hidden, module.trunk[3]), module.trunk[4]))
        maps = torch.sigmoid(pointwise(trunk, module.map_conv))
        logits = pointwise(trunk, module.logit_conv).mean(dim=(2, 3))
    torch.testing.assert_close(out.maps, maps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out.logits[0], out.logits[1])  # values differ per image


def test_roi_attention_says_what_it_expected_and_its_trunk_width() -> None:
    for args, keywords, name in (
        ((0, 17), {}, "in_channels"),
        ((8, 0), {}, "num_regions"),
        ((8, 17), {"hidden_factor": 0}, "hidden_factor"),
    ):
        with pytest.raises(ValueError, match=rf"^{name} must be a positive integer, got 0$"):
            ROIAttention(*args, **keywords)
    attention = ROIAttention(8, 3)
    assert attention.trunk[0].out_channels == 12  # hidden_factor 4 times the regions
    assert ROIAttention(8, 3, hidden_factor=2).trunk[0].out_channels == 6
    assert attention.num_regions == 3
    assert "in_channels=8, num_regions=3" in repr(attention)
    with pytest.raises(
        ValueError, match=r"^x must be a 4-D tensor of shape \(B, C, h, w\), got a 3-D tensor of shape \(2, 8, 4\)$"
    ):
        attention(torch.zeros(2, 8, 4))
    with pytest.raises(ValueError, match=r"^x must have 8 channels \(dim 1\), got 5 in shape \(2, 5, 4, 4\)$"):
        attention(torch.zeros(2, 5, 4, 4))


def test_roi_embedding_says_what_it_expected() -> None:
    for args, name in (((0, 3, 4), "in_channels"), ((8, 0, 4), "num_regions"), ((8, 3, 0), "dim")):
        with pytest.raises(ValueError, match=rf"^{name} must be a positive integer, got 0$"):
            ROIEmbedding(*args)
    embedding = ROIEmbedding(8, 3, 4)
    maps = torch.zeros(2, 3, 4, 4)
    shape = r"x must be a 4-D tensor of shape \(B, C, h, w\), got a 3-D tensor of shape \(2, 8, 4\)"
    with pytest.raises(ValueError, match=rf"^{shape}$"):
        embedding(torch.zeros(2, 8, 4), maps)
    with pytest.raises(ValueError, match=r"^x must have 8 channels \(dim 1\), got 5 in shape \(2, 5, 4, 4\)$"):
        embedding(torch.zeros(2, 5, 4, 4), maps)
    x = torch.zeros(2, 8, 4, 5)
    for bad, message in (
        (
            torch.zeros(2, 3, 4),
            r"maps must be a 4-D tensor of shape \(B, U, h, w\), got a 3-D tensor of shape \(2, 3, 4\)",
        ),
        (torch.zeros(2, 2, 4, 5), r"maps must have 3 regions \(dim 1\), got 2 in shape \(2, 2, 4, 5\)"),
        (
            torch.zeros(1, 3, 4, 5),
            r"maps must match x in batch size and spatial size: expected \(2, 3, 4, 5\), got \(1, 3, 4, 5\)",
        ),
        (
            torch.zeros(2, 3, 4, 6),
            r"maps must match x in batch size and spatial size: expected \(2, 3, 4, 5\), got \(2, 3, 4, 6\)",
        ),
    ):
        with pytest.raises(ValueError, match=f"^{message}$"):
            embedding(x, bad)
    # Every region's first convolution starts like a fresh Conv2d(C, D, 3): uniform within 1 / sqrt(C * 9).
    bound = 1 / (8 * 9) ** 0.5
    assert float(embedding.conv1_weight.detach().abs().max()) <= bound
    assert float(embedding.conv1_weight.detach().abs().max()) > 0.9 * bound
