"""The per-frame CSV of photos and videos: one row per frame (or face of a photo), named columns.

Columns, in order:

- ``source``: the file the row came from;
- ``frame``: the frame number, from 1 (a photo is frame 1);
- ``time``: seconds from the start of the video (0 for photos);
- ``face``: 1 when the row has a face of its own, else 0;
- ``face_id``: the face's id: in a video its track, which stays with the person; in a photo
  its rank by size (0 the largest); empty without a face;
- ``x0, y0, x1, y1``: the face box in pixels;
- ``left_eye_x, left_eye_y, ..., mouth_right_y``: the five landmarks in pixels;
- ``yaw``, ``pitch``, ``roll``: the head pose in degrees, from the landmarks
  (:func:`smm.inference.pose.head_pose`: yaw positive to the image's right, pitch up, roll
  counter-clockwise);
- one column per AU: its occurrence probability (not an intensity);
- one column per expression: its probability; ``expression``: the most probable one's name;
- ``valence``, ``arousal``: the model's raw outputs;
- ``reason``: why a row has no face (``no face found``, ``image too small for face detection
  (16x16 px; ...)``, ``cannot be read as an image``); empty otherwise.

A row without a face keeps ``source``, ``frame``, ``time``, ``face`` = 0 and ``reason``, and
leaves every other field empty (as many fields as the header).
This module is the file format only: the header (:func:`csv_columns`), the text, and the
reader (:func:`read_frames_table`); the values of each row are the result type's
(:meth:`smm.inference.FramePredictions.csv_rows`), which writes itself here and reads itself
back (:meth:`~smm.inference.FramePredictions.from_csv`), and gives the same columns as a table
(:meth:`~smm.inference.FramePredictions.to_pandas`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from smm.formats.abaw_files import write_atomic

#: The five landmarks, in the detector's order (left/right as seen in the image).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
#: The head pose's columns, in degrees (:attr:`smm.inference.FramePredictions.pose`).
POSE_NAMES = ("yaw", "pitch", "roll")


def csv_columns(au_names: Sequence[str], expression_names: Sequence[str]) -> list[str]:
    """The header of the per-frame CSV for a model's AU and expression names."""
    return [
        "source",
        "frame",
        "time",
        "face",
        "face_id",
        "x0",
        "y0",
        "x1",
        "y1",
        *(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"),
        *POSE_NAMES,
        *au_names,
        *expression_names,
        "expression",
        "valence",
        "arousal",
        "reason",
    ]


class CSVTable(Protocol):
    """What :func:`write_frames_csv` writes: a table that names its label columns and gives its rows' values.

    :class:`smm.inference.FramePredictions` is one; this module does not import it, so the file
    format depends on nothing of the model or the inference.
    """

    def label_names(
        self, au_names: Sequence[str] | None = None, expression_names: Sequence[str] | None = None
    ) -> tuple[Sequence[str], Sequence[str]]: ...

    def csv_rows(
        self, au_names: Sequence[str] | None = None, expression_names: Sequence[str] | None = None
    ) -> Iterator[list[Any]]: ...


def write_frames_csv(
    path: str | os.PathLike[str],
    predictions: CSVTable,
    au_names: Sequence[str] | None = None,
    expression_names: Sequence[str] | None = None,
) -> Path:
    """Write the per-frame CSV (see the module) atomically; returns the path.

    Probabilities and VA have 6 decimals, coordinates 2, times 6. The names default to the
    predictions' own (``predictions.names``).
    """
    au_names, expression_names = predictions.label_names(au_names, expression_names)
    columns = csv_columns(au_names, expression_names)
    decimals = {"time": 6, **dict.fromkeys(columns[5:22], 2)}

    def text(column: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.{decimals.get(column, 6)}f}"
        return _quoted(str(value))

    def lines() -> Iterator[str]:
        yield ",".join(columns)
        for row in predictions.csv_rows(au_names, expression_names):
            yield ",".join(text(column, value) for column, value in zip(columns, row, strict=True))

    return write_atomic(path, lines())


def _quoted(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


class FramesTable(NamedTuple):
    """A per-frame CSV's values as numpy arrays (what :func:`read_frames_table` reads; R rows, NaN where empty).

    :meth:`smm.inference.FramePredictions.from_csv` turns it into predictions.
    """

    au_names: tuple[str, ...]
    expression_names: tuple[str, ...]
    au_prob: np.ndarray  # (R, H) float64
    expr_prob: np.ndarray  # (R, K)
    expr: np.ndarray  # (R,) int64 index of the expression column, -1 without a face
    va: np.ndarray  # (R, 2)
    frame: np.ndarray  # (R,) int64
    face: np.ndarray  # (R,) bool
    time: np.ndarray  # (R,) float64
    box: np.ndarray  # (R, 4)
    landmarks: np.ndarray  # (R, 5, 2)
    source: tuple[str, ...]
    face_id: np.ndarray  # (R,) int64, -1 without a face
    reason: tuple[str, ...]


def read_frames_table(
    path: str | os.PathLike[str],
    au_names: Sequence[str] | None = None,
    expression_names: Sequence[str] | None = None,
) -> FramesTable:
    """A per-frame CSV read back as arrays (:meth:`smm.inference.FramePredictions.from_csv` makes predictions of it).

    Parameters
    ----------
    path : path-like
        A CSV written by :func:`write_frames_csv` (``predict --input``), with or without the
        pose columns (a CSV of 0.1 has none; the pose is computed from the landmarks).
    au_names, expression_names : sequence of str, optional
        The AU and expression columns. By default the columns between the landmarks (or the
        pose) and ``expression`` named ``AU`` and a number are the AUs, and the rest the
        expressions.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the header is not a per-frame CSV's, or a line does not fit it; the message names
        the file and the line.
    """
    import csv

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"per-frame CSV {path} does not exist")
    with path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise ValueError(f"{path}, line 1: empty file, expected the per-frame CSV's header")
    header = lines[0]
    fixed = csv_columns((), ())
    head, tail = fixed[: fixed.index("expression")], fixed[fixed.index("expression") :]
    if header[: len(head)] != head and all(name in header for name in head if name not in POSE_NAMES):
        head = [name for name in head if name not in POSE_NAMES]  # written before the pose columns (0.1)
    if header[: len(head)] != head or header[-len(tail) :] != tail:
        raise ValueError(f"{path}, line 1: not a per-frame CSV header (expected {', '.join(head[:5])}, ...)")
    named = header[len(head) : -len(tail)]
    if au_names is None or expression_names is None:
        au_count = next((k for k, name in enumerate(named) if not _is_au(name)), len(named))
        au_names = named[:au_count] if au_names is None else au_names
        expression_names = named[len(au_names) :] if expression_names is None else expression_names
    if list(au_names) + list(expression_names) != named:
        raise ValueError(
            f"{path}, line 1: the columns {named} are not the AUs {list(au_names)} and the expressions "
            f"{list(expression_names)}"
        )
    columns = {name: k for k, name in enumerate(header)}
    rows = lines[1:]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {number}: {len(row)} fields, the header has {len(header)}")

    def numbers(names: Sequence[str]) -> np.ndarray:
        out = np.full((len(rows), len(names)), np.nan)
        for r, row in enumerate(rows):
            for c, name in enumerate(names):
                text = row[columns[name]]
                if text:
                    try:
                        out[r, c] = float(text)
                    except ValueError:
                        raise ValueError(f"{path}, line {r + 2}: {name} is {text!r}, not a number") from None
        return out

    def integers(name: str, *, required: bool) -> np.ndarray:
        values = numbers([name])[:, 0]
        missing = np.flatnonzero(np.isnan(values))
        if required and len(missing):
            raise ValueError(f"{path}, line {missing[0] + 2}: {name} is empty")
        return np.where(np.isnan(values), -1, values).astype(np.int64)

    index = {name: k for k, name in enumerate(expression_names)}
    expressions = [row[columns["expression"]] for row in rows]
    unknown = next((k for k, name in enumerate(expressions) if name and name not in index), None)
    if unknown is not None:
        raise ValueError(f"{path}, line {unknown + 2}: expression {expressions[unknown]!r} is not a column")
    landmark_columns = [f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"]
    return FramesTable(
        au_names=tuple(au_names),
        expression_names=tuple(expression_names),
        au_prob=numbers(au_names),
        expr_prob=numbers(expression_names),
        expr=np.array([index.get(name, -1) for name in expressions], dtype=np.int64),
        va=numbers(["valence", "arousal"]),
        frame=integers("frame", required=True),
        face=integers("face", required=True) == 1,
        time=numbers(["time"])[:, 0],
        box=numbers(["x0", "y0", "x1", "y1"]),
        landmarks=numbers(landmark_columns).reshape(-1, 5, 2),
        source=tuple(row[columns["source"]] for row in rows),
        face_id=integers("face_id", required=False),
        reason=tuple(row[columns["reason"]] for row in rows),
    )


def _is_au(name: str) -> bool:
    """Whether a column is named like an action unit: ``AU`` and a number (``AU1``, ``AU12``)."""
    return name.startswith("AU") and name[2:].isdigit()
