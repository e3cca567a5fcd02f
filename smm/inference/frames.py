"""Prediction on Aff-Wild2-style frame folders: one row per video frame, smoothed over time as published.

Aff-Wild2's cropped-aligned folders have gaps: frame ``n`` of a video is the image
``0000n.jpg``, and frames where no face was found have no image. A prediction file needs
one line per frame of the video, so :func:`predict_frames` predicts the images it finds and
then fills every frame without an image the way the published tester does: with the
prediction of the nearest earlier frame that has one, and frames before the first image
with the first image's prediction. ``FramePredictions.observed`` marks the frames that had
an image, so filled frames can be left out of a metric.

The writers of the challenge files live in :mod:`smm.formats.abaw_files`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence, Sized
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from smm.data.frames import frame_number, list_frames
from smm.defaults import BATCH_SIZE, CLAMP_VA, DEFAULT_ENGINE, DEFAULT_PRECISION, THRESHOLD
from smm.inference.core import Alpha, image_features, predictions
from smm.inference.engines import Engine
from smm.inference.options import PredictOptions, build_engine
from smm.inference.preprocess import ModelBatches, Preprocess
from smm.inference.results import FramePredictions
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet

__all__ = ["frame_predictions", "predict_frames"]


def _load_frames(paths: Sequence[Path]) -> Iterator[torch.Tensor]:
    """Each frame image as a ``[1, H, W, 3]`` uint8 RGB block, preprocessed in batches as the face pipeline's crops
    are (:class:`~smm.inference.preprocess.ModelBatches`), so a frame folder and a video give the same inputs."""
    first_size = None
    for path in paths:
        try:
            with Image.open(path) as image:
                if first_size is None:
                    first_size = image.size
                elif image.size != first_size:
                    raise ValueError(f"{path}: frame of size {image.size}, but the video's first frame is {first_size}")
                rgb = np.array(image if image.mode == "RGB" else image.convert("RGB"))  # a copy torch can own
        except UnidentifiedImageError:
            raise ValueError(f"{path}: cannot be read as an image") from None
        yield torch.from_numpy(rgb)[None]


@torch.no_grad()
def predict_frames(
    model: SMMEmotionNet,
    frames: str | os.PathLike[str] | Iterable[torch.Tensor],
    *,
    num_frames: int | None = None,
    include: Collection[int] | None = None,
    batch_size: int = BATCH_SIZE,
    alpha: Alpha = None,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
    precision: Precision | str = DEFAULT_PRECISION,
    progress: bool = False,
    engine: str | Engine = DEFAULT_ENGINE,
) -> FramePredictions:
    """Predict every frame of one video, with bounded memory; one row per frame.

    Images go through the model ``batch_size`` at a time; only the small per-frame AU
    features and message vectors are kept. With ``alpha`` they are smoothed over the
    images in frame order (:func:`smm.temporal.exponential_smoothing`) before the heads'
    final linear layers, as the published system does. Frames without an image are then
    filled (see the module docstring and :func:`fill_index`).

    Parameters
    ----------
    model : SMMEmotionNet
        Run in eval mode on its own device.
    frames : path-like or iterable of Tensor[3, H, W]
        A folder of frame images (``00001.jpg`` is frame 1; ``9.jpg`` frame 9), each turned
        into the model's input by :func:`smm.inference.preprocess` of the model's
        ``data_config``; or already-preprocessed tensors of frames 1, 2, 3, ...
    num_frames : int, optional
        Frames of the video (from the video file, the annotation file or the test list).
        Default: the last frame that has an image, so trailing frames without an image are
        not written; give the count for a challenge file.
    include : collection of int, optional
        Only the images of these frame numbers are used (e.g. the frames a multi-task test
        list names); the others are treated as missing. Folders only.
    batch_size : int, default 32
    alpha : float, mapping, "published" or None
        Temporal smoothing strength (``>= 0``): one value for all outputs, per output
        ``{"AU": 7, "EXPR": 9, "VA": 9}`` (a missing key means no smoothing), or
        ``"published"`` for those published values (:data:`smm.models.config.PUBLISHED_ALPHA`).
        ``None``: no smoothing.
    threshold : float, default 0.5
        AU decision: ``au_prob > threshold``.
    clamp_va : bool, default False
        Clamp valence and arousal to [-1, 1]. The published tester wrote them raw.
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        Autocast dtype of the backbone and heads (the smoothing and final layers run in
        fp32); ``"auto"``: bf16 where the CPU or GPU has bf16 units, else fp32.
    progress : bool, default False
        Print a progress line to stderr per batch.
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
        What runs the model (:mod:`smm.inference.engines`); pass one made by
        :func:`~smm.inference.engines.make_engine` to share it between videos.

    Returns
    -------
    FramePredictions
        ``num_frames`` rows (or as many as the last frame with an image).
    """
    options = PredictOptions(
        batch_size=batch_size,
        alpha=alpha,
        threshold=threshold,
        clamp_va=clamp_va,
        precision=precision,
        progress=progress,
        engine=engine,
    )
    numbers, inputs, total = _frame_inputs(model, frames, include, options.batch_size)
    run = build_engine(model, options, total, calibrate=False)
    return _predict(model, numbers, inputs, total, options, run, num_frames)


def frame_predictions(
    model: SMMEmotionNet,
    frames: str | os.PathLike[str] | Iterable[torch.Tensor],
    options: PredictOptions,
    engine: Engine,
    *,
    num_frames: int | None = None,
    include: Collection[int] | None = None,
) -> FramePredictions:
    """:func:`predict_frames` with its options and engine built (a submission shares them between its videos)."""
    numbers, inputs, total = _frame_inputs(model, frames, include, options.batch_size)
    return _predict(model, numbers, inputs, total, options, engine, num_frames)


def _frame_inputs(
    model: SMMEmotionNet,
    frames: str | os.PathLike[str] | Iterable[torch.Tensor],
    include: Collection[int] | None,
    batch_size: int,
) -> tuple[np.ndarray | None, Iterable[torch.Tensor], int | None]:
    """The frame numbers (``None``: 1, 2, ... for tensors), the model inputs, and how many there are (if known)."""
    if isinstance(frames, (str, os.PathLike)):
        paths = list_frames(frames)
        if include is not None:
            wanted = {int(n) for n in include}
            paths = [p for p in paths if frame_number(p) in wanted]
            if not paths:
                raise FileNotFoundError(f"frames folder {frames} holds none of the {len(wanted)} requested frame(s)")
        numbers = np.asarray([frame_number(p) for p in paths], dtype=np.int64)
        return numbers, ModelBatches(_load_frames(paths), Preprocess(model.data_config), batch_size), len(paths)
    if include is not None:
        raise ValueError("include selects frame images of a folder; with tensors, pass only the frames wanted")
    return None, frames, len(frames) if isinstance(frames, Sized) else None


@torch.no_grad()
def _predict(
    model: SMMEmotionNet,
    numbers: np.ndarray | None,
    inputs: Iterable[torch.Tensor],
    total: int | None,
    options: PredictOptions,
    engine: Engine,
    num_frames: int | None,
) -> FramePredictions:
    def report(done: int) -> None:
        sys.stderr.write(f"\r{done}{f'/{total}' if total else ''} frames")
        sys.stderr.flush()

    au_features, messages = image_features(
        model, inputs, engine, batch_size=options.batch_size, progress=report if options.progress else None
    )
    if options.progress and len(au_features):
        sys.stderr.write("\n")
    if not len(au_features):
        raise ValueError("the video has no frames")
    if numbers is None:
        numbers = np.arange(1, len(au_features) + 1)
    return predictions(
        model,
        au_features,
        messages,
        numbers,
        num_frames=num_frames,
        alpha=options.alpha,
        threshold=options.threshold,
        clamp_va=options.clamp_va,
    )
