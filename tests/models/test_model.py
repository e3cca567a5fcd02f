"""SMMEmotionNet end to end on timm backbones (pretrained=False, small inputs)."""

from __future__ import annotations

import pytest
import torch

import smm
from smm import SMMEmotionNet
from smm.models.config import ABAW3


@pytest.fixture(scope="module")
def abaw3() -> SMMEmotionNet:
    return SMMEmotionNet.abaw3().eval()


def test_abaw3_preset_shapes(abaw3: SMMEmotionNet) -> None:
    assert abaw3.feature_channels == 768
    assert abaw3.au_names == ABAW3.au_names
    assert abaw3.region_names[12:] == ("AU5", "AU9", "AU14", "AU16", "AU17")
    assert abaw3.expression_names[4] == "Happiness"
    images = torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        out = abaw3(images)
    assert isinstance(out, smm.SMMOutput)
    expected = {
        "au": (2, 12), "expr": (2, 8), "va": (2, 2), "au_features": (2, 12, 16), "message": (2, 16),
        "attention": (2, 17, 17, 17), "attention_logits": (2, 17), "region_features": (2, 17, 16),
    }  # fmt: skip
    assert {k: tuple(v.shape) for k, v in out._asdict().items()} == expected
    # forward == forward_head(forward_features)
    with torch.no_grad():
        again = abaw3.forward_head(abaw3.forward_features(images))
    torch.testing.assert_close(again.au, out.au)


def test_abaw3_heads_only_takes_feature_maps() -> None:
    heads = SMMEmotionNet.abaw3(backbone=None, feature_channels=768).eval()
    assert heads.backbone is None
    assert heads.feature_channels == 768
    with torch.no_grad():
        out = heads.forward_head(torch.randn(3, 768, 17, 17))
    assert out.au.shape == (3, 12)
    with pytest.raises(RuntimeError, match="no backbone"):
        heads(torch.randn(1, 3, 299, 299))


@pytest.mark.parametrize(
    ("name", "size"),
    [("resnet18", 64), ("mobilenetv3_small_050", 64), ("efficientnet_b0", 64), ("convnext_atto", 64)],
)
def test_any_features_only_backbone_trains(name: str, size: int) -> None:
    model = SMMEmotionNet(name, feature_index=-1, num_regions=5, num_labelled=3, dim=8, nhead=2, dim_feedforward=32)
    images = torch.randn(2, 3, size, size)
    out = model(images)
    assert out.au.shape == (2, 3)
    assert out.attention.shape[1] == 5
    assert out.attention.shape[2:] == (size // 32, size // 32)
    loss = smm.multitask_loss(
        out.au, torch.tensor([[1, 0, -1], [0, 1, 1]]), out.expr, torch.tensor([2, -1]),
        out.va, torch.tensor([[0.2, -0.1], [-5.0, -5.0]]),
    ).total  # fmt: skip
    (loss + out.attention_logits.mean()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())


def test_feature_index_selects_stage() -> None:
    model = SMMEmotionNet("resnet18", feature_index=2, num_regions=4, num_labelled=2, dim=8, nhead=2)
    assert model.feature_channels == 128
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 64))
    assert out.attention.shape == (1, 4, 8, 8)


def test_custom_module_backbone() -> None:
    backbone = torch.nn.Conv2d(3, 10, kernel_size=4, stride=4)
    model = SMMEmotionNet(backbone, feature_channels=10, num_regions=3, num_labelled=2, dim=4, nhead=2).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 16, 16))
    assert out.attention.shape == (2, 3, 4, 4)


def test_bf16_autocast_close_to_fp32() -> None:
    model = SMMEmotionNet("resnet18", num_regions=5, num_labelled=3, dim=8, nhead=2).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(images)
    for name in ("au", "expr", "va"):
        got = getattr(low, name).float()
        expected = getattr(reference, name)
        assert bool(torch.isfinite(got).all())
        # bf16 keeps 8 bits of mantissa: agree to a few percent of the output's scale.
        scale = expected.abs().max().clamp_min(1.0)
        assert (got - expected).abs().max() <= 0.05 * scale, name


def test_bad_input_messages() -> None:
    model = SMMEmotionNet.abaw3(backbone=None)
    with pytest.raises(ValueError, match=r"x must have 768 channels \(dim 1\), got 512"):
        model.forward_head(torch.randn(1, 512, 17, 17))
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor of shape \(B, C, h, w\), got a 3-D"):
        model.forward_head(torch.randn(768, 17, 17))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor"):
        model.forward_head([[0.0]])
    full = SMMEmotionNet("resnet18", num_regions=3, num_labelled=2, dim=4, nhead=2)
    with pytest.raises(ValueError, match=r"images must have 3 channels \(dim 1\), got 1"):
        full(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"images must be a 4-D tensor"):
        full(torch.randn(3, 32, 32))


def test_bad_configuration_messages() -> None:
    with pytest.raises(ValueError, match=r"num_labelled must be <= num_regions.*num_labelled=5 > num_regions=4"):
        SMMEmotionNet(None, feature_channels=8, num_regions=4, num_labelled=5, dim=8, nhead=2)
    with pytest.raises(ValueError, match=r"dim must be divisible by nhead, got dim=10, nhead=4"):
        SMMEmotionNet(None, feature_channels=8, num_regions=4, num_labelled=2, dim=10, nhead=4)
    with pytest.raises(ValueError, match=r"feature_channels is required"):
        SMMEmotionNet(None, config=smm.SMMConfig())
    assert SMMEmotionNet(None).feature_channels == 768  # the ABAW3 heads
    with pytest.raises(ValueError, match=r"feature_channels=100 does not match the backbone 'resnet18'.*stage 3 has"):
        SMMEmotionNet("resnet18", feature_channels=100)
    with pytest.raises(ValueError, match=r"region_names must have 4 names, got 2"):
        SMMEmotionNet(None, feature_channels=8, num_regions=4, num_labelled=2, dim=8, nhead=2, region_names=("a", "b"))
    with pytest.raises(ValueError, match=r"tokens must be one of \('all', 'labelled'\), got 'first'"):
        SMMEmotionNet(None, feature_channels=8, tokens="first")
    with pytest.raises(ValueError, match=r"message_average must be one of"):
        SMMEmotionNet(None, feature_channels=8, message_average="median")
    with pytest.raises(ValueError, match=r"num_regions must be a positive integer, got 0"):
        smm.ROIAttention(8, 0)
    with pytest.raises(TypeError, match=r"backbone must be a timm model name, an nn.Module or None"):
        SMMEmotionNet(42)


def test_module_bad_input_messages() -> None:
    embedding = smm.ROIEmbedding(8, 3, 4)
    with pytest.raises(ValueError, match=r"maps must have 3 regions \(dim 1\), got 2"):
        embedding(torch.randn(1, 8, 5, 5), torch.rand(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"maps must match x in batch size and spatial size: expected \(1, 3, 5, 5\)"):
        embedding(torch.randn(1, 8, 5, 5), torch.rand(1, 3, 4, 5))
    head = smm.SignVehicleHead(8, 4, 2, nhead=2)
    with pytest.raises(ValueError, match=r"f must have 4 regions \(dim 1\), got 3"):
        head(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"f must have 8 features \(dim 2\), got 6"):
        smm.MessageSpaceHead(8, 4)(torch.randn(2, 4, 6))
