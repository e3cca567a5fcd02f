"""The video annotated with what the model saw: every face's box, id, landmarks, expression, AUs and VA.

:func:`overlay_video` decodes the video again, upright as a player shows it (its display
rotation applied, as the predictions were), draws each row of the predictions on its frame, and
encodes the result with PyAV, frame by frame: memory stays flat however long the video. The
output has the input's frames and timestamps, so it can be stepped through beside the CSV.

What is drawn, per face: its box in a colour fixed by its ``face_id`` (the same person keeps one
colour through the video), the id and the most probable expression with its probability above
the box, the active AUs (``au == 1``) below it (beside it, or inside it, where the frame ends),
the five landmarks as dots, and a small
valence/arousal square beside the box (valence to the right, arousal up, the unit square's
outline, a dot where the face's VA is). A frame without a face is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from smm.inference.results import FramePredictions

#: Box colours by ``face_id`` (RGB), cycling after ten: matplotlib's "tab10", which tells them apart.
FACE_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def face_colour(face_id: int) -> tuple[int, int, int]:
    """The RGB colour of a face's box: :data:`FACE_COLOURS` by ``face_id``, cycling."""
    return FACE_COLOURS[int(face_id) % len(FACE_COLOURS)]


def overlay_video(
    video: str | os.PathLike[str],
    predictions: FramePredictions,
    out: str | os.PathLike[str],
    *,
    codec: str | None = None,
) -> Path:
    """Write ``video`` with ``predictions`` drawn on each frame (see the module); returns ``out``.

    Parameters
    ----------
    video : path-like
        The video the predictions are of.
    predictions : FramePredictions
        :func:`smm.predict_video`'s rows (or the CSV read back with
        :meth:`smm.inference.FramePredictions.from_csv`): frames numbered from 1 in decoding order, with
        ``box``, ``landmarks`` and ``face_id``; ``names`` label the expressions and AUs.
    out : path-like
        The annotated video, written atomically (a ``.mp4``).
    codec : str, optional
        Default ``libx264`` (H.264, yuv420p) where PyAV has it, else ``mpeg4``; ``ffv1`` keeps
        every pixel (large files; for tests).

    Raises
    ------
    ValueError
        When the predictions have no boxes, landmarks or face ids, or name frames the video
        does not have.
    """
    import av

    from smm._atomic import atomic_write
    from smm.face.video import open_video

    if predictions.box is None or predictions.landmarks is None or predictions.face_id is None:
        raise ValueError("predictions must have box, landmarks and face_id (those of predict_video)")
    chosen = codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
    rows = _rows_by_frame(predictions)
    drawer = _Drawer(predictions)
    out = Path(out)

    def write(temporary: Path) -> None:
        written = 0
        with open_video(video) as (frames, _), av.open(str(temporary), "w", format="mp4") as container:
            stream = None
            for number, (seconds, frame) in enumerate(frames, start=1):
                if stream is None:
                    stream = _stream(container, chosen, frame.shape[1], frame.shape[0])
                picture = drawer.draw(frame, rows.get(number, ()))
                encoded = av.VideoFrame.from_ndarray(_even(picture), format="rgb24")
                encoded.pts = round(seconds / stream.time_base)
                encoded.time_base = stream.time_base
                container.mux(stream.encode(encoded))
                written = number
            if stream is not None:
                container.mux(stream.encode())
        beyond = [n for n in rows if n > written]
        if beyond:
            raise ValueError(f"predictions name frame {min(beyond)}, but {video} has {written} frames")

    return atomic_write(out, write)


def _stream(container: Any, codec: str, width: int, height: int) -> Any:
    stream = container.add_stream(codec, rate=30)
    stream.width, stream.height = width + width % 2, height + height % 2
    stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
    base = Fraction(1, 1000) if codec == "mpeg4" else Fraction(1, 90000)  # mpeg4's time base is at most 1/65535
    stream.time_base = base
    stream.codec_context.time_base = base
    if codec == "libx264":
        stream.options = {"crf": "20", "preset": "veryfast"}
    return stream


def _even(picture: np.ndarray) -> np.ndarray:
    """The picture padded by a black row or column to even sides (4:2:0 needs them); a view when already even."""
    height, width = picture.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return picture
    padded = np.zeros((height + height % 2, width + width % 2, 3), np.uint8)
    padded[:height, :width] = picture
    return padded


def _rows_by_frame(predictions: FramePredictions) -> dict[int, list[int]]:
    """``{frame number: the rows with a face}``, rows in their order."""
    frames = predictions.frame.cpu().numpy()
    observed = predictions.observed.cpu().numpy().astype(bool)
    rows: dict[int, list[int]] = {}
    for row in np.flatnonzero(observed):
        rows.setdefault(int(frames[row]), []).append(int(row))
    return rows


