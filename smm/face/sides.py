"""Aff-Wild2's convention for videos of two people: one file per side, ``<video>_left`` and ``<video>_right``.

A video in which no frame shows two faces at once is one position, ``""`` (``<video>``). In a
video that does, each frame's faces are placed by the centre of their box: with two or more
faces, the leftmost is ``left`` and the rightmost ``right`` (faces between them are in the
per-frame table only); a lone face belongs to the half of the frame its centre is in. The
split is by position, as the dataset's, not by identity: ``face_id`` is the identity.
"""

from __future__ import annotations

import numpy as np

SIDES = ("left", "right")


def side_rows(frame: np.ndarray, face_id: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The rows of each position, in frame order, at most one per frame.

    Parameters
    ----------
    frame : numpy.ndarray
        ``(R,)`` frame of each row.
    face_id : numpy.ndarray
        ``(R,)`` face of each row, ``-1`` for a row without a face.
    box : numpy.ndarray
        ``(R, 4)`` box of each row.
    size : tuple of int
        ``(width, height)`` of the frames.

    Returns
    -------
    dict
        ``{"": rows}`` when no frame has two faces, else ``{"left": rows, "right": rows}``.
    """
    faces = np.flatnonzero(np.asarray(face_id) >= 0)
    frames = np.asarray(frame)[faces]
    numbers, counts = np.unique(frames, return_counts=True)
    if not len(counts) or counts.max() < 2:
        return {"": faces}
    centre = (np.asarray(box)[faces, 0] + np.asarray(box)[faces, 2]) / 2
    left, right = [], []
    for number in numbers:
        here = faces[frames == number]
        order = here[np.argsort(centre[frames == number], kind="stable")]
        if len(order) >= 2:
            left.append(order[0])
            right.append(order[-1])
        elif centre[frames == number][0] < size[0] / 2:
            left.append(order[0])
        else:
            right.append(order[0])
    return {"left": np.asarray(left, np.int64), "right": np.asarray(right, np.int64)}


__all__ = ["SIDES", "side_rows"]
