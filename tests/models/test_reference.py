"""The acceptance test: we compute what the published ABAW3 implementation computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import smm

TOL = {"atol": 1e-5, "rtol": 1e-4}


@pytest.fixture(scope="module")
def heads(reference_weights: dict[str, torch.Tensor]) -> smm.SMMEmotionNet:
    model = smm.SMMEmotionNet.abaw3(backbone=None)
    model.load_state_dict(smm.convert_reference_state_dict(reference_weights), strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def outputs(heads: smm.SMMEmotionNet, reference_tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = heads.forward_head(reference_tensors["input.feature_maps"])
        votes = heads.message_space(out.region_features, average="none")
    return {
        "AU": out.au,
        "EXPR": out.expr,
        "VA": out.va,
        "AU_features": out.au_features,
        "message_features": out.message,
        "message_features_per_region": votes.message,
        "EXPR_per_region": votes.expr,
        "VA_per_region": votes.va,
    }


@pytest.mark.parametrize(
    "name",
    [
        "AU",
        "EXPR",
        "VA",
        "AU_features",
        "message_features",
        "message_features_per_region",
        "EXPR_per_region",
        "VA_per_region",
    ],
)
def test_heads_reproduce_reference(name: str, outputs: dict[str, torch.Tensor], reference_tensors) -> None:
    expected = reference_tensors[f"expected.{name}"]
    torch.testing.assert_close(outputs[name], expected, **TOL)


def test_averaging_logits_reproduces_reference(heads, reference_tensors) -> None:
    with torch.no_grad():
        f = heads.forward_head(reference_tensors["input.feature_maps"]).region_features
        by_logits = heads.message_space(f, average="logits")
    torch.testing.assert_close(by_logits.expr, reference_tensors["expected.EXPR"], **TOL)
    torch.testing.assert_close(by_logits.va, reference_tensors["expected.VA"], **TOL)


def test_reference_positional_encoding_is_ours(heads, reference_weights) -> None:
    # The converter drops the stored table because we recompute it: prove they agree.
    stored = reference_weights["positional_encoding.pos_embedding"][: heads.num_regions, 0]
    torch.testing.assert_close(heads.sign_vehicle.pe, stored, atol=1e-6, rtol=0)


def _state_dict_from_keys(fixture_dir: Path) -> dict[str, torch.Tensor]:
    keys = json.loads((fixture_dir / "checkpoint_keys.json").read_text())["state_dict"]
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:
            state[key] = torch.randn(shape, generator=generator)
    return state


def test_full_checkpoint_loads_strict(fixture_dir: Path) -> None:
    reference = _state_dict_from_keys(fixture_dir)
    converted = smm.convert_reference_state_dict(reference)
    model = smm.SMMEmotionNet.abaw3()
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys
    assert not result.unexpected_keys
    # Every reference tensor lands somewhere: nothing but the recomputed PE table is dropped.
    n_reference = sum(v.numel() for k, v in reference.items() if k != "positional_encoding.pos_embedding")
    assert sum(v.numel() for v in converted.values()) == n_reference - 2 * (17 - 1)  # BN counters merged
    # A backbone weight arrives unchanged, at timm's name for the same module.
    torch.testing.assert_close(
        model.backbone.Mixed_6e.branch7x7dbl_5.conv.weight, reference["backbone_CNN.14.branch7x7dbl_5.conv.weight"]
    )


def test_load_reference_checkpoint(tmp_path: Path, fixture_dir: Path, reference_tensors) -> None:
    reference = _state_dict_from_keys(fixture_dir)
    path = tmp_path / "reference.ckpt"
    torch.save({"epoch": 3, "global_step": 10, "state_dict": reference}, path)
    model = smm.load_reference_checkpoint(path)
    assert not model.training
    weight = model.roi_embedding.conv1_weight[5 * 16 : 6 * 16]
    torch.testing.assert_close(weight, reference["AU_Metric_Modules.5.Conv1.0.weight"])
    images = torch.randn(1, 3, 299, 299)
    with torch.no_grad():
        out = model(images)
    assert out.au.shape == (1, 12)
    assert out.attention.shape == (1, 17, 17, 17)


def test_load_reference_checkpoint_heads_only(tmp_path: Path, reference_weights, reference_tensors) -> None:
    path = tmp_path / "heads.pt"
    torch.save(dict(reference_weights), path)
    model = smm.load_reference_checkpoint(path)
    assert model.backbone is None
    with torch.no_grad():
        out = model.forward_head(reference_tensors["input.feature_maps"])
    torch.testing.assert_close(out.au, reference_tensors["expected.AU"], **TOL)


def test_load_reference_checkpoint_refuses_pickled_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": _Opaque()}, path)
    with pytest.raises(ValueError, match=r"weights_only=True"):
        smm.load_reference_checkpoint(path)


class _Opaque:
    pass


def test_convert_rejects_unknown_keys(reference_weights) -> None:
    state = dict(reference_weights)
    state["some_other_head.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"some_other_head\.weight"):
        smm.convert_reference_state_dict(state)


def test_convert_rejects_gaps_in_region_numbering(reference_weights) -> None:
    state = {k: v for k, v in reference_weights.items() if not k.startswith("transformation_matrices.3.")}
    with pytest.raises(ValueError, match=r"numbered 0\.\.15"):
        smm.convert_reference_state_dict(state)
