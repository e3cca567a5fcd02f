"""Writers for ABAW3 challenge prediction files.

- Single-task tracks, one file per video, ``<TRACK>/<video>.txt``, one line per video frame
  after a header:

  - AU: header ``AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26``, lines of 12
    comma-separated 0/1 decisions;
  - EXPR: header ``Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other``, lines of
    one class index 0..7;
  - VA: header ``valence,arousal``, lines of two numbers.

- Multi-task track, one file: header ``image,valence,arousal,expression,aus``, then one row
  ``video/00001.jpg,valence,arousal,expression,AU1,...,AU26`` per image of the test list, in
  the listed order.

The writers take decisions, not scores: AU 0/1 and class indices. Probabilities, logits or
out-of-range classes raise :class:`ValueError` naming the argument. Files are written
atomically (a temporary file beside the target, then a rename), so a crash never leaves a
half-written file behind. Lines end with ``\\n``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from smm._atomic import atomic_write
from smm.formats.codes import MULTITASK_HEADER
from smm.models.config import ABAW3_AU_NAMES, ABAW3_EXPRESSION_NAMES, ABAW3_VA_NAMES

__all__ = [
    "au_decisions",
    "class_decisions",
    "va_values",
    "write_atomic",
    "write_au_file",
    "write_expr_file",
    "write_multitask_file",
    "write_va_file",
]

VA_DECIMALS = 6


def write_atomic(path: str | os.PathLike[str], lines: Iterable[str]) -> Path:
    """Write ``lines`` (each ending in ``\\n``) to ``path`` through a temporary file and a rename."""

    def write(temporary: Path) -> None:
        with temporary.open("w", newline="\n") as file:
            file.writelines(line + "\n" for line in lines)

    return atomic_write(path, write)


def _array(values: torch.Tensor | np.ndarray | Sequence[object], name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must be numbers (a tensor or array), got dtype {array.dtype}")
    return array


def au_decisions(au: torch.Tensor | np.ndarray, num_aus: int, name: str = "au") -> np.ndarray:
    """Check that ``au`` holds 0/1 decisions of shape ``(frames, num_aus)``; return them as int64.

    Raises
    ------
    ValueError
        For another shape, or any value other than 0 and 1 (probabilities and logits must be
        thresholded first, e.g. ``(torch.sigmoid(logits) > 0.5).long()``).
    """
    array = _array(au, name)
    if array.ndim != 2 or array.shape[1] != num_aus:
        raise ValueError(f"{name} must have shape (frames, {num_aus}), got {array.shape}")
    bad = array[(array != 0) & (array != 1)]
    if bad.size:
        raise ValueError(
            f"{name} must hold 0/1 decisions, got {bad.flat[0].item()!r} (threshold probabilities or logits first)"
        )
    return array.astype(np.int64)


def class_decisions(expr: torch.Tensor | np.ndarray, num_classes: int, name: str = "expr") -> np.ndarray:
    """Check that ``expr`` holds class indices in ``[0, num_classes)`` of shape ``(frames,)``; return int64.

    Raises
    ------
    ValueError
        For a 2-D input (scores: take ``argmax(-1)`` first), a non-integer value or a class
        outside the range.
    """
    array = _array(expr, name)
    if array.ndim != 1:
        hint = " (scores per class? take argmax(-1) first)" if array.ndim == 2 else ""
        raise ValueError(f"{name} must be class indices of shape (frames,), got shape {array.shape}{hint}")
    bad = array[(array != np.round(array)) | (array < 0) | (array >= num_classes)]
    if bad.size:
        raise ValueError(f"{name} must hold class indices in [0, {num_classes - 1}], got {bad.flat[0].item()!r}")
    return array.astype(np.int64)


def va_values(va: torch.Tensor | np.ndarray, name: str = "va") -> np.ndarray:
    """Check that ``va`` is finite and of shape ``(frames, 2)``; return it as float64."""
    array = _array(va, name).astype(np.float64)
    if array.ndim != 2 or array.shape[1] != len(ABAW3_VA_NAMES):
        raise ValueError(f"{name} must have shape (frames, 2), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array[~np.isfinite(array)].flat[0].item()!r}")
    return array


def _format_va(row: Sequence[float]) -> str:
    return ",".join(f"{v:.{VA_DECIMALS}f}" for v in row)


def write_au_file(
    path: str | os.PathLike[str], au: torch.Tensor | np.ndarray, names: Sequence[str] = ABAW3_AU_NAMES
) -> Path:
    """Write an AU-track prediction file: header of AU names, one line of 0/1 decisions per frame.

    Parameters
    ----------
    path : path-like
        ``<out>/AU/<video>.txt``.
    au : Tensor[T, H] or ndarray
        0/1 decisions, one row per video frame.
    names : sequence of str, default the 12 ABAW3 AUs
        The header; its length is H.
    """
    rows = au_decisions(au, len(names))
    return write_atomic(path, [",".join(names), *(",".join(map(str, row)) for row in rows.tolist())])


def write_expr_file(
    path: str | os.PathLike[str], expr: torch.Tensor | np.ndarray, names: Sequence[str] = ABAW3_EXPRESSION_NAMES
) -> Path:
    """Write an EXPR-track prediction file: header of class names, one class index per frame.

    Parameters
    ----------
    path : path-like
        ``<out>/EXPR/<video>.txt``.
    expr : Tensor[T] or ndarray
        Class indices in ``[0, len(names))``, one per video frame.
    names : sequence of str, default the 8 ABAW3 expressions
    """
    rows = class_decisions(expr, len(names))
    return write_atomic(path, [",".join(names), *map(str, rows.tolist())])


def write_va_file(
    path: str | os.PathLike[str], va: torch.Tensor | np.ndarray, names: Sequence[str] = ABAW3_VA_NAMES
) -> Path:
    """Write a VA-track prediction file: ``valence,arousal`` header, one pair per frame (6 decimals).

    Parameters
    ----------
    path : path-like
        ``<out>/VA/<video>.txt``.
    va : Tensor[T, 2] or ndarray
        Finite values, written as given (raw, like the published tester; clamp first if wanted).
    names : sequence of str, default ("valence", "arousal")
    """
    if len(names) != len(ABAW3_VA_NAMES):
        raise ValueError(f"names must name 2 columns (valence, arousal), got {list(names)}")
    rows = va_values(va)
    return write_atomic(path, [",".join(names), *map(_format_va, rows.tolist())])


def write_multitask_file(
    path: str | os.PathLike[str],
    images: Sequence[str],
    va: torch.Tensor | np.ndarray,
    expr: torch.Tensor | np.ndarray,
    au: torch.Tensor | np.ndarray,
    *,
    num_classes: int = len(ABAW3_EXPRESSION_NAMES),
) -> Path:
    """Write the multi-task track's file in the official format.

    Header ``image,valence,arousal,expression,aus``, then one row per image,
    ``video/00001.jpg,valence,arousal,expression,AU1,...,AU26`` (VA with 6 decimals,
    the AUs as comma-separated 0/1 values).

    Parameters
    ----------
    path : path-like
        e.g. ``<out>/MTL_predictions.txt`` (:data:`smm.formats.codes.MULTITASK_FILE`).
    images : sequence of str
        The test list's image paths, in its order.
    va : Tensor[N, 2]
    expr : Tensor[N]
        Class indices in ``[0, num_classes)``.
    au : Tensor[N, H]
        0/1 decisions; the challenge's file has H = 12.
    num_classes : int, default 8
    """
    va_rows = va_values(va)
    expr_rows = class_decisions(expr, num_classes)
    au_rows = au_decisions(au, np.shape(au)[1] if np.ndim(au) == 2 else len(ABAW3_AU_NAMES))
    if not len(images) == len(va_rows) == len(expr_rows) == len(au_rows):
        raise ValueError(
            f"images, va, expr, au must have one row per image, "
            f"got {len(images)}, {len(va_rows)}, {len(expr_rows)}, {len(au_rows)}"
        )
    bad = [image for image in images if not isinstance(image, str) or not image or "," in image]
    if bad:
        raise ValueError(f"images must be non-empty paths without commas, got {bad[0]!r}")
    lines = [
        ",".join([image, _format_va(v), str(e), *map(str, a)])
        for image, v, e, a in zip(images, va_rows.tolist(), expr_rows.tolist(), au_rows.tolist(), strict=True)
    ]
    return write_atomic(path, [",".join(MULTITASK_HEADER), *lines])
