"""Photos as their owner sees them: upright (EXIF orientation) and in 8-bit RGB, whatever the file's mode.

Cameras and phones often store a photo's pixels as the sensor read them and record in the EXIF
``Orientation`` tag (values 1-8) how to turn them for display. Every image viewer applies it;
:func:`load_photo` applies it too, before detection, so a face is found where a person sees it
and its box and landmarks are in the upright photo's pixels.

Modes other than 8-bit RGB are converted without losing the picture: 16-bit greyscale
(``I;16``, ``I;16B``, ``I``) is scaled from 0-65535 to 0-255 (not clipped, which turns most
of such a photo white), 32-bit float (``F``) from 0-1 when its values lie there (NaN is 0);
palette, greyscale, CMYK, YCbCr and LAB are converted as Pillow converts them, and transparent
pixels (an alpha band, or a palette's transparent colour) are laid on white (a transparent
PNG's hidden pixels are often black, or garbage). An animated GIF, WebP or PNG is read as its
first frame: a photo, not a video.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: Modes whose values span 0-65535 (16 bits; ``I`` is how Pillow reads 16-bit PNGs and TIFFs).
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def load_photo(image: str | os.PathLike[str] | Image.Image | np.ndarray) -> np.ndarray:
    """One photo as a ``(H, W, 3)`` uint8 RGB array, upright (see the module).

    Parameters
    ----------
    image : path-like, PIL image or numpy.ndarray
        A file Pillow reads; a PIL image (its EXIF orientation is applied too; the image is not
        changed); or an ``(H, W, 3)`` uint8 RGB array, returned as it is (arrays carry no
        orientation).

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    ValueError
        For a file that cannot be read as an image, or an array that is not ``(H, W, 3)`` uint8;
        the message names the file once.
    """
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image {path} does not exist")
        try:
            with Image.open(path) as opened:
                return upright_rgb(opened)
        except (OSError, SyntaxError, Image.DecompressionBombError):
            raise ValueError(f"{path}: cannot be read as an image") from None
    if isinstance(image, Image.Image):
        return upright_rgb(image)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image arrays must be (H, W, 3) uint8 RGB, got {array.dtype} {array.shape}")
    return array


def upright_rgb(image: Image.Image) -> np.ndarray:
    """``image`` (its first frame) turned by its EXIF orientation and converted to 8-bit RGB (see the module)."""
    if image.tell() != 0:  # an animated image left at a later frame
        image.seek(0)
    return to_rgb8(ImageOps.exif_transpose(image))


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Any Pillow mode as a ``(H, W, 3)`` uint8 RGB array, scaled (not clipped) from 16 bits or floats."""
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES:
        grey = _scaled(np.asarray(image), 65535.0)  # v / 257, rounded: 65535 -> 255
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        top = 1.0 if values.min() >= 0.0 and values.max() <= 1.0 else 255.0
        return np.repeat(_scaled(values, top)[:, :, None], 3, axis=2)
    if _transparent(image):
        white = Image.new("RGBA", image.size, "white")
        return np.asarray(Image.alpha_composite(white, image.convert("RGBA")).convert("RGB"))
    if mode == "RGB":  # as it is, without the copy a conversion makes
        return np.asarray(image)
    return np.asarray(image.convert("RGB"))


def _transparent(image: Image.Image) -> bool:
    """Whether ``image`` has an alpha band or a transparent colour (Pillow's ``has_transparency_data``)."""
    return "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info


def _scaled(values: np.ndarray, top: float) -> np.ndarray:
    """``values`` in ``[0, top]`` as uint8 ``[0, 255]``, rounded; values outside are clipped."""
    return np.rint(np.clip(values, 0.0, top) * (255.0 / top)).astype(np.uint8)


__all__ = ["SIXTEEN_BIT_MODES", "load_photo", "to_rgb8", "upright_rgb"]
