"""A video to per-frame predictions: :func:`predict_video` and :func:`video_features`.

Frames are decoded, their faces followed and aligned by :mod:`smm.face.video`, and the crops
predicted by the inference core (:mod:`smm.inference.core`) ``batch_size`` at a time; only
each face's small feature vectors are kept (:class:`~smm.inference.features.VideoFeatures`).
The outputs are those of :mod:`smm.inference.photos`.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from smm.data.videos import recorded_frame_count
from smm.defaults import (
    BATCH_SIZE,
    CLAMP_VA,
    DEFAULT_ENGINE,
    DEFAULT_FACES,
    DEFAULT_PRECISION,
    DETECT_EVERY,
    DETECT_SIZE,
    THRESHOLD,
)
from smm.face.detector import FaceDetector, default_detector
from smm.face.video import (
    FOLLOW_CHUNK,
    READ_AHEAD,
    FaceChoice,
    FaceFollower,
    FaceRows,
    PartialVideoWarning,
    frame_chunks,
    open_video,
)
from smm.inference.core import Alpha, image_features
from smm.inference.engines import Engine
from smm.inference.features import VideoFeatures
from smm.inference.options import PredictOptions, build_engine
from smm.inference.preprocess import ModelBatches, Preprocess
from smm.inference.progress import progress_bar, show_progress
from smm.inference.results import FramePredictions
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet


def predict_video(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    faces: FaceChoice = DEFAULT_FACES,
    detect_every: int = DETECT_EVERY,
    detect_size: int | None = DETECT_SIZE,
    batch_size: int = BATCH_SIZE,
    precision: Precision | str = DEFAULT_PRECISION,
    alpha: Alpha = None,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
    progress: bool | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
) -> FramePredictions:
    """Decode a video, follow its faces, align and predict each; one row per (frame, face).

    Frames are decoded with PyAV and go through detection, landmark refinement, tracking,
    alignment and the model ``batch_size`` at a time; only each face's small feature vectors
    are kept, so memory does not grow with the video's length beyond a few hundred bytes per
    face and frame. Faces are detected every ``detect_every`` frames; on every frame each
    tracked face's landmarks are re-located (MTCNN's O-Net on its predicted box), so every
    frame is aligned on its own landmarks. Each face keeps a ``face_id`` through the video
    (:class:`~smm.face.MultiFaceTracker`).

    Parameters
    ----------
    model : SMMEmotionNet
    path : path-like
        Any video FFmpeg reads (mp4, avi, mkv, ...).
    detector : smm.face.FaceDetector, optional
        Default :func:`smm.face.detector.default_detector` on the model's device.
    faces : {"all", "largest"}, default "all"
        Every face, each with its own track, or one face: the largest when following starts
        (and again whenever a detection round does not find the followed face).
    detect_every : int, default 10
        Full detection every N frames and on every cut (1 detects on every frame, slowest); a
        face entering a scene is picked up at the next detection.
    detect_size : int or None, default 480
        Full detection on the frame scaled to this shorter side (landmarks then refined at full
        resolution); ``None``: full resolution (:class:`~smm.face.FaceFollower`).
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        See :func:`smm.predict_images`.
    alpha : float, mapping, "published" or None, default None
        Temporal smoothing along each face's track, per output, as in
        :func:`smm.inference.predict_frames`; ``"published"``: AU 7, EXPR 9, VA 9.
    threshold : float, default 0.5
    clamp_va : bool, default False
    progress : bool or None, default None
        A progress bar over the frames on stderr, and frames per second at the end; ``None``:
        where a person is watching (a terminal or a notebook,
        :func:`smm.inference.progress.watched`).
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
        What runs the model (:mod:`smm.inference.engines`): ``"auto"`` picks the fastest accepted
        engine of this machine where the run is large enough to time them (int8 included,
        calibrated on scikit-image's real faces), else eager PyTorch at ``precision``.

    Returns
    -------
    FramePredictions
        One row per (frame, face) in frame order (faces by id within a frame), with ``time``,
        ``face_id``, ``box``, ``landmarks`` and ``source``; a frame without a face has one row
        with ``observed`` False, ``face_id`` -1 and NaN values. For one row per frame as the
        challenge files need, use :meth:`VideoFeatures.per_frame`.
    """
    options = PredictOptions(
        faces=faces,
        detect_every=detect_every,
        detect_size=detect_size,
        batch_size=batch_size,
        precision=precision,
        alpha=alpha,
        threshold=threshold,
        clamp_va=clamp_va,
        progress=progress,
        engine=engine,
    )
    features = _features(model, path, options, detector)
    return features.predictions(model, alpha=options.alpha, threshold=options.threshold, clamp_va=options.clamp_va)


def video_features(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    faces: FaceChoice = DEFAULT_FACES,
    detect_every: int = DETECT_EVERY,
    detect_size: int | None = DETECT_SIZE,
    batch_size: int = BATCH_SIZE,
    precision: Precision | str = DEFAULT_PRECISION,
    progress: bool | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
) -> VideoFeatures:
    """Run a video through face following and the model; see :func:`predict_video`.

    Frames are decoded in a background thread, a few frames ahead of the face following, which
    takes them :data:`~smm.face.video.FOLLOW_CHUNK` at a time; only the crops wait for the
    model's batch, so memory grows with the crops, not with the frames' size times the batch.
    """
    options = PredictOptions(
        faces=faces,
        detect_every=detect_every,
        detect_size=detect_size,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
        engine=engine,
    )
    return _features(model, path, options, detector)


def _features(
    model: SMMEmotionNet, path: str | os.PathLike[str], options: PredictOptions, detector: FaceDetector | None
) -> VideoFeatures:
    """The public functions' common part: the detector and the engine (for the frames the file states), built once."""
    detect = detector if detector is not None else default_detector(next(model.parameters()).device)
    run = build_engine(model, options, recorded_frame_count(path), shown=show_progress(options.progress))
    return video_run(model, path, options, run, detect)


def video_run(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    options: PredictOptions,
    engine: Engine,
    detector: FaceDetector,
) -> VideoFeatures:
    """:func:`video_features` with its options, engine and detector built (a run shares them between its videos)."""
    follower = FaceFollower(
        detector, detect_every=options.detect_every, faces=options.faces, detect_size=options.detect_size
    )
    transform = Preprocess(model.data_config)
    shown = show_progress(options.progress)
    parts: list[FaceRows] = []
    path = Path(path)
    began = time.perf_counter()
    with open_video(path, ahead=READ_AHEAD) as (decoded, total):
        bar = progress_bar(shown, total=total, desc=path.name, unit="frame")

        def crops() -> Iterator[torch.Tensor]:
            for chunk in frame_chunks(decoded, FOLLOW_CHUNK):
                rows = follower.chunk(chunk)
                parts.append(rows._replace(crops=rows.crops[:0]))
                bar.update(len(chunk))
                yield rows.crops

        try:
            au_features, messages = image_features(
                model, ModelBatches(crops(), transform, options.batch_size), engine, batch_size=options.batch_size
            )
        finally:
            bar.close()
        orientation, shortfall = decoded.orientation, decoded.shortfall
    if shown:
        seconds = time.perf_counter() - began
        rate = follower.frames / max(seconds, 1e-9)
        turned = f", {described}" if (described := orientation.describe()) else ""
        sys.stderr.write(f"{path.name}: {follower.frames} frames in {seconds:.1f} s ({rate:.1f} frames/s){turned}\n")
    if shortfall:
        warnings.warn(shortfall, PartialVideoWarning, stacklevel=3)
    rows = FaceRows.concat(parts)
    return VideoFeatures(
        au_features=au_features,
        messages=messages,
        frame=rows.frame,
        face_id=rows.face_id,
        time=rows.time,
        box=rows.box,
        landmarks=rows.landmarks,
        num_frames=follower.frames,
        size=follower.size or (0, 0),
        source=str(path),
        orientation=orientation,
    )


__all__ = ["predict_video", "video_features", "video_run"]
