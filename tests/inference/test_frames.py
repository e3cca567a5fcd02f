"""Video inference, ABAW prediction files (round trip through the readers) and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.cli import main
from smm.cli.main import build_parser
from smm.data import read_annotation_file, read_multitask_csv
from smm.formats.abaw_files import write_au_file, write_expr_file, write_multitask_file, write_va_file
from smm.inference import predict_frames
from smm.models.checkpoint import save_checkpoint
from smm.temporal import exponential_smoothing


@pytest.fixture(scope="module")
def model() -> smm.SMMEmotionNet:
    return smm.SMMEmotionNet("resnet18", num_regions=5, num_labelled=3, dim=8, nhead=2, dim_feedforward=16).eval()


def _video(folder: Path, frames: int, size: int = 32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(frames)
    for n in range(1, frames + 1):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{n:05d}.jpg")
    return folder


def test_predict_frames_batches_and_smooths(model: smm.SMMEmotionNet) -> None:
    frames = [torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(7)]
    result = predict_frames(model, frames, batch_size=3, precision="fp32")
    with torch.no_grad():
        out = model(torch.stack(frames))
    torch.testing.assert_close(result.au_prob, torch.sigmoid(out.au), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(result.expr, out.expr.argmax(-1))
    assert torch.equal(result.au, (result.au_prob > 0.5).long())
    smoothed = predict_frames(model, iter(frames), batch_size=2, alpha=8.0, precision="fp32")
    with torch.no_grad():
        expected = model.message_space.classify(exponential_smoothing(out.message, 8.0))[0]
    torch.testing.assert_close(smoothed.expr_prob, torch.softmax(expected, -1), atol=1e-5, rtol=1e-4)


def test_predict_frames_errors(tmp_path: Path, model: smm.SMMEmotionNet) -> None:
    with pytest.raises(ValueError, match="the video has no frames"):
        predict_frames(model, [], precision="fp32")
    with pytest.raises(ValueError, match=r"input 1 is \(3, 32, 32\), input 0 \(3, 64, 64\)"):
        predict_frames(model, [torch.randn(3, 64, 64), torch.randn(3, 32, 32)], precision="fp32")
    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0, got -2"):
        predict_frames(model, [torch.randn(3, 64, 64)], alpha=-2, precision="fp32")
    folder = _video(tmp_path / "v", 2)
    (folder / "readme.md").write_text("x")  # not an image: ignored, like in the dataset
    assert len(predict_frames(model, folder, precision="fp32").frame) == 2
    Image.new("RGB", (20, 20)).save(folder / "00003.jpg")
    with pytest.raises(ValueError, match=r"00003\.jpg: frame of size \(20, 20\)"):
        predict_frames(model, folder, precision="fp32")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        predict_frames(model, tmp_path / "empty", precision="fp32")


def test_prediction_files_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    au = rng.integers(0, 2, (6, 12))
    expr = rng.integers(0, 8, 6)
    va = rng.uniform(-1, 1, (6, 2))
    names = smm.ABAW3.au_names
    np.testing.assert_array_equal(read_annotation_file(write_au_file(tmp_path / "au.txt", au, names), "AU").labels, au)
    expr_back = read_annotation_file(write_expr_file(tmp_path / "e.txt", expr, smm.ABAW3.expression_names), "EXPR")
    np.testing.assert_array_equal(expr_back.labels[:, 0], expr)
    va_back = read_annotation_file(write_va_file(tmp_path / "va.txt", va), "VA").labels
    np.testing.assert_allclose(va_back, va, atol=1e-6)
    images = [f"v/{i:05d}.jpg" for i in range(6)]
    mtl = read_multitask_csv(write_multitask_file(tmp_path / "mtl.csv", images, va, expr, au))
    assert mtl.images == tuple(images)
    np.testing.assert_array_equal(mtl.au, au)
    np.testing.assert_array_equal(mtl.expr, expr)
    np.testing.assert_allclose(mtl.va, va, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["au.txt", "e.txt", "mtl.csv", "va.txt"]  # no temp files


def test_cli_predict_convert_info(tmp_path: Path, model, capsys: pytest.CaptureFixture[str]) -> None:
    save_checkpoint(model, tmp_path / "ckpt")
    videos = [_video(tmp_path / "frames" / "vidA", 4), _video(tmp_path / "frames" / "vidB", 3)]
    args = ["predict", "--checkpoint", str(tmp_path / "ckpt" / "model.safetensors"), "--out", str(tmp_path / "out")]
    assert main([*args, "--frames", *map(str, videos), "--alpha", "8", "--precision", "fp32", "--quiet"]) == 0
    # Written here: each frame's message and AU features, X_t = (8 X_{t-1} + F_t) / 9, the heads' last layers.
    import timm.data

    transform = timm.data.create_transform(**model.data_config)
    for video in videos:
        frames = sorted(video.iterdir())
        with torch.no_grad():
            out = model(torch.stack([transform(Image.open(f).convert("RGB")) for f in frames]))
        messages, au_features = out.message.clone(), out.au_features.clone()
        for t in range(1, len(frames)):
            messages[t] = (8 * messages[t - 1] + out.message[t]) / 9
            au_features[t] = (8 * au_features[t - 1] + out.au_features[t]) / 9
        with torch.no_grad():
            expr_logits, va = model.message_space.classify(messages)
            au = (torch.sigmoid(model.sign_vehicle.classify(au_features)) > 0.5).long()
        name = video.name
        np.testing.assert_allclose(
            read_annotation_file(tmp_path / "out" / "VA" / f"{name}.txt", "VA").labels, va.numpy(), atol=2e-6
        )
        expr = read_annotation_file(tmp_path / "out" / "EXPR" / f"{name}.txt", "EXPR").labels[:, 0]
        np.testing.assert_array_equal(expr, expr_logits.argmax(-1).numpy())
        np.testing.assert_array_equal(read_annotation_file(tmp_path / "out" / "AU" / f"{name}.txt", "AU").labels, au)
    mtl = read_multitask_csv(tmp_path / "out" / "MTL_predictions.txt", num_aus=3)
    assert mtl.images == (*(f"vidA/{n:05d}.jpg" for n in range(1, 5)), *(f"vidB/{n:05d}.jpg" for n in range(1, 4)))
    np.testing.assert_allclose(mtl.va[4:], read_annotation_file(tmp_path / "out" / "VA" / "vidB.txt", "VA").labels)
    assert main(["info", "--checkpoint", str(tmp_path / "ckpt" / "model.safetensors")]) == 0
    info = capsys.readouterr().out
    assert f"C={model.feature_channels}" in info
    assert "regions U=5: region_0, region_1, region_2, region_3, region_4" in info
    total = sum(p.numel() for p in model.parameters())
    heads = sum(p.numel() for p in model.roi_embedding.parameters())
    assert f"roi_embedding  {heads:>12,d} parameters" in info
    assert f"total          {total:>12,d} parameters" in info


def test_cli_convert_published_checkpoint(tmp_path: Path, reference_weights) -> None:
    torch.save({"state_dict": dict(reference_weights)}, tmp_path / "published.ckpt")
    assert main(["convert", "--checkpoint", str(tmp_path / "published.ckpt"), "--out", str(tmp_path / "ours")]) == 0
    loaded = smm.load_checkpoint(tmp_path / "ours" / "model.safetensors")
    assert loaded.backbone is None
    torch.testing.assert_close(
        loaded.message_space.transforms[3], reference_weights["transformation_matrices.3.weight"]
    )


def test_cli_convert_installs_the_published_checkpoint_where_pretrained_looks(
    tmp_path: Path, reference_weights, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from smm.models.registry import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    torch.save({"state_dict": dict(reference_weights)}, tmp_path / "published.ckpt")
    assert main(["convert", "--checkpoint", str(tmp_path / "published.ckpt"), "--install"]) == 0
    folder = tmp_path / "cache" / "smm_abaw3"
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {folder / 'model.safetensors'} and {folder / 'config.json'} (verified: the same outputs as "
        f"{tmp_path / 'published.ckpt'})",
        "installed: smm.create_model('smm_abaw3', pretrained=True) now loads it",
    ]
    model = smm.create_model("smm_abaw3", pretrained=True, backbone=None)
    torch.testing.assert_close(model.message_space.transforms[3], reference_weights["transformation_matrices.3.weight"])
    assert model.card["training_data"] == "Aff-Wild2 (ABAW3), the published checkpoint"
    for options in ([], ["--install", "--out", str(tmp_path / "x")]):
        assert main(["convert", "--checkpoint", str(tmp_path / "published.ckpt"), *options]) == 2
        assert "give --out FOLDER, or --install to write into the model cache" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["predict", "--checkpoint", "missing.safetensors", "--frames", ".", "--out", "o"],
            "missing.safetensors does not exist",
        ),
        (["convert", "--checkpoint", "missing.ckpt", "--out", "o"], "missing.ckpt does not exist"),
    ],
)
def test_cli_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_rejects_checkpoint_of_another_shape(tmp_path: Path, model, capsys: pytest.CaptureFixture[str]) -> None:
    save_checkpoint(model, tmp_path / "ckpt")
    config = tmp_path / "ckpt" / "config.json"
    config.write_text(config.read_text().replace('"dim": 8', '"dim": 16'))
    frames = _video(tmp_path / "v", 1)
    code = main(
        [
            "predict",
            "--checkpoint",
            str(tmp_path / "ckpt" / "model.safetensors"),
            "--frames",
            str(frames),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert "does not fit the model" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    save_checkpoint(model, tmp_path / "ok")
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(tmp_path / "ok" / "model.safetensors"),
                "--frames",
                str(empty),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "holds no images" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "align", "train", "check-submission", "convert", "info"])
def test_cli_help_documents_every_option(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for action in subparsers.choices[command]._actions:
        assert action.help, f"{action.option_strings} has no help"
        assert (action.option_strings[-1] if action.option_strings else action.dest) in text


def test_cli_info_describes_the_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "AU1, AU2, AU4" in out
    assert "total" in out


def test_the_core_batches_as_asked(model: smm.SMMEmotionNet) -> None:
    sizes: list[int] = []
    hook = model.register_forward_hook(lambda module, args, output: sizes.append(args[0].shape[0]))
    try:
        frames = [torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(5)]
        one = predict_frames(model, frames, batch_size=1, precision="fp32")
        assert sizes == [1] * 5
        sizes.clear()
        two = predict_frames(model, frames, batch_size=2, precision="fp32")
        assert sizes == [2, 2, 1]
    finally:
        hook.remove()
    torch.testing.assert_close(one.au_prob, two.au_prob, atol=1e-5, rtol=1e-5)  # batching changes no value


@pytest.mark.parametrize(
    ("frames", "options", "message"),
    [
        ([torch.zeros(3, 8, 8)], {"batch_size": 0}, r"^batch_size must be a positive integer, got 0$"),
        ([torch.zeros(3, 8, 8)], {"batch_size": True}, r"^batch_size must be a positive integer, got True$"),
        ([torch.zeros(3, 8, 8)], {"batch_size": 2.0}, r"^batch_size must be a positive integer, got 2\.0$"),
        (
            [torch.zeros(3, 8, 8), np.zeros((3, 8, 8))],
            {},
            r"^model inputs must be \(C, H, W\) tensors, input 1 is ndarray$",
        ),
        ([torch.zeros(8, 8)], {}, r"^model inputs must be \(C, H, W\) tensors, input 0 is \(8, 8\)$"),
        ([torch.zeros(3, 32, 32)], {"threshold": 1.5}, r"^threshold must be a number in \[0, 1\], got 1\.5$"),
        ([torch.zeros(3, 32, 32)], {"threshold": True}, r"^threshold must be a number in \[0, 1\], got True$"),
        ([torch.zeros(3, 32, 32)], {"threshold": "0.5"}, r"^threshold must be a number in \[0, 1\], got '0\.5'$"),
    ],
)
def test_the_core_says_what_it_expected(model: smm.SMMEmotionNet, frames: list, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predict_frames(model, frames, precision="fp32", **options)


def test_thresholds_at_the_ends_of_the_range(model: smm.SMMEmotionNet) -> None:
    frames = [torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    assert predict_frames(model, frames, threshold=1, precision="fp32").au.sum() == 0  # no probability exceeds 1
    assert (predict_frames(model, frames, threshold=0, precision="fp32").au == 1).all()  # every one exceeds 0
