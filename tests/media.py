"""Generated test media with known truth: faces placed by known transforms, in frames of any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """The 2 x 3 matrix of ``p -> scale * R(angle) p + shift`` (pixel coordinates, y down)."""
    angle = np.deg2rad(angle_deg)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.concatenate([linear, np.asarray(shift, np.float64)[:, None]], 1)


def place(image: np.ndarray, transform: np.ndarray, size: tuple[int, int], fill: int = 90) -> np.ndarray:
    """``image`` moved by ``transform`` (source pixel -> frame pixel) into a ``size`` = (width, height) frame."""
    inverse = np.linalg.inv(np.vstack([transform, [0, 0, 1]]))[:2]
    # PIL's affine maps each output pixel centre to an input point; its coefficients are the
    # inverse transform in pixel-centre coordinates (centres at k + 0.5 on both sides).
    a, b, c = inverse[0]
    d, e, f = inverse[1]
    c = c + 0.5 * (a + b) - 0.5
    f = f + 0.5 * (d + e) - 0.5
    canvas = Image.new("RGB", size, (fill,) * 3)
    moved = Image.fromarray(image).transform(size, Image.AFFINE, (a, b, c, d, e, f), resample=Image.BILINEAR)
    mask = Image.fromarray(np.full(image.shape[:2], 255, np.uint8)).transform(
        size, Image.AFFINE, (a, b, c, d, e, f), resample=Image.BILINEAR
    )
    canvas.paste(moved, (0, 0), mask)
    return np.asarray(canvas)


def moved_points(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points through a 2 x 3 transform."""
    return points @ transform[:, :2].T + transform[:, 2]


def interocular_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean landmark distance over the distance between the true eyes (the usual normalised error)."""
    return float(np.linalg.norm(found - truth, axis=-1).mean() / np.linalg.norm(truth[1] - truth[0]))


def write_video(
    path: Path,
    frames: list[np.ndarray],
    rate: int = 10,
    *,
    lossless: bool = False,
    rotation: int | None = None,
    matrix: list[int] | None = None,
    faststart: bool = False,
    times: list[float] | None = None,
) -> Path:
    """An mpeg4 video of RGB ``frames`` (PyAV); ``lossless``: FFV1 in RGB, whose decoder gives these pixels back.

    ``rotation`` (PyAV's ``set_display_rotation``, FFmpeg's counter-clockwise degrees) or ``matrix`` (nine
    integers, FFmpeg's display matrix) is stored in the container for players to apply; ``faststart`` puts the
    index at the front of an mp4, so that a truncated file still opens; ``times`` (seconds) give each frame its
    own timestamp (a variable frame rate), in milliseconds.
    """
    from fractions import Fraction

    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("ffv1" if lossless else "mpeg4", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "bgr0" if lossless else "yuv420p"
        if not lossless:
            stream.options = {"qscale": "2"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if matrix is not None:
            stream.set_display_matrix(matrix)
        if times is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for k, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if times is not None:
                picture.pts, picture.time_base = round(times[k] * 1000), Fraction(1, 1000)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def write_png16(path: Path, values: np.ndarray) -> Path:
    """A 16-bit PNG, greyscale ``(H, W)`` or RGB ``(H, W, 3)``, written byte by byte (Pillow writes no 16-bit RGB)."""
    import struct
    import zlib

    height, width = values.shape[:2]
    colour = 2 if values.ndim == 3 else 0
    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def face_clips(folder: Path, count: int, frames: int = 4) -> list[Path]:
    """``count`` short videos of a face (scikit-image's astronaut) moving right, each one frame longer than the last."""
    import pytest

    skimage_data = pytest.importorskip("skimage.data")
    head = Image.fromarray(skimage_data.astronaut()[20:260, 120:340]).resize((110, 120))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        images = []
        for t in range(frames + k):
            canvas = Image.new("RGB", (320, 240), (90, 90, 90))
            canvas.paste(head, (40 + 6 * t + 10 * k, 50))
            images.append(np.asarray(canvas))
        paths.append(write_video(folder / f"clip{k}.mp4", images))
    return paths


def frames_root(root: Path) -> Path:
    """An Aff-Wild2-style cropped-aligned root with gaps: vidA frames 1, 2, 4; vidB_left 2, 3; vidC 5 (32 px noise)."""
    rng = np.random.default_rng(1)
    present = {"vidA": (1, 2, 4), "vidB_left": (2, 3), "vidC": (5,)}
    for video, frames in present.items():
        (root / video).mkdir(parents=True)
        for n in frames:
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / video / f"{n:05d}.jpg")
    return root
