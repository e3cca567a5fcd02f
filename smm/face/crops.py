"""Aff-Wild2-style cropped-aligned frames from raw videos: ``<video>/00001.jpg``, one 112 x 112 face per frame.

The crops are the prediction pipeline's own (:class:`~smm.face.video.FaceFollower`), so
``predict --frames-root`` on them sees, bit for bit, what ``predict --input`` on the video
sees (up to the JPEG encoding; ``ext="png"`` is lossless). Frames are numbered from 1, as in
the dataset's download; a frame without a face has no image, as there. A video in which two
faces meet is split by position into ``<video>_left`` and ``<video>_right``
(:mod:`smm.face.sides`).

Nothing is half-written: a video's crops go to a hidden staging folder in ``out`` and are
moved into place when the video is done; an existing folder is never overwritten.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from smm.defaults import DEFAULT_FACES, DETECT_EVERY, DETECT_SIZE
from smm.face.detector import FaceDetector
from smm.face.sides import side_rows
from smm.face.video import (
    FOLLOW_CHUNK,
    READ_AHEAD,
    FaceChoice,
    FaceFollower,
    frame_chunks,
    open_video,
)

EXTENSIONS = ("jpg", "png")


@dataclass(frozen=True)
class AlignedVideo:
    """What :func:`write_aligned_frames` wrote for one video.

    Attributes
    ----------
    folders : dict
        ``{name: frames written}``, ``name`` being ``<video>``, or ``<video>_left`` and
        ``<video>_right``.
    frames : int
        Frames decoded.
    faces : int
        Faces found over all frames.
    tracks : int
        Distinct faces (track ids).
    """

    folders: dict[str, int]
    frames: int
    faces: int
    tracks: int


def write_aligned_frames(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    detector: FaceDetector,
    *,
    name: str | None = None,
    detect_every: int = DETECT_EVERY,
    detect_size: int | None = DETECT_SIZE,
    faces: FaceChoice = DEFAULT_FACES,
    ext: str = "jpg",
    quality: int = 95,
    chunk: int = FOLLOW_CHUNK,
) -> AlignedVideo:
    """Write the aligned face crops of one video as ``out/<name>[_left|_right]/00001.<ext>``.

    Parameters
    ----------
    video : path-like
    out : path-like
        The ``cropped_aligned`` folder; created if needed.
    detector : smm.face.FaceDetector
    name : str, optional
        The video's name; default the file's stem.
    detect_every : int, default 10
    detect_size : int or None, default 480
        See :class:`~smm.face.FaceFollower`.
    faces : {"all", "largest"}, default "all"
        ``"largest"`` writes one folder, the followed largest face.
    ext : {"jpg", "png"}, default "jpg"
    quality : int, default 95
        JPEG quality (1-95).
    chunk : int, default 4
        Frames followed and aligned together.

    Raises
    ------
    FileExistsError
        When a folder this video would write already exists (nothing is written then).
    ValueError
        For a file FFmpeg cannot read, or a bad option.
    """
    if ext not in EXTENSIONS:
        raise ValueError(f"ext must be one of {', '.join(EXTENSIONS)}, got {ext!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an integer in [1, 95], got {quality!r}")
    video, out = Path(video), Path(out)
    name = name or video.stem
    clashes = [p for p in (out / name, out / f"{name}_left", out / f"{name}_right") if p.exists()]
    if clashes:
        raise FileExistsError(f"{clashes[0]} already exists; remove it or choose another --out")
    follower = FaceFollower(detector, detect_every=detect_every, faces=faces, detect_size=detect_size)
    staging = out / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows: list[tuple[int, int, np.ndarray]] = []  # frame, face id, box
    try:
        with open_video(video, ahead=READ_AHEAD) as (decoded, _):
            for part in frame_chunks(decoded, chunk):
                found = follower.chunk(part)
                with_face = np.flatnonzero(found.face_id >= 0)
                for crop, row in zip(found.crops.numpy(), with_face, strict=True):
                    frame, face_id = int(found.frame[row]), int(found.face_id[row])
                    target = staging / str(face_id) / f"{frame:05d}.{ext}"
                    target.parent.mkdir(exist_ok=True)
                    _save(crop, target, ext, quality)
                    rows.append((frame, face_id, found.box[row]))
        folders = _place(staging, out, name, rows, follower.size or (0, 0), ext)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AlignedVideo(folders, follower.frames, len(rows), len({face_id for _, face_id, _ in rows}))


@dataclass(frozen=True)
class AlignResult:
    """One video of :func:`align_videos`: what was written, or why nothing was, and how long it took."""

    video: Path
    done: AlignedVideo | None
    error: str
    seconds: float


def align_videos(
    videos: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], detector: FaceDetector, **options: Any
) -> Iterator[AlignResult]:
    """:func:`write_aligned_frames` for each video, yielded as each is done; one that fails does not stop the others.

    The videos are checked when this is called; they are aligned as the result is iterated.

    Parameters
    ----------
    videos : sequence of path-like
        Video files; no two may have one name (they would write one folder).
    out, detector, **options
        As for :func:`write_aligned_frames`.

    Raises
    ------
    FileNotFoundError, ValueError
        Before any video is read: a video that does not exist, or two with one name.
    """
    paths = [Path(video) for video in videos]
    stems: dict[str, list[str]] = {}
    for video in paths:
        stems.setdefault(video.stem, []).append(str(video))
        if not video.is_file():
            raise FileNotFoundError(f"{video} does not exist")
    clash = next((names for names in stems.values() if len(names) > 1), None)
    if clash:
        raise ValueError(f"{' and '.join(clash)} would both write {Path(clash[0]).stem}/; align them separately")
    return _aligned(paths, out, detector, options)


def _aligned(
    paths: list[Path], out: str | os.PathLike[str], detector: FaceDetector, options: dict[str, Any]
) -> Iterator[AlignResult]:
    for video in paths:
        began = time.perf_counter()
        try:
            done = write_aligned_frames(video, out, detector, **options)
        except (OSError, ValueError) as error:
            yield AlignResult(video, None, " ".join(str(error).split()), time.perf_counter() - began)
            continue
        yield AlignResult(video, done, "", time.perf_counter() - began)


def _place(
    staging: Path, out: Path, name: str, rows: list[tuple[int, int, np.ndarray]], size: tuple[int, int], ext: str
) -> dict[str, int]:
    """Move the staged crops into their side folders; ``{folder name: frames}``."""
    if not rows:
        return {}
    frame = np.asarray([r[0] for r in rows])
    face_id = np.asarray([r[1] for r in rows])
    box = np.stack([r[2] for r in rows])
    folders = {}
    for side, picked in side_rows(frame, face_id, box, size).items():
        folder = out / (f"{name}_{side}" if side else name)
        ready = staging / f"{side or 'one'}.ready"
        ready.mkdir()
        for row in picked:
            (staging / str(face_id[row]) / f"{frame[row]:05d}.{ext}").rename(ready / f"{frame[row]:05d}.{ext}")
        folders[folder.name] = len(picked)
        ready.rename(folder)
    return folders


def _save(crop: np.ndarray, path: Path, ext: str, quality: int) -> None:
    image = Image.fromarray(crop)
    if ext == "jpg":
        image.save(path, format="JPEG", quality=quality)
    else:
        image.save(path, format="PNG")


__all__ = ["EXTENSIONS", "AlignResult", "AlignedVideo", "align_videos", "write_aligned_frames"]
