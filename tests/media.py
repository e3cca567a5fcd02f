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


def write_video(path: Path, frames: list[np.ndarray], rate: int = 10, *, lossless: bool = False) -> Path:
    """An mpeg4 video of RGB ``frames`` (PyAV); ``lossless``: FFV1 in RGB, whose decoder gives these pixels back."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1" if lossless else "mpeg4", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "bgr0" if lossless else "yuv420p"
        if not lossless:
            stream.options = {"qscale": "2"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path
