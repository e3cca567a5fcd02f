"""The model as ONNX graphs for ONNX Runtime: fp32, exported and checked once; int8, accepted only where it agrees.

Both kinds of graph are kept in a cache folder (default ``$SMM_EMOTIONNET_CACHE/onnx``), one
folder per graph named by a digest of what made it (the model's fingerprint, input size,
opset, torch version; for int8 also the calibration faces, the gate and the weights' bits), written in a staging
folder and moved into place only when it passed its check, so a cached graph is always whole
and checked.

- :func:`exported_graph`: fp32, checked against eager PyTorch (largest difference at most
  :data:`TOLERANCE` of each output's scale).
- :func:`quantized_graph`: int8 (ONNX Runtime static quantisation, QDQ, per channel),
  calibrated on half of a set of real aligned faces and checked on the other half
  (:data:`INT8_GATE`): AU decisions, expressions and valence/arousal against the fp32 graph;
  7-bit weights on x86 CPUs without VNNI, where 8-bit ones saturate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smm._atomic import atomic_write
from smm.inference.machine import cpu_int8_saturates
from smm.models.emotionnet import SMMEmotionNet
from smm.models.fingerprint import model_fingerprint
from smm.models.registry import cache_dir

#: Largest difference allowed between the fp32 graph's outputs and eager PyTorch's, relative to each
#: output's largest magnitude (absolute for outputs within [-1, 1]).
TOLERANCE = 1e-4
#: What an int8 graph must meet on the faces it was not calibrated on, against the fp32 graph:
#: shares of equal AU decisions (faces x AUs, at probability 0.5) and expressions (argmax), and the
#: largest absolute difference of valence and arousal (their labels lie in [-1, 1]).
INT8_GATE: Mapping[str, float] = {"AU": 0.99, "EXPR": 0.98, "VA": 0.1}


@dataclass(frozen=True)
class Calibration:
    """Real aligned faces (model inputs ``Tensor[N, C, H, W]``) to calibrate and check an int8 graph on.

    Attributes
    ----------
    name : str
        Names the faces in the int8 graph's cache key.
    make : callable
        Makes the faces; called only when the graph is not cached yet.
    """

    name: str
    make: Callable[[], torch.Tensor]

    @classmethod
    def of(cls, faces: torch.Tensor) -> Calibration:
        """These faces, named by a digest of their values."""
        digest = hashlib.sha256(faces.float().contiguous().numpy().tobytes()).hexdigest()[:16]
        return cls(digest, lambda: faces)


def graph_cache(cache: str | os.PathLike[str] | None = None) -> Path:
    """The folder of exported graphs: ``cache``, else ``$SMM_EMOTIONNET_CACHE/onnx`` (``~/.cache/smm-emotionnet``)."""
    return Path(cache) if cache is not None else cache_dir() / "onnx"


def exported_path(model: SMMEmotionNet, *, cache: str | os.PathLike[str] | None = None) -> Path:
    """Where the model's fp32 graph is (or will be) in the cache; it exists once :func:`exported_graph` made it."""
    from smm.export import DEFAULT_OPSET

    key = hashlib.sha256(
        f"{model_fingerprint(model)}:{model.default_input_size}:{DEFAULT_OPSET}:{torch.__version__}".encode()
    ).hexdigest()[:24]
    return graph_cache(cache) / key / "model.onnx"


def exported_graph(model: SMMEmotionNet, *, cache: str | os.PathLike[str] | None = None) -> Path:
    """The model's ONNX graph in the cache, exported and checked against eager PyTorch on first use.

    Raises
    ------
    ValueError
        When the exported graph's outputs differ from eager PyTorch's by more than
        :data:`TOLERANCE` (the graph is then removed, not cached).
    """
    from smm.export import to_onnx

    path = exported_path(model, cache=cache)
    if path.is_file():
        return path
    cpu = _cpu_copy(model)
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    # The exporter may write the weights beside the graph: export into a staging folder, check,
    # then move the folder into place.
    staging = Path(tempfile.mkdtemp(prefix=f".{path.parent.name}.", dir=path.parent.parent))
    try:
        to_onnx(cpu, staging / "model.onnx")
        _check(cpu, staging / "model.onnx")
        _move_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def quantized_path(
    model: SMMEmotionNet,
    calibration: Calibration | torch.Tensor | Callable[[], torch.Tensor],
    *,
    cache: str | os.PathLike[str] | None = None,
    gate: Mapping[str, float] | None = None,
    calibration_name: str | None = None,
) -> Path:
    """Where the model's int8 graph for these faces and this gate is (or will be) in the cache.

    The graph exists once :func:`quantized_graph` made and accepted it; a graph the gate refused
    leaves ``refused.json`` in that folder instead, so that it is not made again.
    """
    needed = {**INT8_GATE, **(gate or {})}
    source = _calibration(calibration, calibration_name)
    fp32 = exported_path(model, cache=cache)
    weights = ":7-bit" if cpu_int8_saturates() else ""  # a graph made for this CPU's int8 arithmetic
    key = hashlib.sha256(f"{fp32.parent.name}:int8:{source.name}:{sorted(needed.items())}:held-out{weights}".encode())
    return fp32.parent.parent / key.hexdigest()[:24] / "model.onnx"


