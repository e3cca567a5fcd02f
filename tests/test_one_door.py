"""One door per job: every loader gives the same model, every prediction path the same numbers, no import loop."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import timm.data
import torch
from PIL import Image

import smm
from smm.inference import Preprocess, predict_frames
from smm.models.checkpoint import CheckpointError
from smm.models.registry import CACHE_ENV
from smm.training import DEMO_RECIPE, train
from tests.media import write_video
from tests.tiny import tiny_emotionnet

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder ``smm-emotionnet train`` writes (the demo recipe: a ResNet-18 at 64 px), after two steps."""
    out = tmp_path_factory.mktemp("runs") / "demo"
    train(DEMO_RECIPE.replace(steps=2, val_every=2, save_every=2), out, log=lambda _: None, precision="fp32")
    return out


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as the demo writes it (ResNet-18 at 64 px), saved without training: fast."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("saved") / "demo"
    smm.create_model("smm_resnet18", image_size=64).save_pretrained(folder)
    return folder


def _outputs(model: smm.SMMEmotionNet, images: torch.Tensor) -> smm.SMMOutput:
    with torch.no_grad():
        return model.eval()(images)


def test_every_door_gives_the_trainers_model(demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    single = tmp_path / "single"  # the same weights as a lone file, its config beside it
    single.mkdir()
    for name in ("model.safetensors", "config.json"):
        (single / name).write_bytes((demo_run / name).read_bytes())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "smm_resnet18").symlink_to(demo_run)
    doors = {
        "load_checkpoint(folder)": smm.load_checkpoint(demo_run),
        "load_checkpoint(file)": smm.load_checkpoint(single / "model.safetensors"),
        "create_model(name, pretrained=folder)": smm.create_model("smm_resnet18", pretrained=demo_run),
        "create_model(name, pretrained=True)": smm.create_model("smm_resnet18", pretrained=True),
        "from_pretrained(folder)": smm.SMMEmotionNet.from_pretrained(demo_run),
        "load_checkpoint(cache name)": smm.load_checkpoint("smm_resnet18"),
    }
    stored = json.loads((demo_run / "config.json").read_text())["config"]
    assert stored["input_size"] == [3, 64, 64]
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    reference = _outputs(doors["load_checkpoint(folder)"], images)
    for door, model in doors.items():
        assert model.data_config["input_size"] == (3, 64, 64), door  # never the registry's 224
        assert model.config == doors["load_checkpoint(folder)"].config, door
        assert model.config.to_dict() == {**smm.SMMConfig.from_dict(stored).to_dict()}, door
        for field, got, expected in zip(smm.SMMOutput._fields, _outputs(model, images), reference, strict=True):
            assert torch.equal(got, expected), f"{door}: {field}"


def test_precedence_overrides_then_stored_config_then_registry(saved_run: Path, tmp_path: Path) -> None:
    # An override of preprocessing wins over the stored config ...
    model = smm.load_checkpoint(saved_run, input_size=(3, 96, 96), interpolation="bicubic")
    assert model.data_config["input_size"] == (3, 96, 96)
    assert model.data_config["interpolation"] == "bicubic"
    assert smm.create_model("smm_resnet18", pretrained=saved_run, crop_pct=0.9).config.crop_pct == 0.9
    # ... but one of the architecture, which the weights fix, is an error naming both.
    with pytest.raises(CheckpointError, match=r"config\.json has dim=16, but the keyword override says dim=8"):
        smm.load_checkpoint(saved_run, dim=8)
    with pytest.raises(
        CheckpointError, match=r"has backbone='resnet18', but the keyword override says backbone='resnet50'"
    ):
        smm.create_model("smm_resnet18", pretrained=saved_run, backbone="resnet50")
    # A variant of the entry (other regions) is the stored config's to say.
    variant = smm.create_model("smm_resnet18", num_regions=5, num_labelled=3, image_size=48)
    variant.save_pretrained(tmp_path / "variant")
    loaded = smm.create_model("smm_resnet18", pretrained=tmp_path / "variant")
    assert loaded.config == variant.config
    # The registry entry's defaults apply where nothing is stored: a bare safetensors file.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.safetensors").write_bytes((saved_run / "model.safetensors").read_bytes())
    assert smm.create_model("smm_resnet18", pretrained=bare).data_config["input_size"] == (3, 224, 224)
    assert smm.create_model("smm_resnet18", pretrained=bare, image_size=64).data_config["input_size"] == (3, 64, 64)
    # A stored config of another architecture is not silently built as the named entry.
    with pytest.raises(CheckpointError, match=r"config\.json is not a 'smm_abaw3' model: it has backbone='resnet18'"):
        smm.create_model("smm_abaw3", pretrained=saved_run)


