"""Prediction engines: eager PyTorch and ONNX Runtime, the auto rule, the checked export cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import smm
from smm.inference import engine as engines
from smm.inference.engine import (
    EagerEngine,
    OnnxRuntimeEngine,
    exported_graph,
    make_engine,
    model_fingerprint,
    resolve_engine,
)

pytest.importorskip("onnxruntime", reason='the export extra: pip install "smm-emotionnet[export]"')
pytest.importorskip("onnxscript", reason='the export extra: pip install "smm-emotionnet[export]"')


@pytest.fixture(scope="module")
def model() -> smm.SMMEmotionNet:
    torch.manual_seed(0)
    return smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=64).eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def test_the_auto_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: False)
    assert resolve_engine("auto", "cpu") == "onnxruntime"  # no bf16 units, onnxruntime installed
    assert resolve_engine("auto", "cuda") == "eager"
    assert resolve_engine("eager", "cpu") == "eager"
    assert resolve_engine("onnxruntime", "cpu") == "onnxruntime"
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: True)
    assert resolve_engine("auto", "cpu") == "eager"  # bf16 units: eager bf16
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: False)
    real = engines.importlib.util.find_spec
    monkeypatch.setattr(engines.importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else real(name))
    assert resolve_engine("auto", "cpu") == "eager"  # without onnxruntime
    with pytest.raises(
        ValueError, match=r"^engine must be one of auto, eager, onnxruntime, onnxruntime-int8, got 'tensorrt'$"
    ):
        resolve_engine("tensorrt", "cpu")
    with pytest.raises(ValueError, match=r"engine 'onnxruntime' runs on the CPU, not on cuda"):
        resolve_engine("onnxruntime", "cuda")


def test_fingerprint_changes_with_any_weight_or_the_config(model: smm.SMMEmotionNet) -> None:
    first = model_fingerprint(model)
    assert first == model_fingerprint(model)
    torch.manual_seed(0)
    same = smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=64)
    assert model_fingerprint(same) == first  # the same weights from the same seed
    with torch.no_grad():
        same.message_space.va.bias[1] += 1e-6
    assert model_fingerprint(same) != first
    torch.manual_seed(0)
    other_size = smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=96)
    assert model_fingerprint(other_size) != first  # same weights, another input size


def test_onnxruntime_matches_eager_and_the_export_is_cached(
    model: smm.SMMEmotionNet, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ort = OnnxRuntimeEngine(model, cache=cache)
    assert ort.name == "onnxruntime (fp32)"
    inputs = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    au_features, message = ort(inputs)
    eager_features, eager_message = EagerEngine(model, "fp32")(inputs)
    assert au_features.shape == eager_features.shape == (5, 12, 8)
    torch.testing.assert_close(au_features, eager_features, atol=1e-4, rtol=0)
    torch.testing.assert_close(message, eager_message, atol=1e-4, rtol=0)
    assert [p.name for p in cache.iterdir()] == [ort.path.parent.name]  # one folder per model, nothing staged
    # The second time, nothing is exported.
    monkeypatch.setattr("smm.export.to_onnx", lambda *a, **k: pytest.fail("exported again"))
    assert exported_graph(model, cache=cache) == ort.path
    # The whole prediction path with either engine gives the same features.
    from smm.inference import image_features

    via_ort = image_features(model, list(inputs), engine=ort, batch_size=2)
    via_eager = image_features(model, list(inputs), precision="fp32", engine="eager", batch_size=2)
    torch.testing.assert_close(via_ort[0], via_eager[0], atol=1e-4, rtol=0)


def test_a_graph_that_fails_its_check_is_not_cached(
    model: smm.SMMEmotionNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "TOLERANCE", -1.0)  # nothing passes
    with pytest.raises(ValueError, match=r"the ONNX export differs from eager PyTorch by .* use engine='eager'"):
        exported_graph(model, cache=tmp_path)
    assert list(tmp_path.iterdir()) == []
    said: list[str] = []
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(engines, "_default_cache", lambda: tmp_path)
    fallback = make_engine(model, "auto", precision="fp32", log=said.append)
    assert isinstance(fallback, EagerEngine)
    assert said[0].startswith("note: ONNX Runtime is not used (the ONNX export differs from eager PyTorch by")
    with pytest.raises(ValueError, match=r"the ONNX export differs"):
        make_engine(model, "onnxruntime")
    assert isinstance(make_engine(model, "eager"), EagerEngine)


def test_cli_engine_option_runs_onnxruntime(
    tmp_path: Path, model: smm.SMMEmotionNet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    from PIL import Image

    from smm.cli import main

    monkeypatch.setenv("SMM_EMOTIONNET_CACHE", str(tmp_path / "cache"))
    model.save_pretrained(tmp_path / "ckpt")
    frames = tmp_path / "clip"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for n in range(1, 5):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(frames / f"{n:05d}.jpg")
    values = {}
    for engine in ("eager", "onnxruntime"):
        out = tmp_path / engine
        args = ["predict", "--checkpoint", str(tmp_path / "ckpt"), "--frames", str(frames), "--tracks", "va"]
        assert main([*args, "--out", str(out), "--engine", engine, "--precision", "fp32"]) == 0
        assert f"engine: {'eager (fp32' if engine == 'eager' else 'onnxruntime (fp32)'}" in capsys.readouterr().err
        values[engine] = np.loadtxt(out / "VA" / "clip.txt", delimiter=",", skiprows=1)
    assert np.abs(values["eager"] - values["onnxruntime"]).max() <= 1e-4
    assert list((tmp_path / "cache" / "onnx").iterdir())  # the export went to the model cache
    monkeypatch.setenv("SMM_EMOTIONNET_ENGINE", "onnxruntime")  # the environment sets the default
    assert main([*args, "--out", str(tmp_path / "env")]) == 0
    assert "engine: onnxruntime (fp32)" in capsys.readouterr().err


def test_int8_is_calibrated_on_real_faces_and_refused_where_it_disagrees(
    model: smm.SMMEmotionNet, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("facenet_pytorch", reason="calibration faces are detected: the face extra")
    import onnx
    import onnxruntime

    from smm.face.calibration import calibration_faces

    faces = calibration_faces(model, limit=12)
    assert faces.shape == (12, 3, 64, 64)  # real faces from scikit-image, aligned and preprocessed
    with pytest.raises(ValueError, match=r"agrees with fp32 on too few decisions .*AU .* \(needs 101%\)"):
        engines.quantized_graph(model, faces, cache=cache, agreement={"AU": 1.01, "EXPR": 0.0})
    before = sorted(p.name for p in cache.iterdir())
    path = engines.quantized_graph(model, faces, cache=cache, agreement={"AU": 0.0, "EXPR": 0.0})
    assert sorted(p.name for p in cache.iterdir()) == sorted([*before, path.parent.name])  # the refused one left none
    shares = json.loads((path.parent / "agreement.json").read_text())
    # The recorded agreement, recomputed here from both graphs' logits.
    runs = []
    for graph in (exported_graph(model, cache=cache), path):
        session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        runs.append(session.run(["au", "expr"], {"images": faces.numpy()}))
    (au32, expr32), (au8, expr8) = runs
    assert shares["AU"] == pytest.approx(float(((au32 > 0) == (au8 > 0)).mean()))
    assert shares["EXPR"] == pytest.approx(float((expr32.argmax(-1) == expr8.argmax(-1)).mean()))
    assert shares["faces"] == 12
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(path)).graph.node)
    # The engine by name: never picked by auto.
    monkeypatch.setattr(engines, "cpu_supports_bf16", lambda: False)
    assert resolve_engine("auto", "cpu") == "onnxruntime"
    assert resolve_engine("onnxruntime-int8", "cpu") == "onnxruntime-int8"
    with pytest.raises(ValueError, match=r"engine 'onnxruntime-int8' runs on the CPU"):
        resolve_engine("onnxruntime-int8", "cuda")
    with pytest.raises(ValueError, match=r"^a calibration function needs a calibration_name for the cache key$"):
        engines.quantized_graph(model, lambda: faces, cache=cache)
    made = []

    def counted() -> torch.Tensor:
        made.append(1)
        return faces

    named = {"calibration_name": "twelve faces", "agreement": {"AU": 0.0, "EXPR": 0.0}}
    first = engines.quantized_graph(model, counted, cache=cache, **named)
    assert engines.quantized_graph(model, counted, cache=cache, **named) == first
    assert made == [1]  # the faces are made only when the graph is not cached
