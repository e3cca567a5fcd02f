"""Video inference: stream a video's frames through a model, smooth over time, one row per frame.

Aff-Wild2's cropped-aligned folders have gaps: frame ``n`` of a video is the image
``0000n.jpg``, and frames where no face was found have no image. A prediction file needs
one line per frame of the video, so :func:`predict_frames` predicts the images it finds and
then fills every frame without an image the way the published tester does: with the
prediction of the nearest earlier frame that has one, and frames before the first image
with the first image's prediction. ``FramePredictions.observed`` marks the frames that had
an image, so filled frames can be left out of a metric.

The writers of the challenge files live in :mod:`smm.prediction_files` and are re-exported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from smm.data.frames import list_frames
from smm.data.transforms import eval_transform
from smm.model import SMMEmotionNet
from smm.prediction_files import (
    MULTITASK_FILE,
    write_au_file,
    write_expr_file,
    write_multitask_file,
    write_va_file,
)
from smm.runtime import autocast_dtype, resolve_precision, use_channels_last
from smm.temporal import exponential_smoothing, smoothing_strengths

__all__ = [
    "MULTITASK_FILE",
    "FramePredictions",
    "fill_index",
    "list_frames",
    "predict_frames",
    "write_au_file",
    "write_expr_file",
    "write_multitask_file",
    "write_va_file",
]


class FramePredictions(NamedTuple):
    """Per-frame predictions of one video, one row per frame (T frames).

    Attributes
    ----------
    au_prob : Tensor[T, H]
        AU occurrence probabilities.
    au : Tensor[T, H] of int64
        0/1 decisions at ``au_prob > threshold``.
    expr_prob : Tensor[T, K]
        Expression probabilities (softmax).
    expr : Tensor[T] of int64
        The most probable expression.
    va : Tensor[T, V]
        Valence and arousal, raw (as the published tester writes them) unless
        ``clamp_va=True`` clamped them to [-1, 1].
    frame : Tensor[T] of int64
        The frame number of each row (1-based: row ``n - 1`` is frame ``n``).
    observed : Tensor[T] of bool
        ``True`` where the frame had an image; ``False`` where its row was filled from
        another frame. Index a metric's inputs with it to leave filled frames out.
    """

    au_prob: torch.Tensor
    au: torch.Tensor
    expr_prob: torch.Tensor
    expr: torch.Tensor
    va: torch.Tensor
    frame: torch.Tensor
    observed: torch.Tensor

    def rows(self, frames: Sequence[int] | np.ndarray | torch.Tensor) -> FramePredictions:
        """The rows of the given frame numbers (1-based), in the given order."""
        index = torch.as_tensor(np.asarray(frames, dtype=np.int64)) - 1
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(self.frame)):
            raise ValueError(f"frames must be in [1, {len(self.frame)}], got {np.asarray(frames).tolist()[:5]}...")
        return FramePredictions(*(field[index] for field in self))


def fill_index(frames: Sequence[int] | np.ndarray, num_frames: int) -> np.ndarray:
    """For each frame ``1..num_frames``, the position in ``frames`` of the image to use.

    Frame ``n`` uses its own image when ``n`` is in ``frames``; otherwise the nearest earlier
    frame that has one; frames before the first image use the first image (the published
    tester's rule).

    Parameters
    ----------
    frames : sequence of int
        Frame numbers (1-based) of the images found, strictly increasing.
    num_frames : int
        Frames of the video.

    Returns
    -------
    numpy.ndarray
        ``(num_frames,)`` int64 positions into ``frames``.

    Raises
    ------
    ValueError
        If ``frames`` is empty, not strictly increasing, or has a frame outside
        ``[1, num_frames]``.
    """
    numbers = np.asarray(frames, dtype=np.int64).reshape(-1)
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if numbers.size == 0:
        raise ValueError("frames must list at least one frame with an image")
    if (np.diff(numbers) <= 0).any():
        raise ValueError("frames must be strictly increasing frame numbers")
    if numbers[0] < 1 or numbers[-1] > num_frames:
        raise ValueError(
            f"frames must be in [1, num_frames={num_frames}], got frame {numbers[0] if numbers[0] < 1 else numbers[-1]}"
        )
    # Position of the last image at or before each frame; -1 before the first image.
    position = np.searchsorted(numbers, np.arange(1, num_frames + 1), side="right") - 1
    return np.maximum(position, 0)


def _load_frames(paths: Sequence[Path], data_config: Mapping[str, Any]) -> Iterator[torch.Tensor]:
    transform = eval_transform(data_config)
    first_size = None
    for path in paths:
        try:
            with Image.open(path) as image:
                if first_size is None:
                    first_size = image.size
                elif image.size != first_size:
                    raise ValueError(f"{path}: frame of size {image.size}, but the video's first frame is {first_size}")
                yield transform(image)
        except UnidentifiedImageError:
            raise ValueError(f"{path}: cannot be read as an image") from None


def _batches(frames: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    batch: list[torch.Tensor] = []
    shape = None
    for index, frame in enumerate(frames):
        if frame.ndim != 3:
            raise ValueError(f"frames must be (3, H, W) tensors, frame {index} has shape {tuple(frame.shape)}")
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise ValueError(
                f"frames must all have one size: frame {index} is {tuple(frame.shape)}, frame 0 {tuple(shape)}"
            )
        batch.append(frame)
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@torch.no_grad()
def predict_frames(
    model: SMMEmotionNet,
    frames: str | os.PathLike[str] | Iterable[torch.Tensor],
    *,
    num_frames: int | None = None,
    include: Collection[int] | None = None,
    batch_size: int = 64,
    alpha: float | Mapping[str, float] | None = None,
    threshold: float = 0.5,
    clamp_va: bool = False,
    precision: str = "auto",
    progress: bool = False,
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
        A folder of frame images (``00001.jpg`` is frame 1; transformed as the model's
        ``data_config`` says), or already-transformed tensors of frames 1, 2, 3, ...
    num_frames : int, optional
        Frames of the video (from the video file, the annotation file or the test list).
        Default: the last frame that has an image, so trailing frames without an image are
        not written; give the count for a challenge file.
    include : collection of int, optional
        Only the images of these frame numbers are used (e.g. the frames a multi-task test
        list names); the others are treated as missing. Folders only.
    batch_size : int, default 64
    alpha : float or mapping, optional
        Temporal smoothing strength (``>= 0``): one value for all outputs, or per output
        ``{"AU": 7, "EXPR": 9, "VA": 9}`` (:data:`smm.temporal.PUBLISHED_ALPHA`; a missing
        key means no smoothing). ``None``: no smoothing.
    threshold : float, default 0.5
        AU decision: ``au_prob > threshold``.
    clamp_va : bool, default False
        Clamp valence and arousal to [-1, 1]. The published tester wrote them raw.
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        Autocast dtype of the backbone and heads (the smoothing and final layers run in
        fp32); ``"auto"``: bf16 where the CPU or GPU has bf16 units, else fp32.
    progress : bool, default False
        Print a progress line to stderr per batch.

    Returns
    -------
    FramePredictions
        ``num_frames`` rows (or as many as the last frame with an image).
    """
    strengths = smoothing_strengths(alpha)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    total = None
    if isinstance(frames, (str, os.PathLike)):
        paths = list_frames(frames)
        if include is not None:
            wanted = {int(n) for n in include}
            paths = [p for p in paths if int(p.stem) in wanted]
            if not paths:
                raise FileNotFoundError(f"frames folder {frames} holds none of the {len(wanted)} requested frame(s)")
        numbers = np.asarray([int(p.stem) for p in paths], dtype=np.int64)
        total = len(paths)
        frames = _load_frames(paths, model.data_config)
    elif include is not None:
        raise ValueError("include selects frame images of a folder; with tensors, pass only the frames wanted")
    else:
        numbers = None
    au_features, messages = _features(model, frames, batch_size, total if progress else None, progress, precision)
    if numbers is None:
        numbers = np.arange(1, len(au_features) + 1)
    last = int(numbers[-1])
    if num_frames is not None and (isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer))):
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if num_frames is not None and last > num_frames:
        raise ValueError(f"num_frames={num_frames}, but there is an image of frame {last}")
    index = torch.from_numpy(fill_index(numbers, last if num_frames is None else int(num_frames)))
    observed = torch.zeros(len(index), dtype=torch.bool)
    observed[torch.from_numpy(numbers - 1)] = True

    device = next(model.parameters()).device
    au_logits = model.sign_vehicle.classify(_smooth(au_features, strengths["AU"]).to(device)).cpu()
    expr_logits = model.message_space.classify(_smooth(messages, strengths["EXPR"]).to(device))[0].cpu()
    va = model.message_space.classify(_smooth(messages, strengths["VA"]).to(device))[1].cpu()
    au_prob = torch.sigmoid(au_logits)[index]
    expr_prob = torch.softmax(expr_logits, -1)[index]
    va = va[index]
    return FramePredictions(
        au_prob=au_prob,
        au=(au_prob > threshold).long(),
        expr_prob=expr_prob,
        expr=expr_prob.argmax(-1),
        va=va.clamp(-1, 1) if clamp_va else va,
        frame=torch.arange(1, len(index) + 1),
        observed=observed,
    )


def _smooth(features: torch.Tensor, alpha: float | None) -> torch.Tensor:
    return features if alpha is None else exponential_smoothing(features, alpha)


def _features(
    model: SMMEmotionNet,
    frames: Iterable[torch.Tensor],
    batch_size: int,
    total: int | None,
    progress: bool,
    precision: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image AU features ``(N, H, D)`` and message vectors ``(N, D)``, float32 on the CPU."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    resolved = resolve_precision(precision, device)
    dtype, channels_last = autocast_dtype(resolved), use_channels_last(resolved, device)
    au_features, messages = [], []
    done = 0
    try:
        for batch in _batches(frames, batch_size):
            batch = batch.to(device)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(batch)
            au_features.append(out.au_features.float().cpu())
            messages.append(out.message.float().cpu())
            done += batch.shape[0]
            if progress:
                of = f"/{total}" if total else ""
                sys.stderr.write(f"\r{done}{of} frames")
                sys.stderr.flush()
    finally:
        model.train(was_training)
    if progress and done:
        sys.stderr.write("\n")
    if not au_features:
        raise ValueError("the video has no frames")
    return torch.cat(au_features), torch.cat(messages)
