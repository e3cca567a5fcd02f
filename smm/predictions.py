"""Video inference: stream frames through a model, optionally smooth over time, write ABAW files."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from smm.data.dataset import IMAGE_SUFFIXES, default_transform
from smm.model import SMMEmotionNet
from smm.temporal import _check_alpha, exponential_smoothing


class FramePredictions(NamedTuple):
    """Per-frame predictions of one video (T frames).

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
        Valence and arousal clamped to [-1, 1].
    """

    au_prob: torch.Tensor
    au: torch.Tensor
    expr_prob: torch.Tensor
    expr: torch.Tensor
    va: torch.Tensor


def list_frames(folder: str | os.PathLike[str]) -> list[Path]:
    """The frame images of a video folder, in frame order.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or holds no image.
    ValueError
        If it holds a file that is not an image, naming the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"frames folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise ValueError(f"{others[0]}: not an image (expected {', '.join(IMAGE_SUFFIXES)}) in frames folder {folder}")
    if not files:
        raise FileNotFoundError(f"frames folder {folder} holds no images")
    return sorted(files, key=lambda p: (int(p.stem) if p.stem.isdigit() else float("inf"), p.name))


def _load_frames(paths: Sequence[Path], image_size: int) -> Iterator[torch.Tensor]:
    transform = default_transform(image_size)
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
    batch_size: int = 64,
    alpha: float | None = None,
    threshold: float = 0.5,
    progress: bool = False,
) -> FramePredictions:
    """Predict every frame of one video, with bounded memory.

    Frames go through the model ``batch_size`` at a time; only the small per-frame AU
    features and message vectors are kept. With ``alpha`` they are smoothed over time
    (:func:`smm.temporal.exponential_smoothing`) before the heads' final linear layers,
    as the published system does.

    Parameters
    ----------
    model : SMMEmotionNet
        Run in eval mode on its own device.
    frames : path-like or iterable of Tensor[3, H, W]
        A folder of frame images (``00001.jpg``...; resized to the model's input size and
        normalised), or already-transformed frame tensors in order.
    batch_size : int, default 64
    alpha : float, optional
        Temporal smoothing strength (the published code used 7-10); ``None`` for none.
    threshold : float, default 0.5
        AU decision threshold on the probability.
    progress : bool, default False
        Print a progress line to stderr per batch.

    Returns
    -------
    FramePredictions
    """
    if alpha is not None:
        _check_alpha(alpha)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    total = None
    if isinstance(frames, (str, os.PathLike)):
        paths = list_frames(frames)
        total = len(paths)
        frames = _load_frames(paths, model.default_input_size[-1])
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    au_features, messages = [], []
    done = 0
    try:
        for batch in _batches(frames, batch_size):
            out = model(batch.to(device))
            au_features.append(out.au_features.float().cpu())
            messages.append(out.message.float().cpu())
            done += batch.shape[0]
            if progress:
                of = f"/{total}" if total else ""
                sys.stderr.write(f"\r{done}{of} frames")
                sys.stderr.flush()
    finally:
        model.train(was_training)
    if not au_features:
        raise ValueError("the video has no frames")
    s, m = torch.cat(au_features), torch.cat(messages)
    if alpha is not None:
        s, m = exponential_smoothing(s, alpha), exponential_smoothing(m, alpha)
    if progress:
        sys.stderr.write("\n")
    au_logits = model.sign_vehicle.classify(s.to(device)).cpu()
    expr_logits, va = (t.cpu() for t in model.message_space.classify(m.to(device)))
    au_prob = torch.sigmoid(au_logits)
    expr_prob = torch.softmax(expr_logits, -1)
    return FramePredictions(
        au_prob=au_prob,
        au=(au_prob > threshold).long(),
        expr_prob=expr_prob,
        expr=expr_prob.argmax(-1),
        va=va.clamp(-1, 1),
    )


def _write_atomic(path: str | os.PathLike[str], lines: Iterable[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_au_file(path: str | os.PathLike[str], au: torch.Tensor | np.ndarray, names: Sequence[str]) -> Path:
    """Write an AU-track prediction file: header of AU names, one ``0,1,...`` line per frame."""
    rows = np.asarray(au, dtype=np.int64)
    _check_columns(rows, len(names), "au")
    return _write_atomic(path, [",".join(names), *(",".join(map(str, row)) for row in rows.tolist())])


def write_expr_file(path: str | os.PathLike[str], expr: torch.Tensor | np.ndarray, names: Sequence[str]) -> Path:
    """Write an EXPR-track prediction file: header of class names, one class index per frame."""
    rows = np.asarray(expr, dtype=np.int64).reshape(-1)
    return _write_atomic(path, [",".join(names), *map(str, rows.tolist())])


def write_va_file(
    path: str | os.PathLike[str], va: torch.Tensor | np.ndarray, names: Sequence[str] = ("valence", "arousal")
) -> Path:
    """Write a VA-track prediction file: ``valence,arousal`` header, one pair per frame."""
    rows = np.asarray(va, dtype=np.float64)
    _check_columns(rows, len(names), "va")
    return _write_atomic(path, [",".join(names), *(",".join(f"{v:.6f}" for v in row) for row in rows.tolist())])


def write_multitask_file(
    path: str | os.PathLike[str],
    images: Sequence[str],
    va: torch.Tensor | np.ndarray,
    expr: torch.Tensor | np.ndarray,
    au: torch.Tensor | np.ndarray,
    au_names: Sequence[str],
) -> Path:
    """Write the multi-task track's single file: ``image,valence,arousal,expression,AU...`` per image."""
    va, expr, au = np.asarray(va, dtype=np.float64), np.asarray(expr, dtype=np.int64), np.asarray(au, dtype=np.int64)
    _check_columns(au, len(au_names), "au")
    if not len(images) == len(va) == len(expr) == len(au):
        raise ValueError(
            f"images, va, expr, au must have one row per image, got {len(images)}, {len(va)}, {len(expr)}, {len(au)}"
        )
    header = ",".join(["image", "valence", "arousal", "expression", *au_names])
    lines = [
        ",".join([image, f"{v[0]:.6f}", f"{v[1]:.6f}", str(e), *map(str, a)])
        for image, v, e, a in zip(images, va.tolist(), expr.tolist(), au.tolist(), strict=True)
    ]
    return _write_atomic(path, [header, *lines])


def _check_columns(rows: np.ndarray, count: int, name: str) -> None:
    if rows.ndim != 2 or rows.shape[1] != count:
        raise ValueError(f"{name} must have shape (frames, {count}), got {rows.shape}")