def test_an_ambiguous_folder_names_both_files(saved_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "both"
    folder.mkdir()
    for name in ("model.safetensors", "config.json"):
        (folder / name).write_bytes((saved_run / name).read_bytes())
    (folder / "resume.pt").write_bytes(b"not weights")  # the trainer's resume state is never a candidate
    assert smm.load_checkpoint(folder).data_config["input_size"] == (3, 64, 64)
    (folder / "published.ckpt").write_bytes(b"PK\x03\x04")
    for load in (smm.load_checkpoint, smm.SMMEmotionNet.from_pretrained):
        with pytest.raises(CheckpointError, match=r"is ambiguous: it holds model\.safetensors and published\.ckpt"):
            load(folder)
    with pytest.raises(CheckpointError, match=r"is ambiguous"):
        smm.create_model("smm_resnet18", pretrained=folder)


def test_the_hub_config_is_read_and_checked(saved_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[tuple[str, str]] = []

    def download(repo: str, filename: str) -> str:  # a stand-in for huggingface_hub's, offline
        fetched.append((repo, filename))
        return str(saved_run / filename)

    hub = type(sys)("huggingface_hub")
    hub.hf_hub_download = download
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    model = smm.create_model("smm_resnet18", pretrained="hf-hub:someone/smm-demo")
    assert fetched == [("someone/smm-demo", "model.safetensors"), ("someone/smm-demo", "config.json")]
    assert model.data_config["input_size"] == (3, 64, 64)  # from the downloaded config.json
    with pytest.raises(CheckpointError, match=r"config\.json has num_labelled=12, but the keyword override says"):
        smm.load_checkpoint("hf-hub:someone/smm-demo", num_labelled=3)


def test_constants_are_imported_from_where_they_are_defined() -> None:
    for path in (ROOT / "smm").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in ("smm.losses", "smm.data.annotations", "smm"):
                names = {alias.name for alias in node.names}
                assert not names & {"MISSING_LABEL", "MISSING_VA", "MULTITASK_HEADER", "__version__"}, path


# --- one inference core ------------------------------------------------------------------------------------------


def _faces(count: int) -> list[np.ndarray]:
    """``count`` 112 x 112 face crops (scikit-image's astronaut, drifting), uint8 RGB."""
    skimage_data = pytest.importorskip("skimage.data")
    face = Image.fromarray(skimage_data.astronaut()).crop((150, 30, 310, 190))
    return [np.asarray(face.rotate(3 * k, resample=Image.BILINEAR).resize((112, 112))) for k in range(count)]


class _KnownLandmarks:
    """A detector that finds one face whose landmarks are the alignment template: the crop is the frame."""

    min_face_size = 0

    def detect(self, images: list[np.ndarray]) -> list:
        from smm.face import TEMPLATE_112, Faces

        return [
            Faces(np.array([[0, 0, 112, 112]], np.float32), np.ones(1, np.float32), TEMPLATE_112[None].copy())
            for _ in images
        ]


@pytest.mark.parametrize("alpha", [None, "published", {"AU": 3.0, "VA": 0.5}])
def test_frames_and_video_paths_give_the_same_outputs(tmp_path: Path, model: smm.SMMEmotionNet, alpha: object) -> None:
    pytest.importorskip("av")
    frames = _faces(9)
    folder = tmp_path / "video"
    folder.mkdir()
    for k, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{k}.png")  # unpadded names: frame 10 would sort after 9
    write_video(tmp_path / "video.mkv", frames, 25, lossless=True)  # the decoder returns these pixels
    options = {"batch_size": 4, "precision": "fp32", "alpha": alpha}
    from_frames = predict_frames(model, folder, **options)
    from_video = smm.predict_video(model, tmp_path / "video.mkv", detector=_KnownLandmarks(), **options)
    assert from_video.frame.tolist() == from_frames.frame.tolist() == list(range(1, 10))
    assert from_video.observed.all()
    assert from_frames.observed.all()
    for field in ("au_prob", "au", "expr_prob", "expr", "va"):
        assert torch.equal(getattr(from_video, field), getattr(from_frames, field)), field
    unsmoothed = predict_frames(model, folder, batch_size=4, precision="fp32")
    if alpha is not None:  # the option has an effect, on both paths alike
        assert not torch.allclose(from_video.au_prob, unsmoothed.au_prob)


def test_preprocessing_is_timms_for_every_crop_mode() -> None:
    crop = Image.fromarray(_faces(1)[0]).resize((96, 80))
    for config in (
        smm.ABAW3.replace(image_size=64),
        smm.ABAW3.replace(image_size=64, crop_pct=0.875, crop_mode="center", interpolation="bicubic"),
        smm.ABAW3.replace(image_size=48, crop_pct=0.9, crop_mode="squash"),
    ):
        ours = Preprocess(config.data_config)(crop)
        theirs = timm.data.create_transform(**config.data_config)(crop)
        assert torch.equal(ours, theirs), config.data_config
        assert torch.equal(Preprocess(config.data_config)(np.asarray(crop)), theirs)  # arrays as images


def test_crop_pct_reaches_the_model_end_to_end(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=64, crop_pct=0.75).eval()
    model.config = model.config.replace(crop_mode="center")
    crops = _faces(3)
    for k, crop in enumerate(crops, start=1):
        Image.fromarray(crop).save(tmp_path / f"{k:05d}.png")
    got = predict_frames(model, tmp_path, precision="fp32")
    # Written here: resize the shorter side to 64 / 0.75 = 85 px, keep the central 64 x 64, normalise.
    inputs = []
    for crop in crops:
        image = Image.fromarray(crop).resize((85, 85), Image.BILINEAR)
        image = image.crop((10, 10, 74, 74))
        array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
        mean, std = torch.tensor(model.config.mean).view(3, 1, 1), torch.tensor(model.config.std).view(3, 1, 1)
        inputs.append((array - mean) / std)
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.stack(inputs)).au)
    torch.testing.assert_close(got.au_prob, expected, atol=2e-3, rtol=0)
    whole = tiny_emotionnet(seed=None)
    whole.load_state_dict(model.state_dict())
    assert not torch.allclose(predict_frames(whole, tmp_path, precision="fp32").au_prob, got.au_prob)


