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
  (:func:`smm.face.pose.head_pose`: yaw positive to the image's right, pitch up, roll
  counter-clockwise);
- one column per AU: its occurrence probability (not an intensity);
- one column per expression: its probability; ``expression``: the most probable one's name;
- ``valence``, ``arousal``: the model's raw outputs;
- ``reason``: why a row has no face (``no face found``, ``image too small for face detection
  (16x16 px; ...)``, ``cannot be read as an image``); empty otherwise.

A row without a face keeps ``source``, ``frame``, ``time``, ``face`` = 0 and ``reason``, and
leaves every other field empty (as many fields as the header).
:meth:`smm.inference.FramePredictions.to_pandas` gives the same columns as a table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smm.formats.abaw_files import write_atomic

if TYPE_CHECKING:
    from smm.inference.results import FramePredictions

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


def csv_rows(
    predictions: FramePredictions, au_names: Sequence[str], expression_names: Sequence[str]
) -> Iterator[list[Any]]:
    """The CSV's rows (without the header) as lists of values, in the order of :func:`csv_columns`."""
    width = len(csv_columns(au_names, expression_names))
    rows = len(predictions.frame)
    sources = predictions.source or ("",) * rows
    times = predictions.time.tolist() if predictions.time is not None else [0.0] * rows
    ids = predictions.face_id.tolist() if predictions.face_id is not None else [0] * rows
    reasons = predictions.reason or ("",) * rows
    poses = predictions.pose if predictions.landmarks is not None else None
    for k in range(rows):
        observed = bool(predictions.observed[k])
        values: list[Any] = [sources[k], int(predictions.frame[k]), times[k], int(observed)]
        if not observed:
            yield [*values, *[None] * (width - len(values) - 1), reasons[k] or "no face found"]
            continue
        values.append(int(ids[k]) if ids[k] >= 0 else None)
        geometry: list[Any] = [None] * 17
        if predictions.box is not None and predictions.landmarks is not None:
            pose = poses[k].tolist() if poses is not None else [None] * 3
            geometry = [*predictions.box[k].tolist(), *predictions.landmarks[k].reshape(-1).tolist(), *pose]
        expression = expression_names[int(predictions.expr[k])]
        yield [
            *values,
            *geometry,
            *predictions.au_prob[k].tolist(),
            *predictions.expr_prob[k].tolist(),
            expression,
            *predictions.va[k].tolist(),
            reasons[k],
        ]


def write_frames_csv(
    path: str | os.PathLike[str],
    predictions: FramePredictions,
    au_names: Sequence[str] | None = None,
    expression_names: Sequence[str] | None = None,
) -> Path:
    """Write the per-frame CSV (see the module) atomically; returns the path.

    Probabilities and VA have 6 decimals, coordinates 2, times 6. The names default to the
    predictions' own (``predictions.names``).
    """
    au_names, expression_names = predictions._label_names(au_names, expression_names)
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
        for row in csv_rows(predictions, au_names, expression_names):
            yield ",".join(text(column, value) for column, value in zip(columns, row, strict=True))

    return write_atomic(path, lines())


def _quoted(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
