"""Readers for the official ABAW3 test-set lists.

- Single-task tracks (AU, EXPR, VA): one video name per line, no header. A prediction file
  ``<video>.txt`` is due for every listed video, with one line per frame of the video.
- Multi-task track: a header line, then one image path ``video/00001.jpg`` per line. The
  prediction file has one row per listed image, in the listed order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from smm.data.frames import frame_number
from smm.formats.text import AnnotationError, read_lines


def read_video_list(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read a single-task test list: one video name per line.

    Returns
    -------
    tuple of str
        The video names in the listed order.

    Raises
    ------
    AnnotationError
        Naming file and line: an empty file, a blank line inside it, a name with a comma
        or a path separator (a multi-task list given by mistake), or a name listed twice.
    """
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise AnnotationError(f"{path}: empty file, expected one video name per line")
    seen: dict[str, int] = {}
    for number, line in lines:
        name = line.strip()
        where = f"{path}:{number}"
        if "," in name or "/" in name or "\\" in name:
            raise AnnotationError(
                f"{where}: expected a video name, got {name!r} (a multi-task list? use read_multitask_test_list)"
            )
        if name in seen:
            raise AnnotationError(f"{where}: video {name!r} is listed twice (first on line {seen[name]})")
        seen[name] = number
    return tuple(seen)


@dataclass(frozen=True)
class MultiTaskTestList:
    """The multi-task test list: the images a submission must predict, in order.

    Attributes
    ----------
    images : tuple of str
        The listed paths, e.g. ``video/00001.jpg``, exactly as written.
    videos : tuple of str
        The video of each listed image (the path without its file name).
    frames : numpy.ndarray
        ``(N,)`` int64, the frame number of each listed image (``00001.jpg`` is frame 1).
    """

    images: tuple[str, ...]
    videos: tuple[str, ...]
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def by_video(self) -> dict[str, np.ndarray]:
        """``{video: frame numbers in listed order}``, videos in order of first appearance."""
        videos = np.asarray(self.videos, dtype=object)
        return {video: self.frames[videos == video] for video in dict.fromkeys(self.videos)}


def read_multitask_test_list(path: str | os.PathLike[str]) -> MultiTaskTestList:
    """Read the multi-task test list: a header line, then one ``video/00001.jpg`` per line.

    Raises
    ------
    AnnotationError
        Naming file and line: no header, a blank line inside the file, a line that is not
        ``video/<number>.<ext>``, or an image listed twice.
    """
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise AnnotationError(f"{path}: empty file, expected a header line, then one image path per line")
    if _frame_number(lines[0][1].strip()) is not None:
        raise AnnotationError(f"{path}:1: expected a header line, got an image path {lines[0][1].strip()!r}")
    images, videos, frames = [], [], []
    seen: dict[str, int] = {}
    for number, line in lines[1:]:
        image = line.strip()
        where = f"{path}:{number}"
        frame = _frame_number(image)
        if frame is None:
            raise AnnotationError(f"{where}: expected an image path 'video/00001.jpg', got {image!r}")
        if image in seen:
            raise AnnotationError(f"{where}: image {image!r} is listed twice (first on line {seen[image]})")
        seen[image] = number
        images.append(image)
        videos.append(str(PurePosixPath(image).parent))
        frames.append(frame)
    return MultiTaskTestList(tuple(images), tuple(videos), np.asarray(frames, dtype=np.int64))


def _frame_number(image: str) -> int | None:
    """Frame number of ``video/00001.jpg``; ``None`` if the text is not such a path."""
    if "," in image or "\\" in image:
        return None
    path = PurePosixPath(image)
    if len(path.parts) < 2 or not path.suffix:
        return None
    return frame_number(path)