# --- the 0.2 names -----------------------------------------------------------------------------------------------


def _warns(new: str):
    return pytest.warns(DeprecationWarning, match=rf"deprecated .*; use {new}")


def test_every_deprecated_name_warns_and_still_works(tmp_path: Path) -> None:
    torch.manual_seed(0)
    f = torch.randn(2, 5, 8)
    head = smm.MessageSpaceHead(8, 5, average="logits")
    with _warns("average="):
        old = smm.MessageSpaceHead(8, 5, reduction="logits")
    old.load_state_dict(head.state_dict())
    assert torch.equal(old(f).expr, head(f).expr)
    with _warns("average="):
        votes = head(f, reduction="none")
    assert torch.equal(votes.expr, head(f, "none").expr)
    assert votes.expr.shape == (2, 5, 8)
    with _warns("MessageSpaceHead.average"):
        assert head.reduction == "logits"
    with _warns(r"smm\.MessageSpaceOutput"):
        assert smm.MessageOutput is smm.MessageSpaceOutput
    with _warns("feature_channels="), _warns("message_average="):
        config = smm.SMMConfig(in_channels=32, message_reduction="logits")
    assert config.feature_channels == 32
    assert config.message_average == "logits"
    with _warns("message_average="):
        assert smm.ABAW3.replace(message_reduction="none").message_average == "none"
    with _warns("SMMConfig.feature_channels"):
        assert smm.ABAW3.in_channels == 768
    with _warns("SMMConfig.message_average"):
        assert smm.ABAW3.message_reduction == "features"
    with _warns("feature_channels="):
        model = smm.SMMEmotionNet(None, in_channels=32, num_regions=5, num_labelled=3, dim=8, nhead=2)
    assert model.feature_channels == 32
    with _warns("SMMEmotionNet.feature_channels"):
        assert model.in_channels == 32
    maps = torch.randn(1, 32, 6, 6)
    with _warns("SMMEmotionNet.forward_head"), torch.no_grad():
        assert torch.equal(model.eval().forward_heads(maps).au, model.forward_head(maps).au)
    with pytest.raises(TypeError, match=r"give feature_channels= only"):
        smm.SMMConfig(in_channels=32, feature_channels=32)


