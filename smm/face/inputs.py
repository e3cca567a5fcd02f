"""Raw inputs of a prediction run: which paths are photos and which videos, and the files they write.

``predict --input`` and :func:`smm.runs.predict_inputs` take any mix of photos, videos and
folders of photos. :func:`plan_inputs` tells them apart by suffix
(:data:`~smm.defaults.PHOTO_SUFFIXES`, :data:`~smm.defaults.VIDEO_SUFFIXES`,
:func:`sort_inputs`) and refuses inputs that would write the same file
(:func:`check_output_names`), before anything runs. Each video writes ``<stem>.csv`` (and, for
the challenge files, ``<stem>.txt`` per track and side); all photos together write ``images.csv``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from smm.defaults import PHOTO_SUFFIXES, VIDEO_SUFFIXES

#: The one CSV of all the photos of a run.
PHOTOS_CSV = "images.csv"


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
        outputs = [f"{video.stem}.csv"]
        if abaw:
            outputs += [f"{video.stem}{side}.txt" for side in ("", "_left", "_right")]
        for output in outputs:
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


__all__ = ["PHOTOS_CSV", "InputPlan", "check_output_names", "photos_key", "plan_inputs", "sort_inputs"]
