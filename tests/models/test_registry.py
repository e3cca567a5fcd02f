"""One config per model, the registry, and offline resolution of pretrained weights."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

import smm
from smm.data import eval_transform
from smm.models.builder import create_model
from smm.models.registry import CACHE_ENV, ModelEntry, list_models, model_entry

REGISTERED = (
    "smm_abaw3",
    "smm_convnext_tiny",
    "smm_efficientnet_b0",
    "smm_mobilenetv3_large_100",
    "smm_resnet18",
    "smm_resnet50",
)

SMALL = {"dim": 8, "nhead": 2, "dim_feedforward": 16}


def test_plain_constructor_is_the_published_model() -> None:
    assert smm.SMMEmotionNet().config == smm.ABAW3
    assert smm.SMMEmotionNet.abaw3().config == smm.ABAW3
    assert smm.create_model("smm_abaw3").config == smm.ABAW3
    assert smm.ABAW3.feature_index == 3
    assert smm.SMMEmotionNet().data_config == {
        "input_size": (3, 299, 299),
        "interpolation": "bilinear",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "crop_pct": 1.0,
        "crop_mode": "squash",
    }


def test_overrides_and_the_preprocessing_of_another_backbone() -> None:
    model = smm.SMMEmotionNet(backbone="resnet18", pretrained_backbone=False)
    cfg = timm.get_pretrained_cfg("resnet18").to_dict()
    assert model.config.backbone == "resnet18"
    assert model.feature_channels == 256  # stage 3 of resnet18
    assert model.data_config["input_size"] == tuple(cfg["input_size"])
    assert model.data_config["interpolation"] == cfg["interpolation"]
    assert model.data_config["mean"] == tuple(cfg["mean"])
    sized = smm.SMMEmotionNet("resnet18", image_size=96)
    assert sized.data_config["input_size"] == (3, 96, 96)
    assert sized.data_config["interpolation"] == "bilinear"  # given preprocessing is kept whole
    with pytest.raises(TypeError, match=r"unknown SMMConfig field\(s\) \['depth'\]"):
        smm.SMMEmotionNet(depth=3)


def test_config_round_trips_through_json() -> None:
    config = smm.ABAW3.replace(num_regions=5, num_labelled=3, image_size=128, tokens="labelled")
    assert config.region_names == tuple(f"region_{i}" for i in range(5))
    assert smm.SMMConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"input_size must be \(in_chans=3, H, W\)"):
        smm.ABAW3.replace(input_size=(1, 64, 64))


def test_timm_builds_the_same_transform_from_data_config() -> None:
    model = smm.SMMEmotionNet("resnet18", image_size=72, **SMALL)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8))
    ours = eval_transform(model.data_config)(image)
    theirs = timm.data.create_transform(**model.data_config)(image)
    assert ours.shape == (3, 72, 72)
    torch.testing.assert_close(ours, theirs)
    # the published transform, written here: squash to size, ImageNet normalisation
    resized = np.asarray(image.resize((72, 72), Image.BILINEAR), dtype=np.float32) / 255
    expected = (torch.from_numpy(resized).permute(2, 0, 1) - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / (
        torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    )
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    gray = eval_transform(model.data_config)(image.convert("L"))
    assert gray.shape == (3, 72, 72)


def test_list_models() -> None:
    assert list_models() == sorted(REGISTERED)
    assert list_models("smm_res*") == ["smm_resnet18", "smm_resnet50"]
    assert list_models("nothing*") == []
    with pytest.raises(ValueError, match=r"unknown model 'smm_vit'; known: smm_abaw3, "):
        create_model("smm_vit")


@pytest.mark.parametrize("name", REGISTERED)
def test_every_entry_round_trips(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    entry = model_entry(name)
    assert entry.description
    size = model.data_config["input_size"]
    images = torch.randn(2, *size)
    with torch.no_grad():
        expected = model(images)
    folder = tmp_path / name
    model.save_pretrained(folder)
    for loaded in (smm.load_checkpoint(folder), smm.SMMEmotionNet.from_pretrained(folder / "model.safetensors")):
        assert loaded.config == model.config
        assert loaded.data_config == model.data_config
        with torch.no_grad():
            got = loaded(images)
        for field, a, b in zip(smm.SMMOutput._fields, got, expected, strict=True):
            torch.testing.assert_close(a, b, msg=field)
    again = create_model(name, pretrained=folder)  # a folder given as pretrained
    torch.testing.assert_close(
        again.state_dict()["message_space.transforms"], model.state_dict()["message_space.transforms"]
    )


def test_pretrained_resolves_from_the_cache_then_says_where_to_put_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as error:
        create_model("smm_resnet18", pretrained=True)
    folder = tmp_path / "cache" / "smm_resnet18"
    assert str(error.value) == (
        "no weights are published for 'smm_resnet18': it is an architecture to train (smm-emotionnet train "
        "--model smm_resnet18); pass pretrained='path/to/your/run' to load your own, or put model.safetensors "
        f"with its config.json in {folder}/"
    )
    with pytest.raises(FileNotFoundError) as published:
        create_model("smm_abaw3", pretrained=True)
    assert str(published.value) == (
        f"no weights for 'smm_abaw3' in {tmp_path / 'cache' / 'smm_abaw3'}/ (set {CACHE_ENV} to use another "
        "folder): the published checkpoint (a PyTorch Lightning .ckpt) is linked from the README of "
        "https://github.com/wtomin/ABAW3_MultiEmotionNet; download it, then install it with: "
        "smm-emotionnet convert --checkpoint PATH/TO/FILE.ckpt --install"
    )
    torch.manual_seed(1)
    trained = create_model("smm_resnet18")
    trained.save_pretrained(tmp_path / "cache" / "smm_resnet18")
    loaded = create_model("smm_resnet18", pretrained=True)
    assert not loaded.training
    torch.testing.assert_close(
        loaded.state_dict()["sign_vehicle.au_weight"], trained.state_dict()["sign_vehicle.au_weight"]
    )
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*missing\.safetensors does not exist"):
        create_model("smm_resnet18", pretrained=tmp_path / "missing.safetensors")


def test_published_ckpt_in_the_cache_converts_on_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_weights: dict[str, torch.Tensor]
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    folder = tmp_path / "smm_abaw3"
    folder.mkdir()
    torch.save({"state_dict": dict(reference_weights)}, folder / "model.ckpt")
    model = create_model("smm_abaw3", pretrained=True, backbone=None)
    torch.testing.assert_close(model.message_space.transforms[3], reference_weights["transformation_matrices.3.weight"])


def test_sha256_is_checked_when_recorded(tmp_path: Path) -> None:
    model = create_model("smm_resnet18")
    path = model.save_pretrained(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    from smm.models import registry  # the new home: the old path warns (and warnings are errors here)

    good = ModelEntry("test_sha_good", model.config, "test", sha256=digest)
    bad = ModelEntry("test_sha_bad", model.config, "test", sha256="0" * 64)
    for entry in (good, bad):
        registry.register_model(entry)
    try:
        create_model("test_sha_good", pretrained=path)
        with pytest.raises(smm.CheckpointError, match=rf"sha256 {digest} is not the one recorded for 'test_sha_bad'"):
            create_model("test_sha_bad", pretrained=path)
        with pytest.raises(ValueError, match="already registered"):
            registry.register_model(good)
    finally:
        for entry in (good, bad):
            registry._REGISTRY.pop(entry.name)


def test_hf_hub_ids_need_huggingface_hub_or_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install huggingface_hub"):
        create_model("smm_resnet18", pretrained="hf-hub:someone/smm-resnet18")


def test_import_is_lazy_and_cli_help_does_not_import_torch() -> None:
    code = (
        "import sys, smm; assert 'torch' not in sys.modules, 'import smm imported torch'\n"
        "from smm.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, '--help imported torch'\n"
        "smm.metrics.ABAWMetrics; smm.data.read_video_list\n"
        "assert 'torch' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "check-submission" in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "smm.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert version.stdout.strip() == f"smm-emotionnet {smm.__version__}"
