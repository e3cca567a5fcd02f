"""A ``Dataset`` over Aff-Wild2 cropped-aligned frames with labels of all three tasks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from smm.data.annotations import VideoAnnotations, read_annotation_dir
from smm.data.frames import list_frames
from smm.data.transforms import default_transform
from smm.formats.codes import MISSING_LABEL, MISSING_VA


class AffWild2Frames(Dataset):
    """Frames of Aff-Wild2 videos with AU, EXPR and VA targets and masks.

    Frame ``n`` of video ``v`` is the image ``frames_root/v/0000n.jpg`` and is annotated
    by line ``n`` (after the header) of ``v.txt`` in each task's folder. A frame is a
    sample when its image exists and at least one task labels it; missing labels are
    kept as ``-1`` / ``-5`` with a ``False`` mask, so one batch can mix tasks. The
    annotation files are read once, in the constructor.

    Parameters
    ----------
    frames_root : path-like
        Folder of per-video frame folders (``cropped_aligned``).
    au_dir : path-like, optional
        Folders of per-video ``.txt`` files; at least one.
    expr_dir : path-like, optional
        Folders of per-video ``.txt`` files; at least one.
    va_dir : path-like, optional
        Folders of per-video ``.txt`` files; at least one.
    transform : callable, optional
        PIL image -> ``Tensor[3, H, W]``. Default :func:`default_transform` (299x299).
    num_aus : int, default 12
    va_dim : int, default 2

    Items
    -----
    dict with ``image`` ``(3, H, W)``, ``au`` ``(H,)`` float (0/1/-1), ``expr`` int64 (class/-1),
    ``va`` ``(2,)`` float (-5 missing), ``au_mask`` ``(H,)``, ``expr_mask``, ``va_mask`` ``(2,)``
    bool, ``video`` str, ``frame`` int.
    """

    def __init__(
        self,
        frames_root: str | os.PathLike[str],
        *,
        au_dir: str | os.PathLike[str] | None = None,
        expr_dir: str | os.PathLike[str] | None = None,
        va_dir: str | os.PathLike[str] | None = None,
        transform: Callable[[Image.Image], torch.Tensor] | None = None,
        num_aus: int = 12,
        va_dim: int = 2,
    ) -> None:
        self.frames_root = Path(frames_root)
        if not self.frames_root.is_dir():
            raise FileNotFoundError(f"frames_root {self.frames_root} is not a folder")
        tasks = {"AU": au_dir, "EXPR": expr_dir, "VA": va_dir}
        annotations = {task: read_annotation_dir(d, task) for task, d in tasks.items() if d is not None}
        if not annotations:
            raise ValueError("give at least one of au_dir, expr_dir, va_dir")
        if "AU" in annotations:
            for video in annotations["AU"].values():
                if video.labels.shape[1] != num_aus:
                    raise ValueError(
                        f"AU file of {video.video} has {video.labels.shape[1]} columns, expected {num_aus}"
                    )
        self.transform = transform or default_transform()
        self.num_aus, self.va_dim = num_aus, va_dim
        paths, videos, frames, au, expr, va = [], [], [], [], [], []
        for video in sorted(set().union(*annotations.values())):
            folder = self.frames_root / video
            try:
                numbered = [(int(p.stem), p) for p in list_frames(folder)]
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"no frame images (00001.jpg, ...) in {folder}, annotated in {video}.txt"
                ) from None
            for number, path in numbered:
                labels = self._labels(annotations, video, number - 1)
                if labels is None:
                    continue
                paths.append(path)
                videos.append(video)
                frames.append(number)
                au.append(labels[0])
                expr.append(labels[1])
                va.append(labels[2])
        self.paths, self.videos = paths, videos
        self.frames = np.asarray(frames, dtype=np.int64)
        self.au = np.asarray(au, dtype=np.float32).reshape(-1, num_aus)
        self.expr = np.asarray(expr, dtype=np.int64)
        self.va = np.asarray(va, dtype=np.float32).reshape(-1, va_dim)

    def _labels(
        self, annotations: dict[str, dict[str, VideoAnnotations]], video: str, row: int
    ) -> tuple[np.ndarray, int, np.ndarray] | None:
        au = np.full(self.num_aus, MISSING_LABEL, dtype=np.float32)
        expr = MISSING_LABEL
        va = np.full(self.va_dim, MISSING_VA, dtype=np.float32)
        found = False
        if (file := annotations.get("AU", {}).get(video)) is not None and row < file.num_frames:
            au = file.labels[row].astype(np.float32)
            found |= bool((au != MISSING_LABEL).any())
        if (file := annotations.get("EXPR", {}).get(video)) is not None and row < file.num_frames:
            expr = int(file.labels[row, 0])
            found |= expr != MISSING_LABEL
        if (file := annotations.get("VA", {}).get(video)) is not None and row < file.num_frames:
            va = file.labels[row].astype(np.float32)
            found |= bool((va != MISSING_VA).any())
        return (au, expr, va) if found else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, object]:
        with Image.open(self.paths[index]) as image:
            tensor = self.transform(image)
        au = torch.from_numpy(self.au[index])
        expr = torch.tensor(self.expr[index])
        va = torch.from_numpy(self.va[index])
        return {
            "image": tensor,
            "au": au,
            "expr": expr,
            "va": va,
            "au_mask": au != MISSING_LABEL,
            "expr_mask": expr != MISSING_LABEL,
            "va_mask": va != MISSING_VA,
            "video": self.videos[index],
            "frame": int(self.frames[index]),
        }
