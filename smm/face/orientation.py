"""A video's display orientation: how its decoded frames are turned (and mirrored) to be seen upright.

Phones store a portrait video's frames as the sensor reads them, landscape, and record in the
stream a *display matrix* that tells players how to show them: FFmpeg reports it as a
rotation (``ffprobe`` says "rotation of -90.00 degrees" for most portrait phone videos) and,
rarely, a mirror. Every player applies it; :class:`Orientation` applies it to every decoded
frame, so faces are found, tracked, aligned and reported in the frames as a person sees them.

The matrix is FFmpeg's ``AV_FRAME_DATA_DISPLAYMATRIX``: nine 32-bit integers, the first four
of which, ``a b . c d``, are in 16.16 fixed point and map a stored pixel ``(x, y)`` to the
displayed ``(a x + c y, b x + d y)`` (up to a translation). A negative determinant is a
mirror; the angle of ``(a, b)`` (after taking the mirror off) is the turn, taken at its nearest
quarter turn, as FFmpeg's own ``autorotate`` does for the eight turns and mirrors of a
rectangle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

#: The FFmpeg filters of each (counter-clockwise quarter turns, mirrored): FFmpeg's ``transpose``
#: directions are a quarter turn (``cclock``, ``clock``), or a mirror and a quarter turn
#: (``cclock_flip`` is the plain transpose, ``clock_flip`` the transverse).
_FILTERS = {
    (0, False): [],
    (1, False): [("transpose", "cclock")],
    (2, False): [("hflip", ""), ("vflip", "")],
    (3, False): [("transpose", "clock")],
    (0, True): [("hflip", "")],
    (1, True): [("transpose", "cclock_flip")],
    (2, True): [("vflip", "")],
    (3, True): [("transpose", "clock_flip")],
}


class Orientation(NamedTuple):
    """How stored frames become upright ones: mirrored left-right (or not), then turned.

    Attributes
    ----------
    rotation : int
        The display rotation in degrees, FFmpeg's convention (counter-clockwise, as
        ``ffprobe`` and PyAV's ``VideoFrame.rotation`` state it): one of 0, 90, 180, -90. For a
        mirroring matrix, the turn that follows the left-right mirror of the stored frame.
    mirrored : bool
        Whether the display matrix also mirrors the frame (left-right, then ``rotation``).
    """

    rotation: int = 0
    mirrored: bool = False

    @classmethod
    def from_matrix(cls, matrix: Sequence[int] | bytes | None) -> Orientation:
        """The orientation a display matrix describes (``None``, or a singular matrix: upright).

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
        determinant = a * d - b * c
        if not np.isfinite(determinant) or determinant == 0:
            return cls()
        mirrored = bool(determinant < 0)
        if mirrored:  # the matrix is the mirror (x -> -x) and then a turn: take the mirror back off
            a, b = -a, -b
        quarters = round(float(-np.degrees(np.arctan2(b, a))) / 90.0) % 4  # counter-clockwise
        return cls((0, 90, 180, -90)[quarters], mirrored)

    @property
    def quarters(self) -> int:
        """Counter-clockwise quarter turns, 0 to 3."""
        return (self.rotation // 90) % 4

    @property
    def upright(self) -> bool:
        """Whether frames are shown as stored (nothing to do)."""
        return self.quarters == 0 and not self.mirrored

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The upright ``(H', W', C)`` frame of a stored ``(H, W, C)`` one; ``frame`` itself when upright.

        The turn is a view of ``frame``, copied once into a contiguous array. The decoder turns
        video frames with FFmpeg's filters instead (:meth:`filters`, several times faster).
        """
        if self.upright:
            return frame
        view = frame[:, ::-1] if self.mirrored else frame
        return np.ascontiguousarray(np.rot90(view, self.quarters))

    def filters(self) -> list[tuple[str, str]]:
        """The FFmpeg filters that make a stored frame upright, as ``(name, arguments)``; none when upright.

        The decoder runs them on its own frames (:class:`smm.face.video.VideoFrames`), before the
        conversion to RGB: FFmpeg's transpose is several times faster than a strided copy of an
        RGB array, and moves half the bytes (YUV 4:2:0).
        """
        return list(_FILTERS[(self.quarters, self.mirrored)])

    def size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` of the upright frames of stored ``width x height`` frames."""
        return (height, width) if self.quarters % 2 else (width, height)

    def describe(self) -> str:
        """Words for a log line: ``""`` when upright, else e.g. ``"display rotation -90°, applied"``."""
        if self.upright:
            return ""
        mirror = ", mirrored" if self.mirrored else ""
        return f"display rotation {self.rotation}°{mirror}, applied"


__all__ = ["Orientation"]
