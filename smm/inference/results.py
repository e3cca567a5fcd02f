"""The one per-frame result type of every prediction entry point, and the published rule for frames without a face.

Frames are numbered from 1 everywhere, as Aff-Wild2 names its frame images (``00001.jpg`` is
the first frame of the video) and as the challenge files count their lines (line ``n`` after
the header is frame ``n``). A photo is frame 1 of itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from smm.defaults import THRESHOLD
from smm.formats.frames_csv import csv_columns, read_frames_table, write_frames_csv

#: The per-row outputs of a prediction (the fields a prediction path fills; the others say where a row came from).
OUTPUT_FIELDS = ("au_prob", "au", "expr_prob", "expr", "va")


class LabelNames(NamedTuple):
    """The names of a model's outputs, in output order."""

    au: tuple[str, ...]
    expression: tuple[str, ...]
    va: tuple[str, ...] = ("valence", "arousal")

    @classmethod
    def of(cls, model: Any) -> LabelNames:
        """``model.au_names``, ``model.expression_names`` and ``model.va_names``."""
        return cls(tuple(model.au_names), tuple(model.expression_names), tuple(model.va_names))


class FramePredictions(NamedTuple):
    """Per-frame predictions, one row per frame (or per face of a photo), T rows (``len(p.frame)``).

    :func:`smm.inference.predict_frames`, :func:`smm.predict_video` and
    :func:`smm.predict_images` all return this type.

    Attributes
    ----------
    au_prob : Tensor[T, H]
        AU occurrence probabilities (not intensities), in ``model.au_names`` order.
    au : Tensor[T, H] of int64
        0/1 decisions at ``au_prob > threshold``.
    expr_prob : Tensor[T, K]
        Expression probabilities (softmax), in ``model.expression_names`` order.
    expr : Tensor[T] of int64
        The most probable expression.
    va : Tensor[T, V]
        Valence and arousal, raw (as the published tester writes them) unless
        ``clamp_va=True`` clamped them to [-1, 1].
    frame : Tensor[T] of int64
        The frame number of each row, from 1 (a video's row ``n - 1`` is frame ``n``; a photo's
        rows are frame 1).
    observed : Tensor[T] of bool
        ``True`` where the row had its own image (a frame image, a detected face); ``False``
        where it had none. In a video such a row repeats the nearest earlier frame's prediction
        (the first image's before the first image, the published tester's rule,
        :func:`fill_index`); a photo without a face has NaN probabilities and VA and ``-1``
        decisions. Index a metric's inputs with it to leave such rows out.
    time : Tensor[T] of float64, optional
        Seconds from the start of the video (0 for photos); ``None`` for frame folders.
    box : Tensor[T, 4], optional
        ``x0, y0, x1, y1`` of the face in pixels, NaN without a face; ``None`` for frame folders
        (already cropped).
    landmarks : Tensor[T, 5, 2], optional
        ``(x, y)`` of the eyes, nose tip and mouth corners, NaN without a face.
    source : tuple of str, optional
        The file each row came from.
    face_id : Tensor[T] of int64, optional
        The face of each row: in a video, its track id, which stays with the person; in a
        photo, its rank by size (0 the largest); ``-1`` for a row without a face.
    reason : tuple of str, optional
        Why a row has no face (``"no face found"``, ``"image too small for face detection
        ..."``, ``"cannot be read ..."``); ``""`` for rows with a face.
    names : LabelNames, optional
        The AU and expression names of the columns (``model.au_names``,
        ``model.expression_names``); :meth:`to_pandas` and the CSV writer use them.
    """

    au_prob: torch.Tensor
    au: torch.Tensor
    expr_prob: torch.Tensor
    expr: torch.Tensor
    va: torch.Tensor
    frame: torch.Tensor
    observed: torch.Tensor
    time: torch.Tensor | None = None
    box: torch.Tensor | None = None
    landmarks: torch.Tensor | None = None
    source: tuple[str, ...] | None = None
    face_id: torch.Tensor | None = None
    reason: tuple[str, ...] | None = None
    names: LabelNames | None = None

    @classmethod
    def empty(cls, rows: int, names: LabelNames) -> FramePredictions:
        """``rows`` rows without a prediction (frames 1, 2, ...): NaN probabilities and VA, ``-1`` decisions.

        The one way every prediction path starts a table that it fills by field name, and what
        a video without any image or face gives.
        """
        labelled, classes, va_dim = len(names.au), len(names.expression), len(names.va)
        return cls(
            au_prob=torch.full((rows, labelled), float("nan")),
            au=torch.full((rows, labelled), -1, dtype=torch.int64),
            expr_prob=torch.full((rows, classes), float("nan")),
            expr=torch.full((rows,), -1, dtype=torch.int64),
            va=torch.full((rows, va_dim), float("nan")),
            frame=torch.arange(1, rows + 1),
            observed=torch.zeros(rows, dtype=torch.bool),
            names=names,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        au_names: Sequence[str] | None = None,
        expression_names: Sequence[str] | None = None,
        *,
        threshold: float = THRESHOLD,
    ) -> FramePredictions:
        """A per-frame CSV read back (a run of yesterday, or of another machine): what ``predict --input`` wrote.

        Parameters
        ----------
        path : path-like
            A CSV of :func:`smm.formats.write_frames_csv`, with or without the pose columns.
        au_names, expression_names : sequence of str, optional
            The AU and expression columns (default: those named ``AU`` and a number are the
            AUs, the rest the expressions; see :func:`smm.formats.frames_csv.read_frames_table`).
        threshold : float, default 0.5
            The AU decisions ``au``, which the CSV does not hold: ``au_prob > threshold``.

        Raises
        ------
        FileNotFoundError, ValueError
            A missing file; a header or line that does not fit, named by file and line.
        """
        table = read_frames_table(path, au_names, expression_names)
        au_prob = torch.from_numpy(table.au_prob).float()
        return cls(
            au_prob=au_prob,
            au=torch.where(torch.isnan(au_prob), -1, (au_prob > threshold).long()),
            expr_prob=torch.from_numpy(table.expr_prob).float(),
            expr=torch.from_numpy(table.expr),
            va=torch.from_numpy(table.va).float(),
            frame=torch.from_numpy(table.frame),
            observed=torch.from_numpy(table.face),
            time=torch.from_numpy(table.time),
            box=torch.from_numpy(table.box).float(),
            landmarks=torch.from_numpy(table.landmarks).float(),
            source=table.source,
            face_id=torch.from_numpy(table.face_id),
            reason=table.reason,
            names=LabelNames(table.au_names, table.expression_names),
        )

    @property
    def pose(self) -> torch.Tensor:
        """``Tensor[T, 3]`` float32 head pose of each row, ``yaw, pitch, roll`` in degrees; NaN without landmarks.

        From the five landmarks against a mean 3-D face (:func:`smm.inference.pose.head_pose`, which
        states the method and its limits): yaw positive when the nose points to the image's
        right, pitch when it points up, roll when the face is turned counter-clockwise in the
        image. A coarse pose, made to filter frames (``abs(yaw) < 30``).
        """
        from smm.inference.pose import head_pose

        if self.landmarks is None:
            return torch.full((len(self.frame), 3), float("nan"))
        return torch.from_numpy(head_pose(self.landmarks.detach().cpu().double().numpy()))

    def with_rows(self, rows: Sequence[int] | np.ndarray | torch.Tensor, part: FramePredictions) -> FramePredictions:
        """A copy whose outputs (:data:`OUTPUT_FIELDS`) at the row indices ``rows`` are ``part``'s, in that order."""
        index = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        outputs = {}
        for name in OUTPUT_FIELDS:
            values = getattr(self, name).clone()
            values[index] = getattr(part, name).to(values.dtype)
            outputs[name] = values
        return self._replace(**outputs)

    def to_pandas(self, au_names: Sequence[str] | None = None, expression_names: Sequence[str] | None = None) -> Any:
        """The rows as a :class:`pandas.DataFrame` with the columns of the per-frame CSV.

        One column definition serves both (:func:`smm.formats.csv_columns`, :meth:`csv_rows`): ``source``,
        ``frame``, ``time``, ``face``, ``face_id``, the box, the landmarks, one probability
        column per AU and per expression, ``expression``, ``valence``, ``arousal``,
        ``reason``. Empty CSV fields are NaN here (``face_id``: pandas' missing integer).

        Parameters
        ----------
        au_names, expression_names : sequence of str, optional
            Default :attr:`names` (set by every prediction entry point).

        Raises
        ------
        ImportError
            Without pandas (``pip install pandas``).
        """
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("to_pandas needs pandas: pip install pandas") from error
        au_names, expression_names = self.label_names(au_names, expression_names)
        columns = csv_columns(au_names, expression_names)
        table = pd.DataFrame(list(self.csv_rows(au_names, expression_names)), columns=columns)
        text = {"source", "expression", "reason"}
        for column in columns:
            if column == "face_id":
                table[column] = table[column].astype("Int64")
            elif column in ("frame", "face"):
                table[column] = table[column].astype("int64")
            elif column not in text:
                table[column] = table[column].astype("float64")
        return table

    def label_names(
        self, au_names: Sequence[str] | None = None, expression_names: Sequence[str] | None = None
    ) -> tuple[Sequence[str], Sequence[str]]:
        """The AU and expression names of the table's columns: those given, else :attr:`names`.

        Raises
        ------
        ValueError
            When neither names them, or when they do not name every AU and expression output.
        """
        if au_names is None or expression_names is None:
            if self.names is None:
                raise ValueError("these predictions carry no label names: pass au_names and expression_names")
            au_names = self.names.au if au_names is None else au_names
            expression_names = self.names.expression if expression_names is None else expression_names
        if len(au_names) != self.au_prob.shape[-1] or len(expression_names) != self.expr_prob.shape[-1]:
            raise ValueError(
                f"au_names and expression_names must name the {self.au_prob.shape[-1]} AU and "
                f"{self.expr_prob.shape[-1]} expression outputs, got {len(au_names)} and {len(expression_names)}"
            )
        return au_names, expression_names

    def csv_rows(
        self, au_names: Sequence[str] | None = None, expression_names: Sequence[str] | None = None
    ) -> Iterator[list[Any]]:
        """The per-frame CSV's rows (without the header) as lists of values, in the order of its columns.

        The one definition of what each row holds (:mod:`smm.formats.frames_csv` writes it as
        text, :meth:`to_pandas` as a table): a row without a face keeps ``source``, ``frame``,
        ``time``, ``face`` = 0 and ``reason`` and leaves the other values ``None``.
        """
        au_names, expression_names = self.label_names(au_names, expression_names)
        width = len(csv_columns(au_names, expression_names))
        rows = len(self.frame)
        sources = self.source or ("",) * rows
        times = self.time.tolist() if self.time is not None else [0.0] * rows
        ids = self.face_id.tolist() if self.face_id is not None else [0] * rows
        reasons = self.reason or ("",) * rows
        poses = self.pose if self.landmarks is not None else None
        for k in range(rows):
            observed = bool(self.observed[k])
            values: list[Any] = [sources[k], int(self.frame[k]), times[k], int(observed)]
            if not observed:
                yield [*values, *[None] * (width - len(values) - 1), reasons[k] or "no face found"]
                continue
            values.append(int(ids[k]) if ids[k] >= 0 else None)
            geometry: list[Any] = [None] * 17
            if self.box is not None and self.landmarks is not None:
                pose = poses[k].tolist() if poses is not None else [None] * 3
                geometry = [*self.box[k].tolist(), *self.landmarks[k].reshape(-1).tolist(), *pose]
            expression = expression_names[int(self.expr[k])]
            yield [
                *values,
                *geometry,
                *self.au_prob[k].tolist(),
                *self.expr_prob[k].tolist(),
                expression,
                *self.va[k].tolist(),
                reasons[k],
            ]

    def to_csv(
        self,
        path: str | os.PathLike[str],
        au_names: Sequence[str] | None = None,
        expression_names: Sequence[str] | None = None,
    ) -> Path:
        """Write the per-frame CSV atomically (:func:`smm.formats.write_frames_csv`); returns the path."""
        return write_frames_csv(path, self, au_names, expression_names)

    def select(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> FramePredictions:
        """The rows at the given positions (0-based row indices, or a boolean mask), in that order."""
        index = torch.as_tensor(np.asarray(index))
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        positions = index.tolist()

        def rows(name: str, field: Any) -> Any:
            if field is None or name == "names":
                return field
            return tuple(field[i] for i in positions) if isinstance(field, tuple) else field[index]

        return FramePredictions(*(rows(name, field) for name, field in zip(self._fields, self, strict=True)))

    def rows(self, frames: Sequence[int] | np.ndarray | torch.Tensor) -> FramePredictions:
        """The rows of the given frame numbers (from 1) of a video, in the given order."""
        index = torch.as_tensor(np.asarray(frames, dtype=np.int64)) - 1
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(self.frame)):
            raise ValueError(f"frames must be in [1, {len(self.frame)}], got {np.asarray(frames).tolist()[:5]}...")
        return self.select(index)


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
    given = np.asarray(frames).reshape(-1)
    if given.size and not np.array_equal(given, np.round(given)):
        raise ValueError(f"frames must be integer frame numbers, got {given[given != np.round(given)][0]}")
    numbers = given.astype(np.int64)
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
