"""From photos or a video to per-frame AU, expression and valence/arousal: detect, align, predict.

Outputs, stated once:

- ``au``: the **occurrence probability** of each labelled AU (sigmoid of its logit), not an
  intensity, in ``model.au_names`` order; the ABAW decision is ``probability > 0.5``.
- ``expr``: the probability of each expression (softmax), in ``model.expression_names`` order;
  ``expression`` is the most probable.
- ``valence``, ``arousal``: the model's raw outputs (trained on labels in [-1, 1]; not
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
import torch.nn.functional as F
from PIL import Image

from smm.face.align import TEMPLATE_112, align_faces
from smm.face.detector import FaceDetector, Faces, MTCNNDetector
from smm.face.track import FaceTracker
from smm.model import SMMEmotionNet
from smm.runtime import autocast_dtype, resolve_precision, use_channels_last

ALIGNED_SIZE = 112


@dataclass
class FrameResult:
    """One frame (or photo): the face found in it, if any, and the model's outputs for it.

    Attributes
    ----------
    index : int
        Frame number from 0 (or the photo's position in the input).
    time : float
        Seconds from the start of the video (0 for photos).
    box : numpy.ndarray or None
        ``(4,)`` ``x0, y0, x1, y1`` of the face; ``None`` when no face was found.
    landmarks : numpy.ndarray or None
        ``(5, 2)``.
    au : numpy.ndarray or None
        ``(H,)`` AU occurrence probabilities.
    expr : numpy.ndarray or None
        ``(K,)`` expression probabilities.
    va : numpy.ndarray or None
        ``(2,)`` valence, arousal.
    source : str
        The file it came from.
    """

    index: int
    time: float
    box: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    au: np.ndarray | None = None
    expr: np.ndarray | None = None
    va: np.ndarray | None = None
    source: str = ""

    @property
    def face(self) -> bool:
        """Whether a face was found (and predicted)."""
        return self.box is not None


def _detector(detector: FaceDetector | None, device: torch.device) -> FaceDetector:
    return detector if detector is not None else MTCNNDetector(str(device))


def _model_inputs(model: SMMEmotionNet, crops: torch.Tensor) -> torch.Tensor:
    """Aligned 112 x 112 crops in [0, 1] -> the model's input size and normalisation."""
    config = model.config
    size = tuple(config.input_size[1:])
    if crops.shape[-2:] != size:
        mode = "bicubic" if config.interpolation == "bicubic" else "bilinear"
        crops = F.interpolate(crops, size=size, mode=mode, align_corners=False, antialias=True).clamp(0, 1)
    mean = torch.tensor(config.mean, device=crops.device, dtype=crops.dtype).view(1, -1, 1, 1)
    std = torch.tensor(config.std, device=crops.device, dtype=crops.dtype).view(1, -1, 1, 1)
    return (crops - mean) / std


@torch.no_grad()
def _predict_faces(
    model: SMMEmotionNet,
    frames: torch.Tensor,
    landmarks: np.ndarray,
    index: np.ndarray,
    precision: str,
    clamp_va: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AU and expression probabilities and VA of the faces at ``landmarks`` in ``frames`` (uint8, N H W 3)."""
    device = next(model.parameters()).device
    images = frames.to(device).permute(0, 3, 1, 2).float().div_(255)
    crops = align_faces(
        images, torch.from_numpy(landmarks), index=torch.from_numpy(index), size=ALIGNED_SIZE, template=TEMPLATE_112
    )
    inputs = _model_inputs(model, crops)
    dtype = autocast_dtype(precision)
    if use_channels_last(precision, device):
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        out = model(inputs)
    va = out.va.float()
    if clamp_va:
        va = va.clamp(-1, 1)
    return (
        torch.sigmoid(out.au.float()).cpu().numpy(),
        torch.softmax(out.expr.float(), -1).cpu().numpy(),
        va.cpu().numpy(),
    )


def predict_images(
    model: SMMEmotionNet,
    images: Sequence[str | os.PathLike[str] | Image.Image | np.ndarray],
    *,
    detector: FaceDetector | None = None,
    all_faces: bool = False,
    batch_size: int = 32,
    precision: str = "auto",
    clamp_va: bool = False,
) -> list[FrameResult]:
    """Detect, align and predict the face(s) of each photo.

    Parameters
    ----------
    model : SMMEmotionNet
        Used in eval mode on its own device.
    images : sequence of path-like, PIL images or (H, W, 3) uint8 RGB arrays
    detector : FaceDetector, optional
        Default :class:`~smm.face.MTCNNDetector` on the model's device.
    all_faces : bool, default False
        One result per face found (the largest first); default only the largest face.
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        Autocast dtype of the model; ``"auto"``: bf16 where the CPU or GPU has bf16 units, else
        fp32 (:func:`smm.runtime.resolve_precision`).
    clamp_va : bool, default False

    Returns
    -------
    list of FrameResult
        At least one per image; a photo without a face gives one result with ``face`` False.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    detect = _detector(detector, device)
    precision = resolve_precision(precision, device)
    results: list[FrameResult] = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            arrays = [_load(image) for image in chunk]
            found = detect.detect(arrays)
            for offset, (array, faces) in enumerate(zip(arrays, found, strict=True)):
                name = str(chunk[offset]) if isinstance(chunk[offset], (str, os.PathLike)) else ""
                if len(faces) == 0:
                    results.append(FrameResult(start + offset, 0.0, source=name))
                    continue
                order = np.argsort(-faces.areas)
                chosen = faces.take(order if all_faces else order[:1])
                frame = torch.from_numpy(np.array(array))[None]
                au, expr, va = _predict_faces(
                    model, frame, chosen.landmarks, np.zeros(len(chosen), np.int64), precision, clamp_va
                )
                for k in range(len(chosen)):
                    results.append(
                        FrameResult(
                            start + offset, 0.0, chosen.boxes[k], chosen.landmarks[k], au[k], expr[k], va[k], name
                        )
                    )
    finally:
        model.train(was_training)
    return results


def predict_video(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    detect_every: int = 5,
    batch_size: int = 32,
    precision: str = "auto",
    clamp_va: bool = False,
    progress: bool = False,
) -> Iterator[FrameResult]:
    """Stream a video through detection, tracking, alignment and the model; one result per frame.

    Frames are decoded with PyAV one at a time and processed ``batch_size`` at a time, so
    memory does not grow with the video's length. Faces are detected every ``detect_every``
    frames; one face is followed with :class:`~smm.face.FaceTracker` (the largest at first),
    and frames between detections reuse the last tracked landmarks. Frames where the tracked
    face is lost are yielded with ``face`` False, never dropped.

    Parameters
    ----------
    model : SMMEmotionNet
    path : path-like
        Any video FFmpeg reads (mp4, avi, mkv, ...).
    detector : FaceDetector, optional
    detect_every : int, default 5
        1 detects on every frame (slowest, follows fast motion best).
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        See :func:`predict_images`.
    clamp_va : bool, default False
    progress : bool, default False
        A progress line on stderr.

    Yields
    ------
    FrameResult
        In frame order.
    """
    try:
        import av
    except ImportError as error:
        raise ImportError('reading videos needs PyAV: pip install "smm-emotionnet[video]"') from error
    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    detect = _detector(detector, device)
    precision = resolve_precision(precision, device)
    tracker = FaceTracker(max_missed=max(1, 30 // detect_every))
    state: dict[str, Any] = {"faces": None}
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: cannot be read as a video ({error})") from None
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or None
        frames = (
            (i, float(frame.time or 0.0), frame.to_ndarray(format="rgb24"))
            for i, frame in enumerate(container.decode(stream))
        )
        done = 0
        for chunk in _chunks(frames, batch_size):
            yield from _process_chunk(
                model, chunk, detect, detect_every, tracker, state, precision, clamp_va, str(path)
            )
            done += len(chunk)
            if progress:
                sys.stderr.write(f"\r{path.name}: {done}{f'/{total}' if total else ''} frames")
                sys.stderr.flush()
        if progress:
            sys.stderr.write("\n")
    finally:
        container.close()
        model.train(was_training)


def _process_chunk(
    model: SMMEmotionNet,
    chunk: list[tuple[int, float, np.ndarray]],
    detect: FaceDetector,
    every: int,
    tracker: FaceTracker,
    state: dict[str, Any],
    precision: str,
    clamp_va: bool,
    source: str,
) -> list[FrameResult]:
    rounds = [k for k, (i, _, _) in enumerate(chunk) if i % every == 0]
    found = dict(zip(rounds, detect.detect([chunk[k][2] for k in rounds]), strict=True)) if rounds else {}
    chosen: list[Faces | None] = []
    for k in range(len(chunk)):
        if k in found:
            pick = tracker.update(found[k])
            state["faces"] = None if pick is None else found[k].take(pick)
        chosen.append(state["faces"])
    with_face = [k for k, faces in enumerate(chosen) if faces is not None]
    results = [FrameResult(i, t, source=source) for i, t, _ in chunk]
    if with_face:
        frames = torch.from_numpy(np.stack([chunk[k][2] for k in with_face]))
        landmarks = np.concatenate([chosen[k].landmarks for k in with_face])  # type: ignore[union-attr]
        au, expr, va = _predict_faces(
            model, frames, landmarks, np.arange(len(with_face), dtype=np.int64), precision, clamp_va
        )
        for row, k in enumerate(with_face):
            faces = chosen[k]
            results[k].box, results[k].landmarks = faces.boxes[0], faces.landmarks[0]  # type: ignore[union-attr]
            results[k].au, results[k].expr, results[k].va = au[row], expr[row], va[row]
    return results


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


def csv_columns(model: SMMEmotionNet) -> list[str]:
    """The per-frame CSV's header for ``model``."""
    return [
        "source",
        "frame",
        "time",
        "face",
        "x0",
        "y0",
        "x1",
        "y1",
        *(f"{name}_{axis}" for name in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right") for axis in "xy"),
        *model.au_names,
        *model.expression_names,
        "expression",
        "valence",
        "arousal",
    ]


def write_frames_csv(path: str | os.PathLike[str], results: Iterable[FrameResult], model: SMMEmotionNet) -> Path:
    """Write one CSV row per frame (see :func:`csv_columns`), streaming; returns the path.

    Columns: ``source`` (file), ``frame`` (from 0), ``time`` (s), ``face`` (1/0), the box
    ``x0, y0, x1, y1`` and the five landmarks in pixels, one column per AU with its
    occurrence probability, one per expression with its probability, ``expression`` (the most
    probable one's name), ``valence``, ``arousal``. A frame without a face keeps its row with
    ``face`` 0 and the other values empty. Written to a temporary file and renamed at the end.
    """
    from smm.prediction_files import write_atomic

    columns = csv_columns(model)

    def rows() -> Iterator[str]:
        yield ",".join(columns)
        for result in results:
            values: list[Any] = [_csv_text(result.source), result.index, f"{result.time:.6f}", int(result.face)]
            if result.face:
                expression = model.expression_names[int(np.argmax(result.expr))]
                values += [f"{v:.2f}" for v in (*result.box.tolist(), *result.landmarks.reshape(-1).tolist())]
                values += [f"{p:.6f}" for p in (*result.au, *result.expr)]
                values += [expression, f"{result.va[0]:.6f}", f"{result.va[1]:.6f}"]
            else:
                values += [""] * (len(columns) - 4)
            yield ",".join(map(str, values))

    return write_atomic(path, rows())


def _csv_text(text: str) -> str:
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def video_frame_count(results: Sequence[FrameResult]) -> int:
    """Frames seen (the ABAW files need one line per frame)."""
    return 0 if not results else max(r.index for r in results) + 1


def abaw_rows(results: Sequence[FrameResult], threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-frame AU decisions, expression classes and VA for the ABAW files.

    Frames without a face repeat the previous frame's prediction (the first face's for
    leading frames), as the published tester filled frames without an image.
    """
    with_face = [r for r in results if r.face]
    if not with_face:
        raise ValueError("no face was found in any frame; the ABAW files need at least one prediction")
    count = video_frame_count(results)
    from smm.predictions import fill_index

    frames = np.asarray([r.index + 1 for r in with_face])
    index = fill_index(frames, count)
    au = np.stack([r.au for r in with_face])[index]
    expr = np.stack([r.expr for r in with_face])[index]
    va = np.stack([r.va for r in with_face])[index]
    return {"au": (au > threshold).astype(np.int64), "expr": expr.argmax(-1), "va": va}


__all__ = [
    "ALIGNED_SIZE",
    "FrameResult",
    "abaw_rows",
    "csv_columns",
    "predict_images",
    "predict_video",
    "video_frame_count",
    "write_frames_csv",
]
