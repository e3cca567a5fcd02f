"""A video's display orientation: how its decoded frames are turned (and mirrored) to be seen upright.

Phones store a portrait video's frames as the sensor reads them, landscape, and record in the
stream a *display matrix* that tells players how to show them: FFmpeg reports it as a
rotation (``ffprobe`` says "rotation of -90.00 degrees" for most portrait phone videos) and,
rarely, a mirror. Every player applies it; :class:`Orientation` applies it to every decoded
frame, so faces are found, tracked, aligned and reported in the frames as a person sees them.

The matrix is FFmpeg's ``AV_FRAME_DATA_DISPLAYMATRIX``: nine 32-bit integers, the first four
of which, ``a b . c d``, are in 16.16 fixed point and map a stored pixel ``(x, y)`` to the
displayed ``(a x + c y, b x + d y)`` (up to a translation). For the eight turns and mirrors of
a rectangle each of ``a, b, c, d`` is -1, 0 or 1; this module reads their signs as FFmpeg's own
``autorotate`` does (a matrix at another angle is taken at its nearest quarter turn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Orientation(NamedTuple):
    """How stored frames become upright ones.

    Attributes
    ----------
    rotation : int
        The display rotation in degrees, FFmpeg's convention (counter-clockwise, as
        ``ffprobe`` and PyAV's ``VideoFrame.rotation`` state it): one of 0, 90, 180, -90. For a
        mirroring matrix, the turn that follows a left-right mirror of the stored frame.
    mirrored : bool
        Whether the display matrix also mirrors the frame (left-right, then ``rotation``).
    transpose, flip_rows, flip_columns : bool
        The array operations that make a stored ``(H, W, C)`` frame upright, in this order.
    """

    rotation: int = 0
    mirrored: bool = False
    transpose: bool = False
    flip_rows: bool = False
    flip_columns: bool = False

    @classmethod
    def from_matrix(cls, matrix: Sequence[int] | bytes | None) -> Orientation:
        """The orientation a display matrix describes (``None``, or all zeros: upright).

        Parameters
        ----------
        matrix : 9 integers, their 36 native-endian bytes, or None
        """
        if matrix is None:
            return cls()
        values = (
            np.frombuffer(bytes(matrix), dtype=np.int32)
            if isinstance(matrix, (bytes, bytearray, memoryview))
            else matrix
        )
        m = np.asarray(values, dtype=np.float64).reshape(-1)
        if m.size != 9:
            raise ValueError(f"matrix must hold 9 integers, got {m.size}")
        a, b, c, d = m[0], m[1], m[3], m[4]
        if not np.isfinite([a, b, c, d]).all() or max(abs(a), abs(b), abs(c), abs(d)) == 0:
            return cls()
        if abs(b) + abs(c) > abs(a) + abs(d):  # a quarter turn: stored columns become displayed rows
            transpose, flip_rows, flip_columns = True, b < 0, c < 0
        else:
            transpose, flip_rows, flip_columns = False, d < 0, a < 0
        mirrored = (a * d - b * c) < 0
        angle = -np.degrees(np.arctan2(b, a)) if not mirrored else -np.degrees(np.arctan2(-b, -a))
        rotation = round(float(angle) / 90.0) * 90
        rotation = {270: -90, -270: 90, -180: 180, 360: 0, -360: 0}.get(rotation, rotation)
        return cls(rotation, bool(mirrored), transpose, bool(flip_rows), bool(flip_columns))

    @property
    def upright(self) -> bool:
        """Whether frames are shown as stored (nothing to do)."""
        return not (self.transpose or self.flip_rows or self.flip_columns)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The upright ``(H', W', C)`` frame of a stored ``(H, W, C)`` one; ``frame`` itself when upright.

        The turn is a view of ``frame``, copied once into a contiguous array (at 4K, one 25 MB copy).
        """
        if self.upright:
            return frame
        view = frame.swapaxes(0, 1) if self.transpose else frame
        if self.flip_rows:
            view = view[::-1]
        if self.flip_columns:
            view = view[:, ::-1]
        return np.ascontiguousarray(view)

    def filters(self) -> list[tuple[str, str]]:
        """The FFmpeg filters that make a stored frame upright, as ``(name, arguments)``; none when upright.

        The decoder runs them on its own frames (:class:`smm.face.video.VideoFrames`), before the
        conversion to RGB: FFmpeg's transpose is several times faster than a strided copy of an
        RGB array, and moves half the bytes (YUV 4:2:0).
        """
        if self.transpose:
            # FFmpeg's transpose directions: cclock_flip is the plain transpose; the others add a flip.
            direction = {
                (False, False): "cclock_flip",
                (True, False): "cclock",
                (False, True): "clock",
                (True, True): "clock_flip",
            }[(self.flip_rows, self.flip_columns)]
            return [("transpose", direction)]
        return [("vflip", "")] * self.flip_rows + [("hflip", "")] * self.flip_columns

    def size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` of the upright frames of stored ``width x height`` frames."""
        return (height, width) if self.transpose else (width, height)

    def describe(self) -> str:
        """Words for a log line: ``""`` when upright, else e.g. ``"display rotation -90°, applied"``."""
        if self.upright:
            return ""
        mirror = ", mirrored" if self.mirrored else ""
        return f"display rotation {self.rotation}°{mirror}, applied"


__all__ = ["Orientation"]
