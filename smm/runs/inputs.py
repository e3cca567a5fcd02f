"""Raw inputs of a prediction run: which paths are photos and which videos, and the files they write.

``predict --input`` and :func:`smm.runs.predict_inputs` take any mix of photos, videos and
folders of photos. :func:`plan_inputs` tells them apart by suffix
(:data:`~smm.defaults.PHOTO_SUFFIXES`, :data:`~smm.defaults.VIDEO_SUFFIXES`,
:func:`sort_inputs`) and refuses inputs that would write the same file
(:func:`check_output_names`), before anything runs. What each input writes is decided here
once, by the functions the writers call too: each video writes ``<stem>.csv``
(:func:`csv_name`), with ``--overlay`` ``<stem>.overlay.mp4`` (:func:`overlay_name`), and for
the challenge files ``<TRACK>/<stem>.txt`` per side (:func:`abaw_name`); all photos together
write ``images.csv`` (:data:`PHOTOS_CSV`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from smm.defaults import PHOTO_SUFFIXES, VIDEO_SUFFIXES
from smm.face.sides import SIDES

#: The one CSV of all the photos of a run.
PHOTOS_CSV = "images.csv"
#: What ends the name of a video's annotated copy (``predict --overlay``): ``clip.overlay.mp4``.
OVERLAY_SUFFIX = ".overlay.mp4"
#: The positions a video's challenge files are written for: the one face, or each side
#: (:data:`smm.face.sides.SIDES`, :attr:`smm.inference.VideoFeatures.sides`).
POSITIONS = ("", *SIDES)


def csv_name(video: Path) -> str:
    """The name of a video's CSV: ``clip.mp4`` -> ``clip.csv``."""
    return f"{video.stem}.csv"


def overlay_name(video: Path) -> str:
    """The name of a video's annotated copy: ``clip.mp4`` -> ``clip.overlay.mp4``."""
    return f"{video.stem}{OVERLAY_SUFFIX}"


def abaw_name(video: Path, side: str = "") -> str:
    """The name (without ``.txt``) of a video's challenge files for a side: ``clip``, ``clip_left``, ``clip_right``."""
    if side not in POSITIONS:
        raise ValueError(f"side must be one of {POSITIONS}, got {side!r}")
    return f"{video.stem}_{side}" if side else video.stem


def output_names(video: Path, *, abaw: bool) -> list[str]:
    """Every name a video may write, for the clash check (its overlay's name clashes exactly when its CSV's does)."""
    return [csv_name(video)] + [f"{abaw_name(video, side)}.txt" for side in POSITIONS if abaw]


@dataclass(frozen=True)
class InputPlan:
    """The photos and videos of a run, checked: they exist, and no two write the same file.

    Attributes
    ----------
    photos : tuple of Path
    videos : tuple of Path
    abaw : bool
        Whether the names of the challenge files were checked too (a run that writes them).
    """

    photos: tuple[Path, ...]
    videos: tuple[Path, ...]
    abaw: bool = False


def plan_inputs(inputs: Sequence[str | os.PathLike[str]], *, abaw: bool = False) -> InputPlan:
    """Sort ``inputs`` into photos and videos (:func:`sort_inputs`) and check their outputs' names.

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`sort_inputs` and :func:`check_output_names`.
    """
    photos, videos = sort_inputs(inputs)
    check_output_names(videos, bool(photos), abaw=abaw)
    return InputPlan(tuple(photos), tuple(videos), abaw)


def sort_inputs(inputs: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """The photos and the videos of ``inputs``: files by suffix, each folder's photos sorted by name.

    A folder's photos are its files with a photo's suffix (not its subfolders, which are not read).

    Returns
    -------
    (list of Path, list of Path)
        Photos and videos, in the order given.

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    ValueError
        For a file that is neither, or when there is no photo or video at all.
    """
    photos: list[Path] = []
    videos: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            photos += sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            videos.append(path)
        elif path.suffix.lower() in PHOTO_SUFFIXES:
            photos.append(path)
        elif not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        else:
            raise ValueError(
                f"{path}: not a photo ({', '.join(PHOTO_SUFFIXES)}) or video ({', '.join(VIDEO_SUFFIXES)})"
            )
    if not photos and not videos:
        raise ValueError("inputs holds no photo or video")
    return photos, videos


def check_output_names(videos: Sequence[Path], photos: bool, *, abaw: bool) -> None:
    """Refuse, in one line, inputs that would write the same output file.

    Raises
    ------
    ValueError
        Naming the two inputs and the file.
    """
    names: dict[str, list[str]] = {}
    for video in videos:
        for output in output_names(video, abaw=abaw):
            names.setdefault(output, []).append(str(video))
    if photos:
        names.setdefault(PHOTOS_CSV, []).append("the photos")
    clashes = {name: sources for name, sources in names.items() if len(sources) > 1}
    if clashes:
        name, sources = next(iter(clashes.items()))
        raise ValueError(
            f"inputs: {' and '.join(sources)} would both write {name}; rename one or predict them in separate runs"
        )


def photos_key(photos: Sequence[Path]) -> str:
    """One key for all the photos (they make one output, ``images.csv``): it changes when any of them does."""
    digest = hashlib.sha256()
    for photo in photos:
        stat = photo.stat() if photo.exists() else None
        digest.update(f"{photo.resolve()}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    return f"photos:{digest.hexdigest()[:24]}"


__all__ = [
    "OVERLAY_SUFFIX",
    "PHOTOS_CSV",
    "POSITIONS",
    "InputPlan",
    "abaw_name",
    "check_output_names",
    "csv_name",
    "output_names",
    "overlay_name",
    "photos_key",
    "plan_inputs",
    "sort_inputs",
]