def quantized_graph(
    model: SMMEmotionNet,
    calibration: Calibration | torch.Tensor | Callable[[], torch.Tensor],
    *,
    cache: str | os.PathLike[str] | None = None,
    gate: Mapping[str, float] | None = None,
    calibration_name: str | None = None,
) -> Path:
    """The model's int8 ONNX graph, cached, and accepted only where it agrees with the fp32 graph.

    The faces are split in two: activations are calibrated on the even-numbered ones, and the
    graph is checked on the odd-numbered ones, which it has not seen: its AU decisions and
    expressions must agree with the fp32 graph's, and its valence and arousal stay within the
    tolerance, as :data:`INT8_GATE` says. What it measured is kept beside the graph
    (``agreement.json``: the shares, the largest and mean absolute VA difference, the faces);
    a graph the gate refuses is not kept, but its refusal is (``refused.json``), so asking
    again says so at once.

    Weights are int8 per output channel and activations uint8. On an x86 CPU without VNNI the
    weights keep 7 bits (:func:`smm.inference.machine.cpu_int8_saturates`), and the cache keeps
    such a graph apart from an 8-bit one: a cache shared by machines of both kinds gives each
    the graph that was checked on its own arithmetic.

    Parameters
    ----------
    model : SMMEmotionNet
    calibration : Calibration, Tensor[N, C, H, W] or callable
        Model inputs of real aligned faces (at least 2), e.g.
        :func:`smm.inference.calibration.face_calibration`; a callable is called only when the graph is
        not cached yet, and needs ``calibration_name``.
    cache : path-like, optional
    gate : mapping, optional
        ``{"AU": share, "EXPR": share, "VA": largest difference}``; default :data:`INT8_GATE`
        (a key left out keeps its default).
    calibration_name : str, optional
        Names a callable's faces in the cache key.

    Raises
    ------
    ValueError
        When the int8 graph falls short of the gate (saying by how much), now or when it was
        made before.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    needed = {**INT8_GATE, **(gate or {})}
    source = _calibration(calibration, calibration_name)
    path = quantized_path(model, source, cache=cache, gate=needed)
    if path.is_file():
        return path
    refusal = path.with_name("refused.json")
    if refusal.is_file():
        raise ValueError(json.loads(refusal.read_text())["reason"] + " (found so when it was made before)")
    fp32 = exported_graph(model, cache=cache)
    faces = source.make()
    if len(faces) < 2:
        raise ValueError(
            f"int8 calibration needs at least 2 faces (half to calibrate, half to check), got {len(faces)}"
        )
    calibrate, check = faces[0::2], faces[1::2]
    reduce_range = cpu_int8_saturates()  # 7-bit weights where 8-bit products would saturate

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibrate.split(8))

        def get_next(self) -> dict[str, object] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch.float().numpy()}

    folder = path.parent.parent
    staging = Path(tempfile.mkdtemp(prefix=f".{path.parent.name}.", dir=folder))
    try:
        logging.disable(logging.WARNING)  # the quantiser's advice goes to the root logger
        try:
            quantize_static(
                str(fp32),
                str(staging / "model.onnx"),
                Faces(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=reduce_range,
            )
        finally:
            logging.disable(logging.NOTSET)
        measured = agreement_of(fp32, staging / "model.onnx", check)
        short = gate_failures(measured, needed)
        record = {
            **measured,
            "faces": len(check),
            "calibration_faces": len(calibrate),
            "gate": needed,
            "weight_bits": 7 if reduce_range else 8,
        }
        if short:
            reason = (
                f"the int8 graph falls short of fp32 on {len(check)} real faces it was not calibrated on: "
                f"{'; '.join(short)}; use engine='onnxruntime' (fp32)"
            )
            refusal.parent.mkdir(exist_ok=True)
            atomic_write(refusal, lambda p: p.write_text(json.dumps({**record, "reason": reason}) + "\n"))
            raise ValueError(reason)
        (staging / "agreement.json").write_text(json.dumps(record) + "\n")
        _move_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def agreement_of(fp32: Path, int8: Path, faces: torch.Tensor) -> dict[str, float]:
    """How two graphs agree on ``faces``: shares of equal AU decisions and expressions, VA differences.

    Returns
    -------
    dict
        ``AU`` and ``EXPR`` shares in [0, 1]; ``VA_max`` and ``VA_mean``, the largest and mean
        absolute difference of valence and arousal.
    """
    import onnxruntime

    outputs = []
    for path in (fp32, int8):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs.append(session.run(["au", "expr", "va"], {session.get_inputs()[0].name: faces.float().numpy()}))
    (au_a, expr_a, va_a), (au_b, expr_b, va_b) = outputs
    va = np.abs(va_a.astype(np.float64) - va_b.astype(np.float64))
    return {
        "AU": float(((au_a > 0) == (au_b > 0)).mean()),  # logit > 0 is probability > 0.5
        "EXPR": float((expr_a.argmax(-1) == expr_b.argmax(-1)).mean()),
        "VA_max": float(va.max()) if va.size else 0.0,
        "VA_mean": float(va.mean()) if va.size else 0.0,
    }


def gate_failures(measured: Mapping[str, float], gate: Mapping[str, float]) -> list[str]:
    """What of ``measured`` (:func:`agreement_of`) falls short of ``gate``, one phrase each (empty: it passes)."""
    short = [
        f"{task} decisions agree on {measured[task]:.1%} (needs {gate[task]:.0%})"
        for task in ("AU", "EXPR")
        if measured[task] < gate[task]
    ]
    if measured["VA_max"] > gate["VA"]:
        short.append(
            f"VA differs by up to {measured['VA_max']:.3f} (mean {measured['VA_mean']:.3f}; allowed {gate['VA']:g})"
        )
    return short


def _calibration(calibration: Calibration | torch.Tensor | Callable[[], torch.Tensor], name: str | None) -> Calibration:
    if isinstance(calibration, Calibration):
        return calibration
    if isinstance(calibration, torch.Tensor):
        return Calibration.of(calibration) if name is None else Calibration(name, lambda: calibration)
    if name is None:
        raise ValueError("a calibration function needs a calibration_name for the cache key")
    return Calibration(name, calibration)


def _move_into_place(staging: Path, path: Path) -> None:
    try:
        staging.rename(path.parent)
    except OSError:  # another process cached it first
        if not path.is_file():
            raise


def _check(model: SMMEmotionNet, path: Path) -> None:
    import onnxruntime

    inputs = torch.rand(3, *model.default_input_size, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["au_features", "message"], {session.get_inputs()[0].name: inputs.numpy()})
    with torch.no_grad():
        out = model(inputs)
    # Relative to each output's scale (at least 1): an untrained InceptionV3's message vectors reach 1e5,
    # where float32 rounding alone differs by more than 1e-4 absolute.
    worst = max(
        float((torch.from_numpy(value) - expected).abs().max()) / max(1.0, float(expected.abs().max()))
        for value, expected in zip(got, (out.au_features, out.message), strict=True)
    )
    if worst > TOLERANCE:
        raise ValueError(
            f"the ONNX export differs from eager PyTorch by {worst:.2e} of the outputs' scale (> {TOLERANCE:g}); "
            "use engine='eager'"
        )


def _cpu_copy(model: SMMEmotionNet) -> SMMEmotionNet:
    import copy

    cpu = copy.deepcopy(model).float().cpu().eval()
    return cpu.to(memory_format=torch.contiguous_format)


__all__ = [
    "INT8_GATE",
    "TOLERANCE",
    "Calibration",
    "agreement_of",
    "exported_graph",
    "exported_path",
    "gate_failures",
    "graph_cache",
    "quantized_graph",
    "quantized_path",
]
