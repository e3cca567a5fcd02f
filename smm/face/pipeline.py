"""From photos or a video to per-frame AU, expression and valence/arousal: detect, align, predict.

The face part of the pipeline (decode, detect, track, align) ends in 112 x 112 face crops,
rounded to 8 bits like Aff-Wild2's cropped-aligned frames; from there every path shares the
inference core (:mod:`smm.inference`): the model's own preprocessing, one precision set-up,
temporal smoothing on request, and one result type, :class:`~smm.inference.FramePredictions`
(frames numbered from 1).

Outputs, stated once:

- ``au_prob``: the **occurrence probability** of each labelled AU (sigmoid of its logit), not
  an intensity, in ``model.au_names`` order; ``au`` is the decision ``probability > threshold``.
- ``expr_prob``: the probability of each expression (softmax), in ``model.expression_names``
  order; ``expr`` is the most probable.
- ``va``: valence and arousal, the model's raw outputs (trained on labels in [-1, 1]; not
  clipped unless ``clamp_va=True``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from smm.face.align import TEMPLATE_112, align_faces
from smm.face.detector import FaceDetector, Faces, MTCNNDetector
from smm.face.track import FaceTracker
from smm.inference.core import Alpha, image_features, predictions
from smm.inference.preprocess import Preprocess, to_uint8
from smm.inference.results import FramePredictions
from smm.model import SMMEmotionNet
from smm.runtime import Precision

ALIGNED_SIZE = 112


def _detector(detector: FaceDetector | None, device: torch.device) -> FaceDetector:
    return detector if detector is not None else MTCNNDetector(str(device))


def aligned_crops(frames: np.ndarray | torch.Tensor, landmarks: np.ndarray, index: np.ndarray) -> torch.Tensor:
    """The 112 x 112 aligned face crops, ``Tensor[B, 112, 112, 3]`` uint8, of faces in ``frames``.

    Parameters
    ----------
    frames : array or Tensor[N, H, W, 3] of uint8
        RGB frames.
    landmarks : numpy.ndarray
        ``(B, 5, 2)`` landmarks of each face, in its frame's pixels.
    index : numpy.ndarray
        ``(B,)`` the frame of each face.
    """
    if isinstance(frames, np.ndarray) and not frames.flags.writeable:
        frames = frames.copy()
    images = torch.as_tensor(frames).permute(0, 3, 1, 2).float()  # 0..255: rounding restores exact pixels
    crops = align_faces(
        images, torch.from_numpy(landmarks), index=torch.from_numpy(index), size=ALIGNED_SIZE, template=TEMPLATE_112
    )
    return to_uint8(crops)


def predict_images(
    model: SMMEmotionNet,
    images: Sequence[str | os.PathLike[str] | Image.Image | np.ndarray],
    *,
    detector: FaceDetector | None = None,
    all_faces: bool = False,
    batch_size: int = 32,
    precision: Precision | str = "auto",
    threshold: float = 0.5,
    clamp_va: bool = False,
) -> FramePredictions:
    """Detect, align and predict the face(s) of each photo.

    Parameters
    ----------
    model : SMMEmotionNet
        Used in eval mode on its own device.
    images : sequence of path-like, PIL images or (H, W, 3) uint8 RGB arrays
    detector : FaceDetector, optional
        Default :class:`~smm.face.MTCNNDetector` on the model's device.
    all_faces : bool, default False
        One row per face found (the largest first); default only the largest face.
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        Autocast dtype of the model; ``"auto"``: bf16 where the CPU or GPU has bf16 units, else
        fp32 (:class:`smm.runtime.Precision`).
    threshold : float, default 0.5
        AU decision: ``au_prob > threshold``.
    clamp_va : bool, default False

    Returns
    -------
    FramePredictions
        At least one row per photo, in input order, all frame 1, with ``source`` (the file
        name, or ``""`` for arrays and PIL images), ``box`` and ``landmarks``; a photo without
        a face gives one row with ``observed`` False.
    """
    device = next(model.parameters()).device
    detect = _detector(detector, device)
    setup = Precision.resolve(precision, device)
    transform = Preprocess(model.data_config)
    sources: list[str] = []
    faces: list[Faces] = []

    def inputs() -> Iterator[torch.Tensor]:  # detection runs a chunk ahead of the model, lazily
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            arrays = [_load(image) for image in chunk]
            for item, array, found in zip(chunk, arrays, detect.detect(arrays), strict=True):
                order = np.argsort(-found.areas, kind="stable")
                chosen = found.take(order if all_faces else order[:1])
                sources.extend([str(item) if isinstance(item, (str, os.PathLike)) else ""] * max(1, len(chosen)))
                faces.append(chosen)
                if len(chosen):
                    crops = aligned_crops(array[None], chosen.landmarks, np.zeros(len(chosen), np.int64))
                    yield from (transform(crop) for crop in crops)

    au_features, messages = image_features(model, inputs(), precision=setup, batch_size=batch_size)
    found_rows = predictions(
        model,
        au_features,
        messages,
        np.arange(1, len(au_features) + 1),
        threshold=threshold,
        clamp_va=clamp_va,
    )
    return _photo_rows(model, found_rows, faces, tuple(sources))


def _photo_rows(
    model: SMMEmotionNet, found: FramePredictions, faces: Sequence[Faces], sources: tuple[str, ...]
) -> FramePredictions:
    """One row per face (one empty row per photo without a face), from the rows of the faces found."""
    rows = len(sources)
    empty = predictions(model, torch.zeros(0), torch.zeros(0), np.zeros(0), num_frames=rows)
    observed = torch.cat(
        [torch.ones(len(f), dtype=torch.bool) if len(f) else torch.zeros(1, dtype=torch.bool) for f in faces]
    )
    where = observed.nonzero().flatten()
    filled = [field.clone() for field in empty[:5]]
    for target, values in zip(filled, found[:5], strict=True):
        target[where] = values.to(target.dtype)
    box = torch.full((rows, 4), float("nan"))
    landmarks = torch.full((rows, 5, 2), float("nan"))
    if len(where):
        box[where] = torch.from_numpy(np.concatenate([f.boxes for f in faces if len(f)])).float()
        landmarks[where] = torch.from_numpy(np.concatenate([f.landmarks for f in faces if len(f)])).float()
    return FramePredictions(
        *filled,
        frame=torch.ones(rows, dtype=torch.int64),
        observed=observed,
        time=torch.zeros(rows, dtype=torch.float64),
        box=box,
        landmarks=landmarks,
        source=sources,
    )


@dataclass(frozen=True)
class VideoFeatures:
    """What the model saw in a video, kept small: each face frame's features and each frame's face.

    :func:`predict_video` is ``video_features(...).predictions(model, ...)``; keep this object
    to get predictions with other smoothing strengths or thresholds without running the model
    again (the command line writes an unsmoothed CSV and published-smoothed ABAW files so).

    Attributes
    ----------
    au_features : Tensor[N, H, D]
        Of the N frames with a face, in frame order.
    messages : Tensor[N, D]
    observed : numpy.ndarray
        ``(T,)`` bool, whether frame ``t + 1`` had a face.
    time : Tensor[T] of float64
    box : Tensor[T, 4]
        NaN without a face.
    landmarks : Tensor[T, 5, 2]
    source : str
    """

    au_features: torch.Tensor
    messages: torch.Tensor
    observed: np.ndarray
    time: torch.Tensor
    box: torch.Tensor
    landmarks: torch.Tensor
    source: str

    def predictions(
        self, model: SMMEmotionNet, *, alpha: Alpha = None, threshold: float = 0.5, clamp_va: bool = False
    ) -> FramePredictions:
        """One row per frame (see :func:`predict_video`)."""
        result = predictions(
            model,
            self.au_features,
            self.messages,
            np.flatnonzero(self.observed) + 1,
            num_frames=len(self.observed),
            alpha=alpha,
            threshold=threshold,
            clamp_va=clamp_va,
        )
        return result._replace(
            observed=torch.from_numpy(self.observed),
            time=self.time,
            box=self.box,
            landmarks=self.landmarks,
            source=(self.source,) * len(self.observed),
        )


def predict_video(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    detect_every: int = 5,
    batch_size: int = 32,
    precision: Precision | str = "auto",
    alpha: Alpha = None,
    threshold: float = 0.5,
    clamp_va: bool = False,
    progress: bool = False,
) -> FramePredictions:
    """Decode a video, detect, track and align its face, and predict every frame; one row per frame.

    Frames are decoded with PyAV one at a time and go through detection, alignment and the
    model ``batch_size`` at a time; only each face's small feature vectors are kept, so memory
    does not grow with the video's length beyond a few hundred bytes per frame. Faces are
    detected every ``detect_every`` frames; one face is followed with
    :class:`~smm.face.FaceTracker` (the largest at first), and frames between detections reuse
    the last tracked landmarks. Frames where the tracked face is lost keep their row, with
    ``observed`` False.

    Parameters
    ----------
    model : SMMEmotionNet
    path : path-like
        Any video FFmpeg reads (mp4, avi, mkv, ...).
    detector : FaceDetector, optional
    detect_every : int, default 5
        1 detects on every frame (slowest, follows fast motion best).
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        See :func:`predict_images`.
    alpha : float, mapping, "published" or None, default None
        Temporal smoothing over the frames with a face, per output, as in
        :func:`smm.inference.predict_frames`; ``"published"``: AU 7, EXPR 9, VA 9.
    threshold : float, default 0.5
    clamp_va : bool, default False
    progress : bool, default False
        A progress line on stderr.

    Returns
    -------
    FramePredictions
        One row per decoded frame (frame ``n`` is the ``n``-th, from 1) with ``time``,
        ``box``, ``landmarks`` (NaN without a face) and ``source``. Rows without a face repeat
        the nearest earlier face's prediction, as the published tester filled frames without an
        image (``observed`` tells them apart); a video without any face has NaN rows.
    """
    features = video_features(
        model,
        path,
        detector=detector,
        detect_every=detect_every,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
    )
    return features.predictions(model, alpha=alpha, threshold=threshold, clamp_va=clamp_va)


def video_features(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    detect_every: int = 5,
    batch_size: int = 32,
    precision: Precision | str = "auto",
    progress: bool = False,
) -> VideoFeatures:
    """Run a video through detection, tracking, alignment and the model; see :func:`predict_video`."""
    try:
        import av
    except ImportError as error:
        raise ImportError('reading videos needs PyAV: pip install "smm-emotionnet[video]"') from error
    if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
        raise ValueError(f"detect_every must be a positive integer, got {detect_every!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    device = next(model.parameters()).device
    detect = _detector(detector, device)
    setup = Precision.resolve(precision, device)
    transform = Preprocess(model.data_config)
    tracker = FaceTracker(max_missed=max(1, 30 // detect_every))
    track = _Track()
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: cannot be read as a video ({error})") from None
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or None
        decoded = ((float(frame.time or 0.0), frame.to_ndarray(format="rgb24")) for frame in container.decode(stream))

        def crops() -> Iterator[torch.Tensor]:
            for chunk in _chunks(decoded, batch_size):
                for crop in track.chunk(chunk, detect, detect_every, tracker):
                    yield transform(crop)
                if progress:
                    sys.stderr.write(f"\r{path.name}: {len(track.times)}{f'/{total}' if total else ''} frames")
                    sys.stderr.flush()

        au_features, messages = image_features(model, crops(), precision=setup, batch_size=batch_size)
        if progress:
            sys.stderr.write("\n")
    finally:
        container.close()
    observed = np.asarray(track.observed, dtype=bool)
    return VideoFeatures(
        au_features,
        messages,
        observed,
        torch.tensor(track.times, dtype=torch.float64),
        torch.from_numpy(np.stack(track.boxes)).float() if track.boxes else torch.zeros(0, 4),
        torch.from_numpy(np.stack(track.landmarks)).float() if track.landmarks else torch.zeros(0, 5, 2),
        str(path),
    )


class _Track:
    """Per-frame facts of a video gathered while its chunks stream past: times, boxes, landmarks."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.observed: list[bool] = []
        self.boxes: list[np.ndarray] = []
        self.landmarks: list[np.ndarray] = []
        self.faces: Faces | None = None

    def chunk(
        self, chunk: list[tuple[float, np.ndarray]], detect: FaceDetector, every: int, tracker: FaceTracker
    ) -> torch.Tensor:
        """Detect and track faces in one chunk of frames; the aligned crops of its frames with a face."""
        first = len(self.times)
        rounds = [k for k in range(len(chunk)) if (first + k) % every == 0]
        found = dict(zip(rounds, detect.detect([chunk[k][1] for k in rounds]), strict=True)) if rounds else {}
        with_face, landmarks = [], []
        for k, (time, _) in enumerate(chunk):
            if k in found:
                pick = tracker.update(found[k])
                self.faces = None if pick is None else found[k].take(pick)
            self.times.append(time)
            self.observed.append(self.faces is not None)
            if self.faces is None:
                self.boxes.append(np.full(4, np.nan, np.float32))
                self.landmarks.append(np.full((5, 2), np.nan, np.float32))
                continue
            with_face.append(k)
            landmarks.append(self.faces.landmarks[0])
            self.boxes.append(self.faces.boxes[0])
            self.landmarks.append(self.faces.landmarks[0])
        if not with_face:
            return torch.zeros(0, ALIGNED_SIZE, ALIGNED_SIZE, 3, dtype=torch.uint8)
        frames = np.stack([chunk[k][1] for k in with_face])
        return aligned_crops(frames, np.stack(landmarks), np.arange(len(with_face), dtype=np.int64))


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load(image: str | os.PathLike[str] | Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image {path} does not exist")
        try:
            with Image.open(path) as opened:
                return np.asarray(opened.convert("RGB"))
        except OSError:
            raise ValueError(f"{path}: cannot be read as an image") from None
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image arrays must be (H, W, 3) uint8 RGB, got {array.dtype} {array.shape}")
    return array


__all__ = [
    "ALIGNED_SIZE",
    "VideoFeatures",
    "aligned_crops",
    "predict_images",
    "predict_video",
    "video_features",
]
