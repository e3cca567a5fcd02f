"""Preprocessing of many face crops at once, against Pillow's per-crop path (timm's eval transform)."""

from __future__ import annotations

import numpy as np
import pytest
import timm.data
import torch
from PIL import Image

import smm
from smm.inference import Preprocess
from smm.inference.core import image_features
from smm.inference.preprocess import ModelBatches
from tests.tiny import RecordingEngine, tiny_emotionnet


def _noise(count: int, height: int = 112, width: int = 112, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, height, width, 3), dtype=torch.uint8, generator=g)


def _face() -> torch.Tensor:
    """A real face (scikit-image's astronaut) as one 112 x 112 crop, ``[1, 112, 112, 3]`` uint8."""
    data = pytest.importorskip("skimage.data")
    face = Image.fromarray(data.astronaut()).crop((150, 30, 310, 190)).resize((112, 112))
    return torch.from_numpy(np.asarray(face).copy())[None]


def _grey_levels(config: smm.SMMConfig, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """How far apart two model inputs are, in grey levels (0..255) of the crop."""
    std = torch.tensor(config.data_config["std"]).view(1, -1, 1, 1)
    return (a - b).abs() * std * 255


BATCHED = [
    pytest.param(smm.ABAW3, id="published 299 squash"),
    pytest.param(smm.ABAW3.replace(image_size=64, crop_pct=0.875, crop_mode="center"), id="centre crop 0.875"),
    pytest.param(smm.ABAW3.replace(image_size=48, crop_pct=0.9), id="squash 0.9, downscaled"),
    pytest.param(smm.ABAW3.replace(in_chans=1, image_size=64), id="grey"),
]


@pytest.mark.parametrize("config", BATCHED)
@pytest.mark.parametrize("size", [(112, 112), (80, 96)], ids=["square", "wider"])
def test_a_batch_is_pillows_crop_by_crop_within_one_grey_level(config: smm.SMMConfig, size: tuple[int, int]) -> None:
    face = np.asarray(Image.fromarray(_face()[0].numpy()).resize(size[::-1]))
    crops = torch.cat([_noise(3, *size), torch.from_numpy(face.copy())[None]])
    transform = Preprocess(config.data_config)
    assert transform._steps is not None  # the torch path ran, not Pillow's
    got = transform.batch(crops)
    # The reference: timm's own transform on each crop as a Pillow image (not our wrapper).
    mode = "L" if config.in_chans == 1 else "RGB"
    theirs = timm.data.create_transform(**config.data_config)
    expected = torch.stack([theirs(Image.fromarray(crop.numpy()).convert(mode)) for crop in crops])
    assert got.shape == expected.shape == (4, *config.data_config["input_size"])
    assert got.dtype == torch.float32
    assert got.is_contiguous()
    assert _grey_levels(config, got, expected).max() <= 1 + 1e-3
    assert _grey_levels(config, got, expected).mean() < 0.05  # off by one level only where the two round apart


def test_grey_crops_are_pillows_luma_exactly() -> None:
    from smm.inference.preprocess import _luma

    crops = _noise(2, 40, 50, seed=4)
    ours = _luma(crops.permute(0, 3, 1, 2))[:, 0].numpy()
    theirs = np.stack([np.asarray(Image.fromarray(crop.numpy()).convert("L")) for crop in crops])
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(smm.ABAW3.replace(image_size=64, interpolation="bicubic"), id="bicubic"),
        pytest.param(smm.ABAW3.replace(image_size=64, crop_mode="border", crop_pct=0.9), id="border"),
    ],
)
def test_steps_torch_does_not_run_as_pillow_take_the_crops_one_by_one(config: smm.SMMConfig) -> None:
    crops = torch.cat([_noise(2), _face()])
    transform = Preprocess(config.data_config)
    assert transform._steps is None
    theirs = timm.data.create_transform(**config.data_config)
    expected = torch.stack([theirs(Image.fromarray(crop.numpy())) for crop in crops])
    assert torch.equal(transform.batch(crops), expected)


