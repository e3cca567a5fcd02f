"""Which engine runs the model at prediction time: eager PyTorch, or ONNX Runtime on CPUs without bf16 units.

``engine="auto"`` picks eager PyTorch (bf16 autocast where the CPU or GPU has bf16 units,
:mod:`smm.runtime`) and ONNX Runtime on CPUs without them when ``onnxruntime`` is installed
(the ``export`` extra): there, ONNX Runtime's fp32 kernels run the full model faster than
eager fp32 (``benchmarks/README.md``). The ONNX graph is exported once per model and kept in
a cache keyed by the model's fingerprint (weights, config, input size, opset, torch version),
and checked against eager PyTorch when it is first made (largest difference at most
:data:`TOLERANCE` of each output's scale); a graph that fails the check is not used.

Every engine is a callable from a batch of model inputs to ``(au_features, message)``, the
two outputs prediction keeps (:func:`smm.inference.image_features`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from smm.model import SMMEmotionNet
from smm.runtime import Precision, cpu_supports_bf16

#: ``engine=``'s choices. ``"onnxruntime-int8"`` is never picked by ``"auto"``: ask for it.
ENGINES = ("auto", "eager", "onnxruntime", "onnxruntime-int8")
#: The int8 graph is used only where its decisions agree with fp32's on at least these shares of
#: the calibration faces: AU decisions (faces x AUs) and expressions (faces).
INT8_AGREEMENT = {"AU": 0.99, "EXPR": 0.98}
#: Largest difference allowed between the ONNX graph's outputs and eager PyTorch's, relative to each
#: output's largest magnitude (absolute for outputs within [-1, 1]).
TOLERANCE = 1e-4


class Engine(Protocol):
    """Model inputs ``Tensor[B, C, H, W]`` -> ``(au_features [B, H, D], message [B, D])``, float32 on the CPU."""

    name: str

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class EagerEngine:
    """The model itself, under one precision set-up (:class:`smm.runtime.Precision`)."""

    def __init__(self, model: SMMEmotionNet, precision: Precision | str = "auto") -> None:
        self.model = model
        self.setup = Precision.resolve(precision, next(model.parameters()).device)
        self.name = f"eager ({self.setup})"

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.setup.autocast():
            out = self.model(self.setup.inputs(batch))
        return out.au_features.float().cpu(), out.message.float().cpu()


class OnnxRuntimeEngine:
    """The model exported to ONNX (cached, checked against eager once), run by ONNX Runtime on the CPU.

    Parameters
    ----------
    model : SMMEmotionNet
        With a backbone.
    cache : path-like, optional
        Folder of exported graphs; default ``$SMM_EMOTIONNET_CACHE/onnx`` (``~/.cache/smm-emotionnet/onnx``).
    threads : int, optional
        ONNX Runtime's intra-op threads; default torch's.
    int8 : bool, default False
        Run the int8 graph (:func:`quantized_graph`), which refuses to be made where it agrees
        too little with fp32.
    calibration : Tensor or callable, optional
        With ``int8``: the faces to calibrate on (see :func:`quantized_graph`); default
        :func:`smm.face.calibration.calibration_faces`, which needs the ``face`` extra.
    """

    def __init__(
        self,
        model: SMMEmotionNet,
        *,
        cache: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        int8: bool = False,
        calibration: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    ) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError(
                'engine "onnxruntime" needs the export extra: pip install "smm-emotionnet[export]"'
            ) from error
        if model.backbone is None:
            raise ValueError("the onnxruntime engine runs whole models (images in), not heads alone")
        if int8:
            name = None if calibration is not None else DEFAULT_CALIBRATION
            faces = calibration if calibration is not None else _default_calibration(model)
            self.path = quantized_graph(model, faces, cache=cache, calibration_name=name)
        else:
            self.path = exported_graph(model, cache=cache)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.name = "onnxruntime (fp32)"
        if int8:
            agrees = json.loads((self.path.parent / "agreement.json").read_text())
            self.name = (
                f"onnxruntime (int8; agrees with fp32 on {agrees['AU']:.1%} of AU decisions and "
                f"{agrees['EXPR']:.1%} of expressions of {agrees['faces']} real faces)"
            )

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        au_features, message = self.session.run(
            ["au_features", "message"], {self.input: batch.float().cpu().contiguous().numpy()}
        )
        return torch.from_numpy(au_features), torch.from_numpy(message)


def model_fingerprint(model: SMMEmotionNet) -> str:
    """A sha256 of the model's weights (names, dtypes, shapes, values) and config: equal fingerprints, equal models."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


