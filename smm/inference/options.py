"""The options of a prediction, stated once: :class:`PredictOptions`, and the engine they build.

Every prediction entry point (:func:`smm.predict_images`, :func:`smm.predict_video`,
:func:`smm.inference.predict_frames`, the submission writers, :func:`smm.runs.predict_inputs`
and the command line) takes its options as keyword arguments, with their defaults from
:mod:`smm.defaults`, and builds one :class:`PredictOptions` from them: the values are checked
there, once, and everything below the entry point reads that one object. The engine is built
once per call or run (:func:`build_engine`) and handed down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from smm.defaults import (
    BATCH_SIZE,
    CLAMP_VA,
    DEFAULT_ENGINE,
    DEFAULT_FACES,
    DEFAULT_PRECISION,
    DETECT_EVERY,
    DETECT_SIZE,
    ENGINES,
    PRECISIONS,
    THRESHOLD,
)
from smm.face.video import FaceChoice, check_detect_every, check_detect_size, check_faces
from smm.inference.calibration import face_calibration
from smm.inference.core import Alpha, check_batch_size, check_threshold
from smm.inference.engines import Engine, describe_engine, make_engine
from smm.inference.progress import engine_line
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet
from smm.temporal import smoothing_strengths

#: Options that change no output: left out of a run's record (a rerun with another value resumes).
NO_EFFECT = frozenset({"progress"})
#: Options a run records through the engine built from them (its name says the engine and precision).
BY_ENGINE = frozenset({"engine", "precision"})
#: The metadata of the options of the face pipeline, which frame folders (already aligned faces) do not use.
_FACE_OPTION = {"faces": True}


@dataclass(frozen=True)
class PredictOptions:
    """How to predict: every option of the prediction entry points, checked once.

    Attributes
    ----------
    batch_size : int, default :data:`~smm.defaults.BATCH_SIZE` (32)
        Model inputs a forward pass (predictions do not depend on it).
    threshold : float, default :data:`~smm.defaults.THRESHOLD` (0.5)
        AU decision: ``au_prob > threshold``.
    clamp_va : bool, default False
        Clamp valence and arousal to [-1, 1] (the published tester wrote them raw).
    alpha : float, mapping, "published" or None, default None
        Temporal smoothing per output (:func:`smm.temporal.smoothing_strengths`).
    faces : {"all", "largest"}, default "all"
        Photos and videos: every face, or the largest (followed) one.
    detect_every : int, default :data:`~smm.defaults.DETECT_EVERY` (10)
        Videos: full detection every N frames (and on every cut).
    detect_size : int or None, default :data:`~smm.defaults.DETECT_SIZE` (480)
        Full detection on the image scaled to this shorter side; ``None``: full resolution.
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
        What runs the model (:func:`smm.inference.engines.make_engine`).
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        The eager engine's autocast dtype.
    progress : bool or None, default None
        A progress bar on stderr; ``None``: where a person is watching.

    Raises
    ------
    ValueError
        Naming the first option that is out of range.
    """

    batch_size: int = BATCH_SIZE
    threshold: float = THRESHOLD
    clamp_va: bool = CLAMP_VA
    alpha: Alpha = None
    faces: FaceChoice = field(default=DEFAULT_FACES, metadata=_FACE_OPTION)
    detect_every: int = field(default=DETECT_EVERY, metadata=_FACE_OPTION)
    detect_size: int | None = field(default=DETECT_SIZE, metadata=_FACE_OPTION)
    engine: str | Engine = DEFAULT_ENGINE
    precision: Precision | str = DEFAULT_PRECISION
    progress: bool | None = None

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size)
        check_threshold(self.threshold)
        if not isinstance(self.clamp_va, bool):
            raise ValueError(f"clamp_va must be True or False, got {self.clamp_va!r}")
        smoothing_strengths(self.alpha)
        check_faces(self.faces)
        check_detect_every(self.detect_every)
        check_detect_size(self.detect_size)
        if isinstance(self.engine, str) and self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))} or an Engine, got {self.engine!r}")
        if isinstance(self.precision, str) and self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")  # as Precision says
        if self.progress not in (None, True, False):
            raise ValueError(f"progress must be True, False or None, got {self.progress!r}")

    @classmethod
    def recorded(cls, *, frames_only: bool = False) -> tuple[str, ...]:
        """The options a run's record holds by value: every option but :data:`NO_EFFECT` and :data:`BY_ENGINE`,
        and, with ``frames_only`` (frame folders: faces already aligned), but the face pipeline's (``faces``,
        ``detect_every``, ``detect_size``)."""
        return tuple(
            f.name
            for f in fields(cls)
            if f.name not in NO_EFFECT | BY_ENGINE and not (frames_only and f.metadata.get("faces", False))
        )

    def record(self, engine: Engine, *, frames_only: bool = False) -> dict[str, Any]:
        """What a run records of these options: each option that changes outputs, and the engine built from them.

        Parameters
        ----------
        engine : Engine
            The engine built from ``engine`` and ``precision`` (:func:`build_engine`):
            its name is recorded, so ``"auto"`` resolving to another engine is a change.
        frames_only : bool, default False
            A run of frame folders (faces already aligned): the face pipeline's options are not
            part of its record.

        Returns
        -------
        dict
            JSON-ready: a mapping ``alpha`` becomes a plain dict.
        """
        values: dict[str, Any] = {"engine": engine.name}
        for name in self.recorded(frames_only=frames_only):
            value = getattr(self, name)
            values[name] = dict(value) if isinstance(value, Mapping) else value
        return values


def build_engine(
    model: SMMEmotionNet,
    options: PredictOptions,
    workload: int | None,
    *,
    calibrate: bool = True,
    log: Callable[[str], None] | None = None,
    shown: bool = False,
) -> Engine:
    """The engine of one call or run, built once from ``options.engine`` and ``options.precision``.

    Parameters
    ----------
    model : SMMEmotionNet
    options : PredictOptions
    workload : int or None
        Images to predict: ``"auto"`` times the engines only for large runs.
    calibrate : bool, default True
        Whether the inputs are faces aligned by the face pipeline: then the int8 engine may be
        calibrated on real aligned faces (:func:`smm.inference.calibration.face_calibration`).
    log : callable, optional
        Told what went wrong on the way without stopping the run.
    shown : bool, default False
        Say the choice in one line on stderr when it took more than a moment (as the CLI does).
    """
    began = time.perf_counter()
    run = make_engine(
        model,
        options.engine,
        precision=options.precision,
        calibration=face_calibration(model) if calibrate else None,
        workload=workload,
        batch_size=options.batch_size,
        log=log,
    )
    if shown and isinstance(options.engine, str):
        engine_line(time.perf_counter() - began, lambda: describe_engine(run))
    return run


__all__ = ["BY_ENGINE", "NO_EFFECT", "PredictOptions", "build_engine"]
