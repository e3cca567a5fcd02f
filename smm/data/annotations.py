"""Readers for Aff-Wild2 annotation files (ABAW3 layout).

- Per-video ``.txt`` files of the AU, EXPR and VA sets: a header line of names, then
  one line per frame (line n annotates frame ``n`` = image ``0000n.jpg``); ``-1`` marks a
  missing AU/EXPR label and ``-5`` a missing VA label.
- The multi-task file (``train_set.txt`` / ``validation_set.txt``, or a ``.csv``): the official
  header ``image,valence,arousal,expression,aus`` (the last name spreads over the 12 AU
  columns), or a header naming all columns, then one row per image
  ``video/00001.jpg,valence,arousal,expression,AU1,...,AU26``.

Every reader accepts a UTF-8 byte-order mark and CRLF line ends, drops trailing blank lines,
and raises :class:`AnnotationError` naming the file and the line for anything else that is
off: a blank line inside the file, a wrong number of fields, text where a number belongs, or
a code outside the task's allowed set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smm.formats.codes import MISSING_LABEL, MISSING_VA, MULTITASK_HEADER, TASKS
from smm.formats.text import AnnotationError, is_number, read_lines, split_fields
from smm.models.config import ABAW3_AU_NAMES


@dataclass(frozen=True)
class VideoAnnotations:
    """One video's labels for one task.

    Attributes
    ----------
    task : str
        ``"AU"``, ``"EXPR"`` or ``"VA"``.
    video : str
        The file's stem, which names the frames folder.
    names : tuple of str
        The header's column names.
    labels : numpy.ndarray
        ``(frames, columns)``: int64 0/1/-1 for AU, int64 class/-1 for EXPR (one
        column), float32 with -5 for VA. Row ``n - 1`` annotates frame ``n``.
    """

    task: str
    video: str
    names: tuple[str, ...]
    labels: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])


def _parse_row(fields: list[str], task: str, where: str, num_classes: int) -> list[float]:
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise AnnotationError(f"{where}: expected numbers, got {','.join(fields)!r}") from None
    if task == "AU":
        bad = [v for v in values if v not in (0, 1, MISSING_LABEL)]
        if bad:
            raise AnnotationError(f"{where}: AU labels must be 0, 1 or -1, got {bad[0]:g}")
    elif task == "EXPR":
        v = values[0]
        if not (v == MISSING_LABEL or (v.is_integer() and 0 <= v < num_classes)):
            raise AnnotationError(f"{where}: expression must be an integer in [0, {num_classes}) or -1, got {v:g}")
    else:
        bad = [v for v in values if v != MISSING_VA and not -1 <= v <= 1]
        if bad:
            raise AnnotationError(f"{where}: valence/arousal must be in [-1, 1] or -5, got {bad[0]:g}")
    return values


def read_annotation_file(path: str | os.PathLike[str], task: str) -> VideoAnnotations:
    """Read one per-video annotation ``.txt`` file.

    Parameters
    ----------
    path : path-like
        e.g. ``Train_Set/video1.txt``.
    task : {"AU", "EXPR", "VA"}

    Returns
    -------
    VideoAnnotations

    Raises
    ------
    AnnotationError
        Naming the file and line: a missing header, a row with the wrong number of
        fields, a non-number, or a code outside the task's allowed set.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise AnnotationError(f"{path}: empty file, expected a header line")
    names = tuple(split_fields(lines[0][1]))
    if any(is_number(n) for n in names):
        raise AnnotationError(f"{path}:1: expected a header of names, got {lines[0][1]!r}")
    expected = 1 if task == "EXPR" else len(names)
    rows = []
    for number, line in lines[1:]:
        fields = split_fields(line)
        where = f"{path}:{number}"
        if len(fields) != expected:
            raise AnnotationError(f"{where}: expected {expected} field(s), got {len(fields)}")
        rows.append(_parse_row(fields, task, where, len(names)))
    dtype = np.float32 if task == "VA" else np.int64
    labels = np.asarray(rows, dtype=dtype).reshape(len(rows), expected)
    return VideoAnnotations(task, path.stem, names, labels)


