"""How many frames a video has: the length every single-task prediction file must match.

Aff-Wild2 splits videos with two people into ``<name>_left`` and ``<name>_right``; both
take their frame count from the video ``<name>.mp4`` (or ``.avi``). Counting needs PyAV
(``pip install "smm-emotionnet[video]"``), whose wheel bundles FFmpeg.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from smm.defaults import VIDEO_SUFFIXES
from smm.formats.text import read_lines

_SIDES = ("_left", "_right")


def video_file(folder: str | os.PathLike[str], video: str) -> Path:
    """The video file of ``video`` in ``folder`` (searched recursively), ``_left``/``_right`` stripped.

    Raises
    ------
    FileNotFoundError
        If no video file, or more than one, has that name.
    """
    stem = video
    for side in _SIDES:
        if stem.endswith(side):
            stem = stem[: -len(side)]
            break
    folder = Path(folder)
    found = sorted(p for p in folder.rglob(f"{stem}.*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(found) != 1:
        what = "no video file" if not found else f"{len(found)} video files ({', '.join(map(str, found))})"
        raise FileNotFoundError(f"{what} named {stem} ({', '.join(VIDEO_SUFFIXES)}) under {folder}, for video {video}")
    return found[0]


def count_video_frames(path: str | os.PathLike[str], *, exact: bool = False) -> int:
    """The number of frames of a video file's first video stream.

    Parameters
    ----------
    path : path-like
    exact : bool, default False
        Count by decoding every frame. By default the container's frame count is used
        when it records one (MP4 does; fast), and frames are decoded only when it does not.

    Raises
    ------
    ImportError
        If PyAV is not installed.
    ValueError
        If the file has no video stream or cannot be decoded, naming the file.
    """
    return cast(int, _frame_count(path, decode=True, exact=exact))  # decoding always gives a count


def recorded_frame_count(path: str | os.PathLike[str]) -> int | None:
    """The frame count a video file's container records, without decoding; ``None`` when it records none
    or the file cannot be read (a cheap estimate, e.g. to share videos between processes)."""
    try:
        return _frame_count(path, decode=False, exact=False)
    except (ImportError, OSError, ValueError):
        return None


def _frame_count(path: str | os.PathLike[str], *, decode: bool, exact: bool) -> int | None:
    try:
        import av
    except ImportError as error:
        raise ImportError('counting video frames needs PyAV: pip install "smm-emotionnet[video]"') from error
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            stream = container.streams.video[0]
            if stream.frames > 0 and not exact:
                return int(stream.frames)
            if not decode:
                return None
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: cannot be decoded as a video ({error})") from None


def annotation_frame_count(path: str | os.PathLike[str]) -> int:
    """The frames of a per-video annotation file: its lines after the header."""
    return max(len(read_lines(path)) - 1, 0)


def frame_counts(
    videos: Sequence[str],
    *,
    video_folder: str | os.PathLike[str] | None = None,
    annotation_folder: str | os.PathLike[str] | None = None,
    offset: int = 0,
) -> dict[str, int]:
    """The frame count of each video named in ``videos``, from its video file or its annotation file.

    Parameters
    ----------
    videos : sequence of str
        Video names as the test lists give them (``<name>_left`` and ``<name>_right`` count
        the frames of ``<name>``).
    video_folder : path-like, optional
        Where the raw videos are (searched recursively, :func:`video_file`); counts by
        :func:`count_video_frames`, plus ``offset``.
    annotation_folder : path-like, optional
        Where per-video annotation files are (``<video>.txt``, searched recursively); counts
        by :func:`annotation_frame_count`.
    offset : int, default 0
        Added to each count from a video file (the published tester wrote OpenCV's count + 1 lines).

    Returns
    -------
    dict
        ``{video: frames}``; empty when neither folder is given.

    Raises
    ------
    ValueError
        When both folders are given.
    FileNotFoundError
        For a folder that does not exist, or a video without its file.
    """
    if video_folder is not None and annotation_folder is not None:
        raise ValueError("give at most one of video_folder and annotation_folder")
    if video_folder is not None:
        if not Path(video_folder).is_dir():
            raise FileNotFoundError(f"video folder {video_folder} does not exist")
        return {v: count_video_frames(video_file(video_folder, v)) + offset for v in videos}
    if annotation_folder is not None:
        folder = Path(annotation_folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"annotation folder {folder} does not exist")
        files = {p.stem: p for p in sorted(folder.rglob("*.txt"))}
        missing = [v for v in videos if v not in files]
        if missing:
            raise FileNotFoundError(f"no annotation file {missing[0]}.txt under {folder}")
        return {v: annotation_frame_count(files[v]) for v in videos}
    return {}
