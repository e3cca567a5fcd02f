"""The frame images of one video folder (Aff-Wild2's cropped-aligned layout), with one rule for all readers.

Frame ``n`` is the image ``0000n.jpg`` (``.jpeg`` and ``.png`` too). Files that are not
images (a ``Thumbs.db``, notes) and hidden files are ignored. An image whose name is not a
frame number, or a second image of one frame, is an error naming the file: either would
silently put a prediction or a label on the wrong frame.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def frame_number(path: str | os.PathLike[str]) -> int | None:
    """``00042.jpg`` -> 42; ``None`` for a name that is not a frame number (>= 1)."""
    stem = Path(path).stem
    return int(stem) if stem.isascii() and stem.isdigit() and int(stem) >= 1 else None


def list_frames(folder: str | os.PathLike[str]) -> list[Path]:
    """The frame images of a video folder, in frame order.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or holds no image.
    ValueError
        For an image whose name is not a frame number, or two images of one frame, naming the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"frames folder {folder} does not exist")
    images = [
        p for p in folder.iterdir() if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]
    if not images:
        raise FileNotFoundError(f"frames folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    numbered: dict[int, Path] = {}
    for path in sorted(images):
        number = frame_number(path)
        if number is None:
            raise ValueError(f"{path}: frame images must be named by frame number (00001.jpg, ...)")
        if number in numbered:
            raise ValueError(f"{path}: a second image of frame {number} (also {numbered[number].name})")
        numbered[number] = path
    return [numbered[n] for n in sorted(numbered)]
