"""Checkpoint folders: config and preprocessing travel with the weights; short errors for what does not fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import smm
from smm.models.builder import load_checkpoint
from smm.models.checkpoint import CheckpointError, save_checkpoint

SMALL = {"num_regions": 5, "num_labelled": 3, "dim": 8, "nhead": 2, "dim_feedforward": 16}


class TinyBackbone(nn.Module):
    """A custom (non-timm) backbone: images -> (B, 6, h, w)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=4, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_custom_backbone_saves_and_loads_with_its_instance(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = smm.SMMEmotionNet(TinyBackbone(), feature_channels=6, image_size=32, **SMALL).eval()
    assert model.config.backbone == f"custom:{__name__}.TinyBackbone"
    save_checkpoint(model, tmp_path)
    with pytest.raises(
        ValueError, match=rf"custom module \({__name__}\.TinyBackbone\): pass backbone=<an instance of it>"
    ):
        load_checkpoint(tmp_path)
    loaded = load_checkpoint(tmp_path, backbone=TinyBackbone())
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images).au, model(images).au)
    torch.testing.assert_close(loaded.backbone.conv.weight, model.backbone.conv.weight)


def test_weights_of_another_architecture_give_one_short_line(tmp_path: Path) -> None:
    smm.SMMEmotionNet(None, feature_channels=32, **SMALL).save_pretrained(tmp_path / "small")
    config = json.loads((tmp_path / "small" / "config.json").read_text())
    config["config"]["dim"] = 16
    (tmp_path / "small" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path / "small")
    message = str(error.value)
    assert "\n" not in message
    assert len(message) < 400
    assert "the weights are for C=32 channels, U=5 regions, H=3 AUs, K=8 classes, D=8, no backbone" in message
    assert "the model has C=32 channels, U=5 regions, H=3 AUs, K=8 classes, D=16, no backbone" in message


def test_published_model_file_without_config_is_checked_against_abaw3(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = smm.SMMEmotionNet(None, feature_channels=32, **SMALL).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "model.safetensors")
    with pytest.raises(
        CheckpointError,
        match=r"the ABAW3 model \(no config\.json beside model\.safetensors\): the weights are for C=32",
    ):
        load_checkpoint(tmp_path / "model.safetensors")


@pytest.mark.parametrize("name", ["face.jpg", "notes.txt", "model.safetensors", "model.ckpt"])
def test_files_that_are_not_checkpoints(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".jpg"):
        Image.new("RGB", (8, 8)).save(path)
    else:
        path.write_text("hello, this is text\n")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a checkpoint")
    assert "weights_only=False" not in message
    assert "\n" not in message


def test_pickled_objects_are_refused_without_running_them(tmp_path: Path) -> None:
    torch.save({"state_dict": {"a": torch.zeros(1)}, "optimizer": nn.Linear(1, 1)}, tmp_path / "x.ckpt")
    with pytest.raises(
        CheckpointError, match=r"x\.ckpt: not a checkpoint \(torch\.load with weights_only=True: it holds"
    ):
        load_checkpoint(tmp_path / "x.ckpt")


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*nowhere does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"checkpoint folder .*empty holds no weights: expected model\.safetensors"
    ):
        load_checkpoint(tmp_path / "empty")


def test_model_card_and_config_record_the_run(tmp_path: Path) -> None:
    model = smm.SMMEmotionNet("resnet18", image_size=96, **SMALL)
    save_checkpoint(model, tmp_path, training_data="Aff-Wild2 (ABAW3)", metrics={"P_MTL": 1.25}, license="CC-BY-NC-4.0")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "SMMEmotionNet"
    assert config["config"]["input_size"] == [3, 96, 96]
    assert config["card"] == {
        "training_data": "Aff-Wild2 (ABAW3)",
        "metrics": {"P_MTL": 1.25},
        "license": "CC-BY-NC-4.0",
    }
    card = (tmp_path / "README.md").read_text()
    assert "license: CC-BY-NC-4.0" in card
    assert "- training data: Aff-Wild2 (ABAW3)" in card
    assert '- metrics: {"P_MTL": 1.25}' in card
    assert "- input: 96x96" in card
    # The card's template sections: intended use, limitations and the paper to cite.
    sections = [line for line in card.splitlines() if line.startswith("## ")]
    assert sections == ["## Model", "## Training", "## Intended use", "## Limitations", "## Citation"]
    assert "Not for decisions about individuals" in card
    assert "eprint        = {2203.12845}" in card
    assert load_checkpoint(tmp_path).data_config["input_size"] == (3, 96, 96)
    save_checkpoint(model, tmp_path / "own", intended_use="Lab study X only.", limitations="Tested on 20 people.")
    own = (tmp_path / "own" / "README.md").read_text()
    assert "## Intended use\n\nLab study X only.\n" in own
    assert "## Limitations\n\nTested on 20 people.\n" in own
    assert "Not for decisions about individuals" not in own
    assert "- intended_use" not in own  # not listed twice
    with pytest.raises(TypeError, match="model card entries must be JSON-able"):
        save_checkpoint(model, tmp_path / "bad", metrics=torch.zeros(1))


def test_a_failed_save_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = smm.SMMEmotionNet(None, feature_channels=32, **SMALL)
    save_checkpoint(model, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with torch.no_grad():
        model.message_space.expr.bias.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(model, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing half-written, no temp files


def test_checkpoints_of_version_0_1_still_load(tmp_path: Path) -> None:
    model = smm.SMMEmotionNet("resnet18", feature_index=3, **SMALL).eval()
    save_checkpoint(model, tmp_path)
    legacy = {
        "smm_version": "0.1.0",
        "model": {
            "backbone": "resnet18", "feature_index": 3, "in_chans": 3, "num_regions": 5, "num_labelled": 3,
            "dim": 8, "nhead": 2, "dim_feedforward": 16, "num_layers": 1, "transformer_dropout": 0.1,
            "input_dropout": 0.3, "tokens": "all", "num_classes": 8, "va_dim": 2, "message_reduction": "features",
            "region_names": None, "expression_names": None, "va_names": None, "backbone_kwargs": None,
            "in_channels": 256,
        },
        "image_size": 64,
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(legacy))
    loaded = load_checkpoint(tmp_path)
    assert loaded.data_config["input_size"] == (3, 64, 64)
    torch.testing.assert_close(loaded.state_dict()["sign_vehicle.au_bias"], model.state_dict()["sign_vehicle.au_bias"])