def exported_graph(model: SMMEmotionNet, *, cache: str | os.PathLike[str] | None = None) -> Path:
    """The model's ONNX graph in the cache, exported and checked against eager PyTorch on first use.

    Raises
    ------
    ValueError
        When the exported graph's outputs differ from eager PyTorch's by more than
        :data:`TOLERANCE` (the graph is then removed, not cached).
    """
    import shutil
    import tempfile

    from smm.export import DEFAULT_OPSET, to_onnx

    folder = Path(cache) if cache is not None else _default_cache()
    key = hashlib.sha256(
        f"{model_fingerprint(model)}:{model.default_input_size}:{DEFAULT_OPSET}:{torch.__version__}".encode()
    ).hexdigest()[:24]
    path = folder / key / "model.onnx"
    if path.is_file():
        return path
    cpu = _cpu_copy(model)
    folder.mkdir(parents=True, exist_ok=True)
    # The exporter may write the weights beside the graph: export into a staging folder, check,
    # then move the folder into place, so a cached graph is always whole and checked.
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder))
    try:
        to_onnx(cpu, staging / "model.onnx")
        _check(cpu, staging / "model.onnx")
        try:
            staging.rename(path.parent)
        except OSError:  # another process cached it first
            if not path.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def quantized_graph(
    model: SMMEmotionNet,
    calibration: torch.Tensor | Callable[[], torch.Tensor],
    *,
    cache: str | os.PathLike[str] | None = None,
    agreement: dict[str, float] | None = None,
    calibration_name: str | None = None,
) -> Path:
    """The model's int8 ONNX graph (ONNX Runtime static quantisation), cached, and accepted only if it agrees.

    Activations are calibrated on aligned face crops, e.g.
    :func:`smm.face.calibration.calibration_faces` (scikit-image's real faces, detected and
    aligned as prediction does). The graph is used only where its AU decisions and expressions
    agree with the fp32 graph's on at least :data:`INT8_AGREEMENT` of those faces.

    Parameters
    ----------
    model : SMMEmotionNet
    calibration : Tensor[N, C, H, W] or callable
        Model inputs of real faces, or a function that makes them (called only when the graph
        is not cached yet).
    cache : path-like, optional
    agreement : dict, optional
        ``{"AU": share, "EXPR": share}``; default :data:`INT8_AGREEMENT`.
    calibration_name : str, optional
        Names a callable's faces in the cache key (a tensor is named by its contents).

    Raises
    ------
    ValueError
        When the int8 graph agrees less (saying how much); it is then not cached.
    """
    import shutil
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    needed = dict(INT8_AGREEMENT if agreement is None else agreement)
    fp32 = exported_graph(model, cache=cache)
    if isinstance(calibration, torch.Tensor):
        name = calibration_name or _faces_digest(calibration)
    elif calibration_name is None:
        raise ValueError("a calibration function needs a calibration_name for the cache key")
    else:
        name = calibration_name
    folder = fp32.parent.parent
    key = hashlib.sha256(f"{fp32.parent.name}:int8:{name}:{sorted(needed.items())}".encode())
    path = folder / key.hexdigest()[:24] / "model.onnx"
    if path.is_file():
        return path
    faces = calibration if isinstance(calibration, torch.Tensor) else calibration()

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(faces.split(8))

        def get_next(self) -> dict[str, object] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch.float().numpy()}

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
            )
        finally:
            logging.disable(logging.NOTSET)
        agrees = _agreement(fp32, staging / "model.onnx", faces)
        short = {task: share for task, share in agrees.items() if share < needed[task]}
        if short:
            said = ", ".join(f"{task} {agrees[task]:.1%} (needs {needed[task]:.0%})" for task in short)
            raise ValueError(
                f"the int8 graph agrees with fp32 on too few decisions of the calibration faces: {said}; "
                "use engine='onnxruntime' (fp32)"
            )
        (staging / "agreement.json").write_text(json.dumps({**agrees, "faces": len(faces)}) + "\n")
        try:
            staging.rename(path.parent)
        except OSError:
            if not path.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