def test_a_01_config_json_still_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = smm.SMMEmotionNet(None, feature_channels=32, num_regions=5, num_labelled=3, dim=8, nhead=2)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    config = saved["config"]
    config["in_channels"] = config.pop("feature_channels")  # as 0.1 wrote it
    config["message_reduction"] = config.pop("message_average")
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = smm.load_checkpoint(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(loaded.roi_embedding.conv1_weight, model.roi_embedding.conv1_weight)


# --- the loader's edges ------------------------------------------------------------------------------------------


def test_published_checkpoints_go_through_the_same_door(
    tmp_path: Path, reference_weights: dict[str, torch.Tensor]
) -> None:
    torch.save({"state_dict": dict(reference_weights)}, tmp_path / "published.ckpt")  # heads only
    model = smm.load_checkpoint(tmp_path / "published.ckpt")
    assert model.backbone is None
    assert model.config == smm.ABAW3.replace(backbone=None)
    torch.testing.assert_close(model.message_space.transforms[3], reference_weights["transformation_matrices.3.weight"])
    with pytest.raises(
        CheckpointError,
        match=r"published\.ckpt \(a published-code checkpoint of the ABAW3 model\) has dim=16, but the keyword",
    ):
        smm.load_checkpoint(tmp_path / "published.ckpt", dim=8)
    heads = smm.create_model("smm_abaw3", pretrained=tmp_path / "published.ckpt")  # a heads-only file of the entry
    assert heads.backbone is None
    model.save_pretrained(tmp_path / "heads")  # and our own heads-only folder
    assert smm.create_model("smm_abaw3", pretrained=tmp_path / "heads").config == model.config


def test_the_card_and_unrecorded_fields(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = smm.create_model("smm_resnet18", image_size=48)
    model.save_pretrained(tmp_path / "run", training_data="mine", metrics={"p_mtl": 1.5})
    loaded = smm.load_checkpoint(tmp_path / "run")
    assert loaded.card == {"training_data": "mine", "metrics": {"p_mtl": 1.5}}
    assert smm.create_model("smm_resnet18").card == {}
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    saved["card"] = ["not", "a", "mapping"]
    saved["config"]["feature_channels"] = None  # not recorded: an override may say it
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    loaded = smm.load_checkpoint(tmp_path / "run", feature_channels=256)
    assert loaded.card == {}
    assert loaded.feature_channels == 256
    # Overrides equal to the stored values, in another spelling, are no conflict.
    same = smm.load_checkpoint(tmp_path / "run", region_names=list(model.region_names), backbone_kwargs={})
    assert same.config.region_names == model.region_names
    with pytest.raises(CheckpointError, match=r"has backbone_kwargs=\{\}, but the keyword override says"):
        smm.load_checkpoint(tmp_path / "run", backbone_kwargs={"drop_rate": 0.1})
    with pytest.raises(CheckpointError, match=r"has region_names=\('AU1', .*, but the keyword override says"):
        smm.load_checkpoint(tmp_path / "run", region_names=[f"r{i}" for i in range(17)])


def test_sources_that_are_not_one(tmp_path: Path) -> None:
    from smm.models.loader import resolve_source

    with pytest.raises(
        ValueError, match=r"^pretrained=True needs a registry name \(create_model\(name, pretrained=True\)\)$"
    ):
        resolve_source(True)
    for bad in (None, False):
        with pytest.raises(TypeError, match=r"^source must be a path, a registry name or 'hf-hub:org/name', got "):
            resolve_source(bad)
    (tmp_path / "weights.npz").write_bytes(b"PK")
    with pytest.raises(
        CheckpointError,
        match=r"weights\.npz: not a checkpoint file \(expected \.safetensors or a published-code \.ckpt, \.pt, ",
    ):
        smm.load_checkpoint(tmp_path / "weights.npz")
    with pytest.raises(
        FileNotFoundError, match=r"checkpoint smm_nothing does not exist \(nor is it a registered model: smm_abaw3, "
    ):
        smm.load_checkpoint("smm_nothing")
