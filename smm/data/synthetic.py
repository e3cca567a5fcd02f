"""A small synthetic dataset in the Aff-Wild2 layout, for demos and tests.

Frames are crops of the photographs that scikit-learn ships
(``sklearn.datasets.load_sample_images``; random textures when scikit-learn is not
installed). Their labels are a fixed function of the pixels, so a model can learn them:

- AU h: the mean brightness of cell h of a 4x3 grid is above that cell's median
  over the dataset;
- expression: the octile of the frame's mean red-minus-blue;
- valence / arousal: the frame's mean brightness and contrast, scaled to [-1, 1].

Each video is annotated for one or more tasks, some frames are left unlabelled
(-1 / -5) and a few annotated frames have no image, as in the real data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from smm.formats.codes import TASK_FOLDERS
from smm.models.config import ABAW3_AU_NAMES, ABAW3_EXPRESSION_NAMES


@dataclass(frozen=True)
class SyntheticAffWild2:
    """Paths of a generated dataset.

    Attributes
    ----------
    root : Path
    frames : Path
        ``root/cropped_aligned``: one folder of ``00001.jpg``... per video.
    annotations : dict of str to dict of str to Path
        ``annotations[task][split]``: folder of per-video ``.txt`` files; ``split`` is
        ``"Train_Set"`` or ``"Validation_Set"``.
    """

    root: Path
    frames: Path
    annotations: dict[str, dict[str, Path]]


def _source_images(rng: np.random.Generator) -> list[np.ndarray]:
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        base = rng.random((8, 8, 3))
        texture = np.kron(base, np.ones((60, 60, 1))) + 0.2 * rng.random((480, 480, 3))
        return [(np.clip(texture, 0, 1) * 255).astype(np.uint8)]
    return list(load_sample_images().images)


def _labels(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gray = frames.mean(-1)  # (N, S, S)
    n, s, _ = gray.shape
    cells = gray[:, : s // 4 * 4, : s // 3 * 3].reshape(n, 4, s // 4, 3, s // 3).mean((2, 4)).reshape(n, 12)
    au = (cells > np.median(cells, 0)).astype(np.int64)
    warmth = (frames[..., 0].astype(np.float64) - frames[..., 2]).mean((1, 2))
    expr = np.searchsorted(np.quantile(warmth, np.linspace(0, 1, 9)[1:-1]), warmth).astype(np.int64)
    brightness, contrast = gray.mean((1, 2)), gray.std((1, 2))

    def scale(v: np.ndarray) -> np.ndarray:
        return (2 * (v - v.min()) / max(np.ptp(v), 1e-6) - 1).astype(np.float32)

    return au, expr, np.stack([scale(brightness), scale(contrast)], 1)


def make_synthetic_affwild2(
    root: str | os.PathLike[str],
    *,
    videos: int = 6,
    frames_per_video: int = 40,
    image_size: int = 64,
    validation_videos: int = 2,
    seed: int = 0,
) -> SyntheticAffWild2:
    """Write a synthetic Aff-Wild2-style dataset under ``root`` and return its paths.

    Parameters
    ----------
    root : path-like
        Created if needed.
    videos : int, default 6
        Number of videos; the last ``validation_videos`` go to ``Validation_Set``.
    frames_per_video : int, default 40
    image_size : int, default 64
        Side of the square JPEG frames.
    validation_videos : int, default 2
    seed : int, default 0
        Everything is a deterministic function of the seed.
    """
    if videos <= validation_videos or validation_videos < 1:
        raise ValueError(f"need 1 <= validation_videos < videos, got {validation_videos} and {videos}")
    rng = np.random.default_rng(seed)
    root = Path(root)
    sources = _source_images(rng)
    crops = []
    for _ in range(videos * frames_per_video):
        source = sources[rng.integers(len(sources))]
        side = int(rng.integers(image_size, min(source.shape[:2]) // 2))
        top = int(rng.integers(0, source.shape[0] - side))
        left = int(rng.integers(0, source.shape[1] - side))
        patch = Image.fromarray(source[top : top + side, left : left + side]).resize((image_size, image_size))
        crops.append(np.asarray(patch))
    frames = np.stack(crops)
    au, expr, va = _labels(frames)

    paths = SyntheticAffWild2(root, root / "cropped_aligned", {t: {} for t in TASK_FOLDERS})
    for task, folder in TASK_FOLDERS.items():
        for split in ("Train_Set", "Validation_Set"):
            directory = root / "annotations" / folder / split
            directory.mkdir(parents=True, exist_ok=True)
            paths.annotations[task][split] = directory
    for v in range(videos):
        name = f"video{v + 1:03d}"
        split = "Validation_Set" if v >= videos - validation_videos else "Train_Set"
        rows = slice(v * frames_per_video, (v + 1) * frames_per_video)
        folder = paths.frames / name
        folder.mkdir(parents=True, exist_ok=True)
        dropped = set(rng.choice(frames_per_video, size=max(1, frames_per_video // 20), replace=False).tolist())
        for i, image in enumerate(frames[rows]):
            if i not in dropped:  # an annotated frame without an image, as in Aff-Wild2
                Image.fromarray(image).save(folder / f"{i + 1:05d}.jpg", quality=95)
        # Validation videos carry every task; with three or more training videos, each
        # training video carries two of the three, so every task still has training data.
        tasks = list(TASK_FOLDERS)
        if split == "Train_Set" and videos - validation_videos >= 3:
            tasks.remove(tasks[v % 3])
        unlabelled = rng.random(frames_per_video) < 0.1
        if "AU" in tasks:
            labels = np.where(unlabelled[:, None], -1, au[rows])
            _write(paths.annotations["AU"][split] / f"{name}.txt", ABAW3_AU_NAMES, labels, "{:d}")
        if "EXPR" in tasks:
            labels = np.where(unlabelled, -1, expr[rows])[:, None]
            _write(paths.annotations["EXPR"][split] / f"{name}.txt", ABAW3_EXPRESSION_NAMES, labels, "{:d}")
        if "VA" in tasks:
            labels = np.where(unlabelled[:, None], -5.0, va[rows])
            _write(paths.annotations["VA"][split] / f"{name}.txt", ("valence", "arousal"), labels, "{:.4f}")
    return paths


def _write(path: Path, names: tuple[str, ...], rows: np.ndarray, fmt: str) -> None:
    lines = [",".join(names)] + [",".join(fmt.format(v.item()) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