#: The cache name of the default calibration faces (:func:`smm.face.calibration.calibration_faces`).
DEFAULT_CALIBRATION = "scikit-image faces, 64, aligned"


def _default_calibration(model: SMMEmotionNet) -> Callable[[], torch.Tensor]:
    """The default calibration faces, made only when needed; they live with the face pipeline (``smm.face``),
    which this module must not import (``smm.face`` builds on the inference core)."""

    def make() -> torch.Tensor:
        calibration = importlib.import_module("smm.face.calibration")
        return calibration.calibration_faces(model)

    return make


def _agreement(fp32: Path, int8: Path, faces: torch.Tensor) -> dict[str, float]:
    """Shares of AU decisions and expressions on which two graphs agree."""
    import onnxruntime

    outputs = []
    for path in (fp32, int8):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        au, expr = session.run(["au", "expr"], {session.get_inputs()[0].name: faces.float().numpy()})
        outputs.append((au > 0, expr.argmax(-1)))  # logit > 0 is probability > 0.5
    (au_a, expr_a), (au_b, expr_b) = outputs
    return {"AU": float((au_a == au_b).mean()), "EXPR": float((expr_a == expr_b).mean())}


def _faces_digest(faces: torch.Tensor) -> str:
    return hashlib.sha256(faces.float().contiguous().numpy().tobytes()).hexdigest()[:16]


def resolve_engine(engine: str, device: torch.device | str) -> str:
    """``"eager"`` or ``"onnxruntime"`` for ``engine`` on ``device`` (the ``"auto"`` rule of the module)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        if engine.startswith("onnxruntime") and torch.device(device).type != "cpu":
            raise ValueError(f"engine {engine!r} runs on the CPU, not on {device}; use engine='eager'")
        return engine
    on_cpu = torch.device(device).type == "cpu"
    available = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    return "onnxruntime" if on_cpu and not cpu_supports_bf16() and available else "eager"


def make_engine(
    model: SMMEmotionNet,
    engine: str = "auto",
    *,
    precision: Precision | str = "auto",
    log: Callable[[str], None] | None = None,
) -> EagerEngine | OnnxRuntimeEngine:
    """The engine ``engine`` resolves to for ``model`` on its device (see the module).

    ``precision`` applies to the eager engine; ONNX Runtime runs fp32. With ``"auto"``, an
    ONNX export that fails (or fails its check against eager) falls back to eager PyTorch,
    saying why through ``log``; with ``"onnxruntime"`` it raises.
    """
    device = next(model.parameters()).device
    if resolve_engine(engine, device) == "onnxruntime-int8":
        return OnnxRuntimeEngine(model, int8=True)
    if resolve_engine(engine, device) == "onnxruntime" and model.backbone is not None:
        if engine == "onnxruntime":
            return OnnxRuntimeEngine(model)
        try:
            return OnnxRuntimeEngine(model)
        except Exception as error:
            if log is not None:
                log(f"note: ONNX Runtime is not used ({' '.join(str(error).split())[:200]}); running eager PyTorch")
    return EagerEngine(model, precision)


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


def _default_cache() -> Path:
    from smm.registry import cache_dir

    return cache_dir() / "onnx"


__all__ = [
    "ENGINES",
    "INT8_AGREEMENT",
    "TOLERANCE",
    "EagerEngine",
    "Engine",
    "OnnxRuntimeEngine",
    "exported_graph",
    "make_engine",
    "model_fingerprint",
    "quantized_graph",
    "resolve_engine",
]