class _Drawer:
    """Draws rows of one predictions table on frames (PIL's ImageDraw; sizes scale with each face)."""

    def __init__(self, predictions: FramePredictions) -> None:
        self.box = predictions.box.detach().float().cpu().numpy()  # type: ignore[union-attr]
        self.landmarks = predictions.landmarks.detach().float().cpu().numpy()  # type: ignore[union-attr]
        self.face_id = predictions.face_id.cpu().numpy()  # type: ignore[union-attr]
        self.expr = predictions.expr.cpu().numpy()
        self.expr_prob = predictions.expr_prob.detach().float().cpu().numpy()
        self.au = predictions.au.cpu().numpy()
        self.va = predictions.va.detach().float().cpu().numpy()
        names = predictions.names
        self.expressions = (
            list(names.expression) if names is not None else [str(k) for k in range(self.expr_prob.shape[1])]
        )
        self.aus = list(names.au) if names is not None else [f"AU{k}" for k in range(self.au.shape[1])]
        self._fonts: dict[int, Any] = {}

    def _font(self, size: int) -> Any:
        from PIL import ImageFont

        if size not in self._fonts:
            try:
                self._fonts[size] = ImageFont.load_default(size=size)
            except TypeError:  # Pillow < 10.1: one bitmap size
                self._fonts[size] = ImageFont.load_default()
        return self._fonts[size]

    def draw(self, frame: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """``frame`` with ``rows`` drawn on it (a copy), or ``frame`` itself without rows."""
        if not rows:
            return frame
        from PIL import Image, ImageDraw

        picture = Image.fromarray(frame)
        pen = ImageDraw.Draw(picture)
        for row in rows:
            self._face(pen, row)
        return np.asarray(picture)

    def _face(self, pen: Any, row: int) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box[row])
        colour = face_colour(int(self.face_id[row]))
        side = max(x1 - x0, y1 - y0, 1.0)
        width = max(2, round(side / 60))
        pen.rectangle([x0, y0, x1, y1], outline=colour, width=width)
        dot = max(2.0, side / 50)
        for x, y in self.landmarks[row]:
            pen.ellipse([x - dot, y - dot, x + dot, y + dot], fill=colour)
        font = self._font(max(10, round(side / 9)))
        expression = int(self.expr[row])
        label = f"{int(self.face_id[row])}"
        if 0 <= expression < len(self.expressions):
            label += f" {self.expressions[expression]} {self.expr_prob[row, expression]:.0%}"
        step = pen.textbbox((0, 0), "AU", font=font)[3] + 5  # a strip's height
        # Above the box where the frame has room, else just inside its top edge.
        inside = x0 + width  # a strip inside the box leaves its outline alone
        if y0 >= step:
            _text(pen, (x0, y0), label, font, colour, above=True)
        else:
            _text(pen, (inside, y0 + step + width), label, font, colour, above=True)
        active = [name for name, on in zip(self.aus, self.au[row], strict=True) if on == 1]
        size = getattr(font, "size", 10)
        per_line = max(1, round(max(x1 - x0, 4 * size) / (3 * size)))  # about three letters a font size
        lines = [" ".join(active[k : k + per_line]) for k in range(0, len(active), per_line)]
        square = max(16.0, side / 4)
        for k, (left, top) in enumerate(self._au_places(pen, lines, font, step, (x0, y0, x1, y1), width, square)):
            _text(pen, (left, top), lines[k], font, colour, above=False)
        self._va(pen, row, x1 + width * 2, y0, square, colour)

    def _au_places(
        self,
        pen: Any,
        lines: list[str],
        font: Any,
        step: float,
        box: tuple[float, float, float, float],
        width: int,
        square: float,
    ) -> list[tuple[float, float]]:
        """Where each line of AUs goes: below the box; else beside it, under the VA square; else inside it."""
        x0, y0, x1, y1 = box
        frame_width, frame_height = pen.im.size
        widest = max((pen.textbbox((0, 0), line, font=font)[2] for line in lines), default=0) + 6
        if y1 + step * len(lines) <= frame_height:
            return [(x0, y1 + step * k) for k in range(len(lines))]
        top = y0 + square + width
        if top + step * len(lines) <= frame_height:
            if x1 + width * 2 + widest <= frame_width:
                return [(x1 + width * 2, top + step * k) for k in range(len(lines))]
            if x0 - width - widest >= 0:
                return [(x0 - width - widest, top + step * k) for k in range(len(lines))]
        first = y1 - width - step * len(lines) - 1
        return [(x0 + width, first + step * k) for k in range(len(lines))]

    def _va(self, pen: Any, row: int, left: float, top: float, size: float, colour: tuple[int, int, int]) -> None:
        """Valence right, arousal up, in a square of ``size`` pixels: its outline, its axes, a dot at the face's VA."""
        valence, arousal = (float(v) for v in self.va[row, :2])
        if not (np.isfinite(valence) and np.isfinite(arousal)):
            return
        half = size / 2
        cx, cy = left + half, top + half
        pen.rectangle([left, top, left + size, top + size], outline=(255, 255, 255), fill=(0, 0, 0))
        pen.line([left, cy, left + size, cy], fill=(128, 128, 128))
        pen.line([cx, top, cx, top + size], fill=(128, 128, 128))
        x = cx + np.clip(valence, -1, 1) * half
        y = cy - np.clip(arousal, -1, 1) * half
        r = max(2.0, size / 10)
        pen.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def _text(
    pen: Any, at: tuple[float, float], text: str, font: Any, colour: tuple[int, int, int], *, above: bool
) -> None:
    """``text`` on a dark strip at a box's corner: above its top edge, or below its bottom edge."""
    left, top, right, bottom = pen.textbbox((0, 0), text, font=font)
    height = bottom - top + 4
    y = at[1] - height - 1 if above else at[1] + 1  # beside the box's edge, never on it
    pen.rectangle([at[0], y, at[0] + right - left + 6, y + height - 1], fill=(0, 0, 0))
    pen.text((at[0] + 3, y + 2 - top), text, font=font, fill=colour)


__all__ = ["FACE_COLOURS", "face_colour", "overlay_video"]
