"""The published training and evaluation transforms, as documented functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from smm.data.transforms import eval_transform
from smm.models.config import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["eval_transform", "train_transform"]


def train_transform(
    image_size: int = 299,
    *,
    scale: float = 1.02,
    color_jitter: Sequence[float] | None = (0.4, 0.4, 0.4, 0.1),
    color_jitter_p: float = 0.8,
    hflip: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable[[Image.Image], torch.Tensor]:
    """The published training augmentation: PIL face crop -> normalised ``Tensor[3, S, S]``.

    Resize to ``int(scale * image_size)`` square, take a random ``image_size`` crop, apply
    ``ColorJitter(brightness, contrast, saturation, hue)`` with probability
    ``color_jitter_p``, flip horizontally with probability ``hflip``, normalise. The crop
    moves the face by at most 1% of its size, so the facial regions stay where ROI
    attention expects them (timm's ``RandomResizedCrop(scale=(0.08, 1))`` would not).

    Parameters
    ----------
    image_size : int, default 299
    scale : float, default 1.02
        Resize factor before the random crop (>= 1).
    color_jitter : 4 floats or None, default (0.4, 0.4, 0.4, 0.1)
        Brightness, contrast, saturation, hue; ``None`` for none.
    color_jitter_p : float, default 0.8
    hflip : float, default 0.5
        Probability of a horizontal flip.
    mean : sequence of float, optional
        Per-channel mean of images scaled to [0, 1]; default: ImageNet's.
    std : sequence of float, optional
        Per-channel standard deviation; default: ImageNet's.

    Returns
    -------
    callable
        Draws its randomness from torch's global generator, like torchvision.
    """
    from torchvision import transforms

    if scale < 1:
        raise ValueError(f"scale must be >= 1 (resize, then crop), got {scale}")
    for name, value in (("color_jitter_p", color_jitter_p), ("hflip", hflip)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    big = int(image_size * scale)
    steps: list[Callable] = [
        transforms.Lambda(_rgb),
        transforms.Resize([big, big]),
        transforms.RandomCrop([image_size, image_size]),
    ]
    if color_jitter is not None:
        steps.append(transforms.RandomApply([transforms.ColorJitter(*color_jitter)], p=color_jitter_p))
    if hflip > 0:
        steps.append(transforms.RandomHorizontalFlip(hflip))
    steps += [transforms.ToTensor(), transforms.Normalize(mean=list(mean), std=list(std))]
    return transforms.Compose(steps)


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")