def read_annotation_dir(path: str | os.PathLike[str], task: str) -> dict[str, VideoAnnotations]:
    """Read every ``.txt`` file of a task's folder; keys are video names."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"annotation folder {folder} does not exist")
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise AnnotationError(f"{folder}: no .txt annotation files")
    return {f.stem: read_annotation_file(f, task) for f in files}


@dataclass(frozen=True)
class MultiTaskAnnotations:
    """The multi-task ``.csv``: one row per image.

    Attributes
    ----------
    images : tuple of str
        Image paths as written in the file (``video/00001.jpg``).
    va : numpy.ndarray
        ``(N, 2)`` float32, -5 where missing.
    expr : numpy.ndarray
        ``(N,)`` int64, -1 where missing.
    au : numpy.ndarray
        ``(N, H)`` int64, -1 where missing.
    au_names : tuple of str
    """

    images: tuple[str, ...]
    va: np.ndarray
    expr: np.ndarray
    au: np.ndarray
    au_names: tuple[str, ...]


def read_multitask_csv(
    path: str | os.PathLike[str], *, num_classes: int = 8, num_aus: int = len(ABAW3_AU_NAMES)
) -> MultiTaskAnnotations:
    """Read the ABAW3 multi-task annotation file, ``.txt`` or ``.csv``.

    Parameters
    ----------
    path : path-like
        ``train_set.txt``, ``validation_set.txt`` or a file written by
        :func:`smm.inference.frames.write_multitask_file`.
    num_classes : int, default 8
        Expression codes must be in ``[0, num_classes)`` or -1.
    num_aus : int, default 12
        AU columns behind the official five-name header (``...,expression,aus``); a
        header that names every column gives the count and the names itself.

    Returns
    -------
    MultiTaskAnnotations
        With the ABAW3 AU names when the header is the official five-name one.

    Raises
    ------
    AnnotationError
        Naming the file and line.
    """
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise AnnotationError(f"{path}: empty file, expected a header line")
    header = split_fields(lines[0][1])
    lowered = [h.lower() for h in header]
    if lowered == list(MULTITASK_HEADER):
        au_names = ABAW3_AU_NAMES if num_aus == len(ABAW3_AU_NAMES) else tuple(f"aus{i + 1}" for i in range(num_aus))
    elif len(header) >= 5 and lowered[:4] == list(MULTITASK_HEADER[:4]) and not any(map(is_number, header)):
        au_names = tuple(header[4:])
    else:
        raise AnnotationError(
            f"{path}:1: expected the header 'image,valence,arousal,expression,aus' "
            f"(or one naming every AU column), got {lines[0][1]!r}"
        )
    width = 4 + len(au_names)
    images, va, expr, au = [], [], [], []
    for number, line in lines[1:]:
        fields = split_fields(line)
        where = f"{path}:{number}"
        if len(fields) != width:
            raise AnnotationError(
                f"{where}: expected {width} fields (image, valence, arousal, expression, {len(au_names)} AUs), "
                f"got {len(fields)}"
            )
        if not fields[0]:
            raise AnnotationError(f"{where}: the image field is empty")
        images.append(fields[0])
        va.append(_parse_row(fields[1:3], "VA", where, num_classes))
        expr.append(_parse_row(fields[3:4], "EXPR", where, num_classes)[0])
        au.append(_parse_row(fields[4:], "AU", where, num_classes))
    return MultiTaskAnnotations(
        images=tuple(images),
        va=np.asarray(va, dtype=np.float32).reshape(-1, 2),
        expr=np.asarray(expr, dtype=np.int64),
        au=np.asarray(au, dtype=np.int64).reshape(-1, len(au_names)),
        au_names=au_names,
    )
