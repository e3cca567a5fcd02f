"""torch.compile (no graph breaks), torch.export and ONNX with a dynamic batch, channels_last."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import smm
from smm import SMMEmotionNet

TOL = {"atol": 1e-5, "rtol": 1e-4}


def _small(backbone: str | None = "resnet18") -> SMMEmotionNet:
    kwargs = {"feature_channels": 32} if backbone is None else {}
    kwargs["feature_index"] = -1
    return SMMEmotionNet(backbone, num_regions=5, num_labelled=3, dim=8, nhead=2, dim_feedforward=32, **kwargs).eval()


def _assert_outputs_close(got, expected, **tol) -> None:
    for name, a, b in zip(smm.SMMOutput._fields, got, expected, strict=True):
        torch.testing.assert_close(torch.as_tensor(a), b, **(tol or TOL), msg=name)


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenetv3_small_050"])
def test_compile_fullgraph_has_no_graph_breaks(backbone: str) -> None:
    torch._dynamo.reset()
    model = _small(backbone)
    images = torch.randn(2, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        _assert_outputs_close(compiled(images), model(images))
    model.train()
    out = compiled(images)
    (out.au.sum() + out.expr.sum() + out.va.sum()).backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "logit_conv" not in n)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="inductor needs a C compiler")
def test_compile_inductor_heads_match_eager() -> None:
    torch._dynamo.reset()
    model = _small(None)
    x = torch.randn(3, 32, 7, 7)
    compiled = torch.compile(model.forward_head, fullgraph=True)
    with torch.no_grad():
        _assert_outputs_close(compiled(x), model.forward_head(x))


def test_torch_export_dynamic_batch() -> None:
    model = _small("resnet18")
    batch = torch.export.Dim("batch", min=1, max=256)
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes={"images": {0: batch}})
    exported = program.module()
    for size in (1, 5):
        images = torch.randn(size, 3, 64, 64)
        with torch.no_grad():
            _assert_outputs_close(exported(images), model(images))


def test_channels_last_gives_the_same_outputs() -> None:
    model = _small("resnet18")
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(images)
        model = model.to(memory_format=torch.channels_last)
        got = model(images.contiguous(memory_format=torch.channels_last))
    _assert_outputs_close(got, expected)


@pytest.mark.parametrize("backbone", ["resnet18", None])
def test_onnx_matches_pytorch(tmp_path: Path, backbone: str | None) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime missing: pip install 'smm-emotionnet[export]'")
    pytest.importorskip("onnxscript", reason="onnxscript missing: pip install 'smm-emotionnet[export]'")
    model = _small(backbone)
    size = (3, 64, 64) if backbone else (32, 7, 7)
    path = smm.export.to_onnx(model, tmp_path / "model.onnx", input_size=size)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert graph_input.name == ("images" if backbone else "feature_maps")
    assert [o.name for o in session.get_outputs()] == list(smm.SMMOutput._fields)
    for batch in (1, 5):
        x = torch.randn(batch, *size)
        with torch.no_grad():
            expected = model(x) if backbone else model.forward_head(x)
        got = session.run(None, {graph_input.name: x.numpy()})
        _assert_outputs_close(got, expected, atol=1e-4, rtol=1e-4)


def test_to_onnx_rejects_old_opset(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript", reason="onnxscript missing: pip install 'smm-emotionnet[export]'")
    with pytest.raises(ValueError, match=r"opset must be >= 18"):
        smm.export.to_onnx(_small(None), tmp_path / "m.onnx", opset=17)