def test_no_crops_give_no_inputs_of_the_models_shape() -> None:
    for config in (smm.ABAW3.replace(image_size=64), smm.ABAW3.replace(image_size=64, interpolation="bicubic")):
        empty = Preprocess(config.data_config).batch(torch.zeros(0, 112, 112, 3, dtype=torch.uint8))
        assert empty.shape == (0, 3, 64, 64)
        assert empty.dtype == torch.float32


@pytest.mark.parametrize(
    ("crops", "got"),
    [
        (torch.zeros(2, 112, 112, 3), r"torch\.float32 \(2, 112, 112, 3\)"),
        (torch.zeros(112, 112, 3, dtype=torch.uint8), r"torch\.uint8 \(112, 112, 3\)"),
        (torch.zeros(2, 3, 112, 112, dtype=torch.uint8), r"torch\.uint8 \(2, 3, 112, 112\)"),
        (np.zeros((2, 112, 112, 3), np.uint8), "ndarray"),
    ],
)
def test_a_batch_says_what_it_expected(crops: object, got: str) -> None:
    with pytest.raises(ValueError, match=rf"^crops must be a \(B, H, W, 3\) uint8 tensor, got {got}$"):
        Preprocess(smm.ABAW3.data_config).batch(crops)  # type: ignore[arg-type]


def test_model_batches_regroup_blocks_of_any_size_in_order() -> None:
    config = smm.ABAW3.replace(image_size=32)
    transform = Preprocess(config.data_config)
    crops = _noise(10, 20, 20, seed=2)
    blocks = [crops[:0], crops[:3], crops[3:8], crops[8:8], crops[8:9], crops[9:]]
    got = list(ModelBatches(iter(blocks), transform, 4))
    assert [len(b) for b in got] == [4, 4, 2]
    expected = transform.batch(crops)
    torch.testing.assert_close(torch.cat(got), expected, rtol=0, atol=0)
    assert list(ModelBatches(iter([crops[:0]]), transform, 4)) == []
    assert [len(b) for b in ModelBatches(iter([crops[:8]]), transform, 4)] == [4, 4]  # no empty last batch


def test_crops_of_another_size_start_a_batch_of_their_own() -> None:
    transform = Preprocess(smm.ABAW3.replace(image_size=32).data_config)
    small, large = _noise(3, 20, 20, seed=5), _noise(5, 24, 30, seed=6)
    got = list(ModelBatches(iter([small[:2], small[2:], large[:1], large[1:]]), transform, 4))
    assert [len(b) for b in got] == [3, 4, 1]
    torch.testing.assert_close(
        torch.cat(got), torch.cat([transform.batch(small), transform.batch(large)]), rtol=0, atol=0
    )


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.0])
def test_model_batches_refuse_a_batch_size_that_is_not_a_positive_integer(batch_size: object) -> None:
    with pytest.raises(ValueError, match=rf"^batch_size must be a positive integer, got {batch_size!r}$"):
        ModelBatches([], Preprocess(smm.ABAW3.data_config), batch_size)  # type: ignore[arg-type]


def test_the_core_takes_formed_batches_as_they_are_and_only_of_its_batch_size() -> None:
    model = tiny_emotionnet()
    transform = Preprocess(model.data_config)
    crops = _noise(5, 24, 24, seed=3)
    engine = RecordingEngine(model)
    features, messages = image_features(model, ModelBatches(iter([crops]), transform, 2), engine, batch_size=2)
    assert engine.sizes == [2, 2, 1]
    one_by_one, _ = image_features(model, list(transform.batch(crops)), RecordingEngine(model), batch_size=2)
    torch.testing.assert_close(features, one_by_one)
    assert len(messages) == 5
    with pytest.raises(ValueError, match=r"^inputs are in batches of 2, not batch_size=3$"):
        image_features(model, ModelBatches(iter([crops]), transform, 2), engine, batch_size=3)


def test_a_batch_runs_torch_not_pillow_where_it_can() -> None:
    """Where the torch path runs, it rounds apart from Pillow on a few pixels of noise: the two are not one path."""
    crops = _noise(2)
    transform = Preprocess(smm.ABAW3.data_config)
    assert not torch.equal(transform.batch(crops), torch.stack([transform(crop) for crop in crops]))


