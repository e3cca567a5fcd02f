"""What a loader's keyword overrides may change: every architecture field the weights fix is refused when it
disagrees with the stored config (naming the field), every preprocessing field is taken; and ``replace()`` keeps the
fields derived from another consistent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import smm
from smm.models.checkpoint import CheckpointError
from smm.models.config import PREPROCESSING_FIELDS
from smm.models.loader import ARCHITECTURE_FIELDS

#: For every architecture field, a value other than the tiny checkpoint's (a new field fails the first test).
DISAGREEING = {
    "backbone": "resnet34",
    "feature_index": 2,
    "in_chans": 1,
    "feature_channels": 999,
    "region_names": tuple(f"R{k}" for k in range(17)),
    "num_labelled": 5,
    "dim": 16,
    "nhead": 4,
    "dim_feedforward": 32,
    "num_layers": 2,
    "tokens": "labelled",
    "expression_names": tuple("abcdefgh"),
    "va_names": ("x", "y"),
    "backbone_kwargs": {"drop_rate": 0.5},
}
#: For every preprocessing field, a value other than the tiny checkpoint's.
PREPROCESSING = {
    "input_size": (3, 80, 80),
    "mean": (0.5, 0.5, 0.5),
    "std": (0.25, 0.25, 0.25),
    "interpolation": "bicubic",
    "crop_pct": 0.875,
    "crop_mode": "center",
}
#: Neither: what training or the message average does with the same weights.
FREE = {"input_dropout", "transformer_dropout", "message_average"}


def test_every_field_is_architecture_preprocessing_or_free() -> None:
    names = {f.name for f in dataclasses.fields(smm.SMMConfig)}
    assert set(ARCHITECTURE_FIELDS) == set(DISAGREEING)
    assert set(PREPROCESSING_FIELDS) == set(PREPROCESSING)
    assert names == set(ARCHITECTURE_FIELDS) | set(PREPROCESSING_FIELDS) | FREE


@pytest.mark.parametrize("field", sorted(DISAGREEING))
def test_an_architecture_override_that_disagrees_is_refused_naming_the_field(tiny_checkpoint: Path, field: str) -> None:
    stored = smm.load_checkpoint(tiny_checkpoint).config
    assert getattr(stored, field) != DISAGREEING[field]
    with pytest.raises(CheckpointError, match=rf"has {field}=.*but the keyword override says {field}=") as refused:
        smm.load_checkpoint(tiny_checkpoint, **{field: DISAGREEING[field]})
    assert "the weights fix it" in str(refused.value)
    if getattr(stored, field) is not None:  # the stored value itself is no disagreement
        assert getattr(smm.load_checkpoint(tiny_checkpoint, **{field: getattr(stored, field)}).config, field) == (
            getattr(stored, field)
        )


@pytest.mark.parametrize("field", sorted(PREPROCESSING))
def test_a_preprocessing_override_is_taken(tiny_checkpoint: Path, field: str) -> None:
    model = smm.load_checkpoint(tiny_checkpoint, **{field: PREPROCESSING[field]})
    assert getattr(model.config, field) == PREPROCESSING[field]
    assert model.data_config[field] == PREPROCESSING[field]
    plain = smm.load_checkpoint(tiny_checkpoint)
    for name, value in model.state_dict().items():  # the same weights
        assert torch.equal(value, plain.state_dict()[name]), name


def test_replace_keeps_the_derived_fields_consistent() -> None:
    grey = smm.ABAW3.replace(in_chans=1, image_size=64)
    assert grey.input_size == (1, 64, 64)
    assert grey.mean == pytest.approx((0.449,), abs=1e-9)  # (0.485 + 0.456 + 0.406) / 3
    assert grey.std == pytest.approx((0.22600000000000001,), abs=1e-9)  # (0.229 + 0.224 + 0.225) / 3
    assert smm.ABAW3.replace(in_chans=1).input_size == (1, 299, 299)
    assert smm.ABAW3.replace(in_chans=1, mean=(0.2,), std=(0.3,)).mean == (0.2,)  # given: kept
    assert smm.ABAW3.replace(in_chans=4).mean == pytest.approx((0.449,) * 4)
    assert smm.ABAW3.replace(image_size=128).input_size == (3, 128, 128)
    fewer = smm.ABAW3.replace(num_regions=14, num_labelled=12)
    assert fewer.region_names == tuple(f"region_{k}" for k in range(14))
    assert smm.ABAW3.replace(num_regions=17).region_names == smm.ABAW3.region_names  # same count: names kept
    assert smm.ABAW3.replace(num_classes=3).expression_names == ("class_0", "class_1", "class_2")
    assert smm.ABAW3.replace(va_dim=1).va_names == ("va_0",)
    with pytest.raises(ValueError, match=r"^region_names must have 5 names, got 17$"):
        smm.ABAW3.replace(num_regions=5, region_names=smm.ABAW3.region_names)


def test_a_one_channel_model_at_another_size_runs() -> None:
    torch.manual_seed(0)
    model = smm.SMMEmotionNet("resnet18", in_chans=1, image_size=64, dim=8, nhead=2, dim_feedforward=16).eval()
    assert model.data_config["input_size"] == (1, 64, 64)
    out = model(torch.rand(2, 1, 64, 64))
    assert out.au.shape == (2, 12)
    assert torch.isfinite(out.va).all()
    with pytest.raises(ValueError, match=r"channels"):
        model(torch.rand(2, 3, 64, 64))
