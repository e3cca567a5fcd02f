"""What runs the model at prediction time, decided in one place: the engine and its precision.

Engines:

- ``"eager"``: the model itself under one :class:`~smm.inference.runtime.Precision` (bf16
  autocast with ``channels_last`` input where the CPU or GPU has bf16 units, else fp32);
- ``"onnxruntime"``: the model's ONNX graph (fp32, CPU; exported once per model, cached and
  checked against eager PyTorch, :func:`smm.inference.graphs.exported_graph`);
- ``"onnxruntime-int8"``: its int8 quantisation, calibrated on real aligned faces and used only
  where it passes its gate on faces it was not calibrated on
  (:func:`smm.inference.graphs.quantized_graph`);
- ``"auto"`` (the default everywhere): **the fastest accepted engine on this machine, by
  measurement** (:func:`smm.inference.autotune.pick`). The first time a model (by its
  fingerprint) runs on a machine (by CPU model, flags, threads, GPU and library versions),
  each candidate is timed on one batch of the run's shape: eager fp32, eager bf16 where the CPU
  or GPU has bf16 units, ONNX Runtime fp32 (CPU, with the ``export`` extra), and ONNX Runtime
  int8 where calibration faces are at hand and its gate accepts the model. An ONNX graph that
  is not cached yet is made only when the run is long enough to pay for making it
  (:data:`smm.inference.engines.MAKING_COST`). The choice is cached beside the exported graphs and reused without
  timing. Runs of fewer than :data:`~smm.inference.autotune.AUTO_MIN_IMAGES` images (or of an
  unknown number) are not timed: they run eager PyTorch at ``precision``, unless a choice is
  cached.

``precision`` is resolved here and nowhere else (:func:`precision_setup`; the trainer calls it
too), and engines are built only by :func:`make_engine`.

Every engine is a callable from a batch of model inputs to ``(au_features, message)``, the
two outputs prediction keeps (:func:`smm.inference.core.image_features`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from smm.defaults import DEFAULT_ENGINE, DEFAULT_PRECISION, ENGINES
from smm.inference import autotune
from smm.inference.graphs import (
    Calibration,
    exported_graph,
    exported_path,
    graph_cache,
    quantized_graph,
    quantized_path,
)
from smm.inference.machine import cpu_supports_bf16, machine_key
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet
from smm.models.fingerprint import model_fingerprint

_logger = logging.getLogger("smm.inference")


class Engine(Protocol):
    """Model inputs ``Tensor[B, C, H, W]`` -> ``(au_features [B, H, D], message [B, D])``, float32 on the CPU.

    ``name`` says what it is (``"eager (bf16, channels_last)"``); an engine that ``"auto"``
    picked also says why in ``auto`` (else ``None``).
    """

    name: str

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def precision_setup(precision: Precision | str | torch.dtype | None, device: torch.device | str) -> Precision:
    """The one resolution of a precision: ``"auto"``, a name, a dtype or ``None`` (fp32) on ``device``.

    The eager engine, the trainer and validation all take their :class:`Precision` from here.

    Raises
    ------
    ValueError
        For an unknown precision, or fp16 on a CPU.
    """
    return Precision.resolve(precision, device)


class EagerEngine:
    """The model itself, under one precision set-up (:func:`precision_setup`)."""

    auto: str | None = None

    def __init__(self, model: SMMEmotionNet, precision: Precision | str = DEFAULT_PRECISION) -> None:
        self.model = model
        self.setup = precision_setup(precision, next(model.parameters()).device)
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
        Run the int8 graph (:func:`~smm.inference.graphs.quantized_graph`), which refuses to be
        made where it agrees too little with fp32.
    calibration : Calibration or Tensor, optional
        With ``int8`` (and then needed): the real aligned faces to calibrate and check on, e.g.
        :func:`smm.inference.calibration.face_calibration`.
    """

    auto: str | None = None

    def __init__(
        self,
        model: SMMEmotionNet,
        *,
        cache: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        int8: bool = False,
        calibration: Calibration | torch.Tensor | None = None,
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
            if calibration is None:
                raise ValueError(
                    "engine 'onnxruntime-int8' needs real aligned faces to calibrate on: pass "
                    "calibration=smm.inference.calibration.face_calibration(model) (the face extra)"
                )
            self.path = quantized_graph(model, calibration, cache=cache)
        else:
            self.path = exported_graph(model, cache=cache)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.name = "onnxruntime (fp32)"
        self.agreement: dict[str, float] | None = None
        if int8:
            self.agreement = json.loads((self.path.parent / "agreement.json").read_text())
            self.name = f"onnxruntime (int8; {describe_agreement(self.agreement)})"

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        au_features, message = self.session.run(
            ["au_features", "message"], {self.input: batch.float().cpu().contiguous().numpy()}
        )
        return torch.from_numpy(au_features), torch.from_numpy(message)


def describe_agreement(agreement: dict[str, float]) -> str:
    """``agrees with fp32 on 100.0% of AU decisions and 98.0% of expressions of 50 real faces, VA within 0.012``."""
    return (
        f"agrees with fp32 on {agreement['AU']:.1%} of AU decisions and {agreement['EXPR']:.1%} of expressions "
        f"of {agreement['faces']} real faces, VA within {agreement['VA_max']:.3f}"
    )


def resolve_engine(engine: str, device: torch.device | str) -> str:
    """``engine`` checked against :data:`~smm.defaults.ENGINES` and ``device`` (ONNX Runtime runs on the CPU).

    Raises
    ------
    ValueError
        For an unknown engine, or an ONNX Runtime engine on another device.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine.startswith("onnxruntime") and torch.device(device).type != "cpu":
        raise ValueError(f"engine {engine!r} runs on the CPU, not on {device}; use engine='eager'")
    return engine


@dataclass(frozen=True)
class Candidate:
    """One engine ``"auto"`` may pick: an engine name and the precision it runs at."""

    engine: str
    precision: str

    @property
    def label(self) -> str:
        """``"eager bf16"``, ``"onnxruntime fp32"``, ``"onnxruntime int8"``."""
        if self.engine == "onnxruntime-int8":
            return "onnxruntime int8"
        return f"{self.engine} {self.precision}"


def candidates(
    model: SMMEmotionNet, precision: Precision | str = DEFAULT_PRECISION, *, calibration: object | None = None
) -> list[Candidate]:
    """The engines ``"auto"`` times for ``model`` on its device; the first, eager at ``precision``, is the default.

    With ``precision="auto"``: eager at each precision the device runs natively (fp32, and bf16
    where it has bf16 units), ONNX Runtime fp32, and ONNX Runtime int8 when ``calibration`` is
    given. A precision named keeps the candidates that run at it: ``"fp32"`` eager and ONNX
    Runtime fp32; ``"bf16"`` or ``"fp16"`` eager alone. ONNX Runtime needs the ``export``
    extra, a CPU and a backbone.
    """
    device = next(model.parameters()).device
    auto = precision == "auto"  # a resolved Precision is never "auto"
    default = precision_setup(precision, device).name
    found = [Candidate("eager", default)]
    if auto:
        found += [
            Candidate("eager", other) for other in ("fp32", "bf16") if other != default and _has_units(other, device)
        ]
    onnx = device.type == "cpu" and model.backbone is not None and _onnxruntime_installed()
    if onnx and (auto or default == "fp32"):
        found.append(Candidate("onnxruntime", "fp32"))
        if auto and calibration is not None:
            found.append(Candidate("onnxruntime-int8", "int8"))
    return found


def make_engine(
    model: SMMEmotionNet,
    engine: str | Engine = DEFAULT_ENGINE,
    *,
    precision: Precision | str = DEFAULT_PRECISION,
    calibration: Calibration | torch.Tensor | None = None,
    workload: int | None = None,
    batch_size: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> Engine:
    """The engine ``engine`` names for ``model`` on its device (see the module); a built engine passes through.

    Parameters
    ----------
    model : SMMEmotionNet
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        Of the eager engine; with ``"auto"`` it also limits the candidates (see :func:`candidates`).
    calibration : Calibration or Tensor, optional
        Real aligned faces for the int8 engine (:func:`smm.inference.calibration.face_calibration`);
        without them ``"auto"`` does not consider int8.
    workload : int, optional
        Images the run will predict: ``"auto"`` times the engines only for runs of at least
        :data:`~smm.inference.autotune.AUTO_MIN_IMAGES`.
    batch_size : int, optional
        The run's batch size; the timing batch is at most :data:`~smm.inference.autotune.TIMING_BATCH`.
    cache : path-like, optional
        Folder of exported graphs and measured choices (default ``$SMM_EMOTIONNET_CACHE/onnx``).
    log : callable, optional
        Told, in one line each, what went wrong on the way that did not stop the run (a cached
        choice that is ignored, a choice that could not be cached); default: the
        ``smm.inference`` logger, which also hears ``engine: ...`` for every engine made.
        What ``"auto"`` picked and why is the engine's ``auto`` (:func:`describe_engine`).

    Raises
    ------
    ValueError
        For an unknown engine or precision, ONNX Runtime off the CPU, an int8 engine without
        calibration or refused by its gate, an export that fails its check (asked by name), or
        a precision given beside a built engine.
    """
    say = log if log is not None else _logger.info
    if not isinstance(engine, str):
        if precision != DEFAULT_PRECISION:
            raise ValueError(f"precision={precision!r} goes with an engine name; the engine given runs at its own")
        return engine
    device = next(model.parameters()).device
    name = resolve_engine(engine, device)
    if name == "eager":
        built: Engine = EagerEngine(model, precision)
    elif name == "auto":
        built = _auto(model, precision, calibration, workload, batch_size, cache, say)
    else:
        built = _build(model, Candidate(name, "int8" if name == "onnxruntime-int8" else "fp32"), calibration, cache)
    _logger.info("engine: %s", describe_engine(built))
    return built


def _auto(
    model: SMMEmotionNet,
    precision: Precision | str,
    calibration: Calibration | torch.Tensor | None,
    workload: int | None,
    batch_size: int | None,
    cache: str | os.PathLike[str] | None,
    say: Callable[[str], None],
) -> Engine:
    """The engine ``"auto"`` picks (:func:`smm.inference.autotune.pick`) among :func:`candidates`."""
    options = {c.label: c for c in candidates(model, precision, calibration=calibration)}
    labels = list(options)
    if len(labels) == 1:
        return _picked(_build(model, options[labels[0]], None, cache), "auto: the only engine here")
    machine = machine_key(next(model.parameters()).device)
    fingerprint = model_fingerprint(model)
    facts = {"model": fingerprint, "input": list(model.default_input_size), "machine": machine, "candidates": labels}
    size = max(1, min(autotune.TIMING_BATCH, batch_size or autotune.TIMING_BATCH, workload or 1))
    was_training = model.training
    model.eval()
    try:
        engine, why = autotune.pick(
            labels,
            lambda label: _build(model, options[label], calibration, cache),
            ready=lambda label: _graph_made(model, options[label], calibration, cache),
            making=lambda label: _making_cost(model, options[label], cache),
            reference="eager fp32",
            batch=torch.rand(size, *model.default_input_size, generator=torch.Generator().manual_seed(0)),
            workload=workload,
            key=autotune.choice_key(fingerprint, model.default_input_size, machine, labels),
            facts=facts,
            choices=autotune.ChoiceCache(graph_cache(cache) / "auto", log=say),
            say=say,
        )
    finally:
        model.train(was_training)
    return _picked(engine, why)


#: The one-off cost of making each engine's graph, in images' worth of eager fp32 time (the export's, and
#: the int8 quantisation's on top). Measured with the full smm_abaw3 on a 2-thread Xeon with AMX, where
#: eager fp32 ran 20 img/s: export and check 9.8 s, int8 quantisation and its gate on 100 faces 15.3 s.
MAKING_COST = {"onnxruntime": 200.0, "onnxruntime-int8": 300.0}


def _graph_made(
    model: SMMEmotionNet, candidate: Candidate, calibration: Calibration | torch.Tensor | None, cache: object
) -> bool:
    """Whether ``candidate`` is built without making a graph: eager, or a graph already in the cache."""
    if candidate.engine == "eager":
        return True
    if candidate.engine == "onnxruntime":
        return exported_path(model, cache=cache).is_file()
    path = quantized_path(model, calibration, cache=cache) if calibration is not None else None
    return path is not None and (path.is_file() or path.with_name("refused.json").is_file())


def _making_cost(model: SMMEmotionNet, candidate: Candidate, cache: object) -> float:
    """What making ``candidate``'s graphs costs now (:data:`MAKING_COST`), the fp32 export where it is not made."""
    export = 0.0 if exported_path(model, cache=cache).is_file() else MAKING_COST["onnxruntime"]
    return export + (MAKING_COST["onnxruntime-int8"] if candidate.engine == "onnxruntime-int8" else 0.0)


def _build(
    model: SMMEmotionNet,
    candidate: Candidate,
    calibration: Calibration | torch.Tensor | None,
    cache: str | os.PathLike[str] | None,
) -> Engine:
    if candidate.engine == "eager":
        return EagerEngine(model, candidate.precision)
    if model.backbone is None:
        raise ValueError(f"engine {candidate.engine!r} runs whole models (images in), not heads alone")
    if candidate.engine == "onnxruntime-int8":
        return OnnxRuntimeEngine(model, cache=cache, int8=True, calibration=calibration)
    return OnnxRuntimeEngine(model, cache=cache)


def describe_engine(engine: Engine) -> str:
    """What runs the model, and why where ``"auto"`` picked it: ``eager (bf16, channels_last) (auto: ...)``."""
    why = getattr(engine, "auto", None)
    return f"{engine.name} ({why})" if why else engine.name


def _picked(engine: Engine, why: str) -> Engine:
    engine.auto = why  # type: ignore[attr-defined]
    return engine


def _has_units(precision: str, device: torch.device) -> bool:
    """Whether ``device`` runs ``precision`` natively: fp32 always; bf16 with bf16 units."""
    if precision == "fp32":
        return True
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and cpu_supports_bf16()


def _onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


__all__ = [
    "MAKING_COST",
    "Candidate",
    "EagerEngine",
    "Engine",
    "OnnxRuntimeEngine",
    "candidates",
    "describe_agreement",
    "describe_engine",
    "make_engine",
    "precision_setup",
    "resolve_engine",
]