def _torch_steps_against_pillow(steps: list, size: tuple[int, int], std: tuple[float, ...] = (1.0,)) -> None:
    from types import SimpleNamespace

    from torchvision import transforms

    from smm.inference.preprocess import _tensor_steps

    compose = transforms.Compose(steps)
    ours = _tensor_steps(SimpleNamespace(transform=compose))
    assert ours is not None
    crops = _noise(2, *size, seed=7)
    got = crops.permute(0, 3, 1, 2)
    for step in ours:
        got = step(got)
    expected = torch.stack([compose(Image.fromarray(crop.numpy())) for crop in crops])
    assert got.shape == expected.shape
    levels = (got - expected).abs() * torch.tensor(std).view(1, -1, 1, 1) * 255
    assert levels.max() <= 1 + 1e-3, levels.max()


@pytest.mark.parametrize(
    ("size", "resize"),
    [((40, 30), (20, 16)), ((30, 40), (16, 20)), ((40, 30), 18), ((30, 40), 18), ((40, 30), [18]), ((30, 40), [18])],
    ids=["tall to (20, 16)", "wide to (16, 20)", "tall, shorter side", "wide, shorter side", "tall [n]", "wide [n]"],
)
def test_every_resize_rule_of_torchvision_as_pillow_runs_it(size: tuple[int, int], resize: object) -> None:
    from torchvision import transforms

    _torch_steps_against_pillow([transforms.Resize(resize), transforms.ToTensor()], size)  # no Normalize: x / 255
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    steps = [
        transforms.Resize(resize),
        transforms.CenterCrop(12),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ]
    _torch_steps_against_pillow(steps, size, std)


def test_pipelines_torch_cannot_run_are_left_to_pillow() -> None:
    from types import SimpleNamespace

    from torchvision import transforms

    from smm.inference.preprocess import _tensor_steps

    def steps(*items: object) -> object:
        return _tensor_steps(SimpleNamespace(transform=transforms.Compose(list(items))))

    assert steps(transforms.Normalize((0.5,), (0.5,)), transforms.ToTensor()) is None  # Normalize before ToTensor
    assert steps(transforms.Resize(8, interpolation=transforms.InterpolationMode.BICUBIC)) is None
    assert steps(transforms.Resize(8, max_size=10)) is None
    assert steps(transforms.Grayscale()) is None
    assert _tensor_steps(object()) is None  # not a transform of ours
    assert steps(transforms.Resize(8), transforms.ToTensor()) is not None


def test_pillows_luma_rounds_half_levels_as_pillow_does() -> None:
    """(0, 62, 229) weighs 62.49998 (19595 R + 38470 G + 7471 B = 65536 * 62 + 32767): 62, not 63."""
    from smm.inference.preprocess import _luma

    pixels = torch.tensor([[0, 62, 229], [0, 183, 27], [1, 63, 230], [255, 255, 255]], dtype=torch.uint8)
    grey = _luma(pixels.T.reshape(1, 3, 1, 4))[0, 0, 0].tolist()
    theirs = [int(np.asarray(Image.fromarray(p.numpy().reshape(1, 1, 3)).convert("L"))[0, 0]) for p in pixels]
    assert grey == theirs == [62, 110, 63, 255]


@pytest.mark.parametrize(
    ("crop", "error", "message"),
    [
        (
            np.zeros((8, 8, 3), np.float32),
            ValueError,
            r"^crop arrays must be \(H, W, 3\) uint8 RGB, got float32 \(8, 8, 3\)$",
        ),
        (
            np.zeros((8, 8, 4), np.uint8),
            ValueError,
            r"^crop arrays must be \(H, W, 3\) uint8 RGB, got uint8 \(8, 8, 4\)$",
        ),
        (np.zeros((8, 8), np.uint8), ValueError, r"^crop arrays must be \(H, W, 3\) uint8 RGB, got uint8 \(8, 8\)$"),
        ([[0]], TypeError, r"^crop must be a PIL image or an \(H, W, 3\) uint8 array, got list$"),
    ],
)
def test_one_crop_says_what_it_expected(crop: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Preprocess(smm.ABAW3.data_config)(crop)  # type: ignore[arg-type]
