"""The one preprocessing of prediction: a face crop to the model's input, built from ``model.data_config``.

Every prediction path (frame folders, photos, videos, the command line) turns a face crop into
the model's input with :func:`preprocess`: timm's evaluation transform of the model's
``data_config`` (resize, centre crop by ``crop_pct`` and ``crop_mode``, normalise), so on the
same crop it gives the numbers that ``timm.data.create_transform(**model.data_config)`` gives.
Crops from the face pipeline are rounded to 8 bits first, like the JPEG frames of Aff-Wild2
that the model is trained on, so a photo's face and the same face saved as a frame image
reach the model identically.

The face pipeline's crops arrive as one ``uint8`` tensor; :meth:`Preprocess.batch` runs the
same steps on all of them at once in torch (the resize with antialiasing on ``uint8``, which
rounds as Pillow does), within one grey level of the per-crop Pillow path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from smm._checks import check_positive
from smm.data.transforms import eval_transform

Crop = Image.Image | np.ndarray | torch.Tensor
#: The weights of Pillow's RGB -> L conversion (ITU-R 601-2 luma), in 1/65536ths as Pillow rounds them.
_LUMA = (19595, 38470, 7471)


class Preprocess:
    """A face crop (PIL image, or ``(H, W, 3)`` uint8 RGB array or tensor) -> ``Tensor[C, H_in, W_in]``.

    Parameters
    ----------
    data_config : mapping
        ``model.data_config``.
    """

    def __init__(self, data_config: Mapping[str, Any]) -> None:
        self.data_config = dict(data_config)
        self._transform: Callable[[Image.Image], torch.Tensor] = eval_transform(self.data_config)
        self._steps = _tensor_steps(self._transform)

    def __call__(self, crop: Crop) -> torch.Tensor:
        if isinstance(crop, torch.Tensor):
            crop = crop.cpu().numpy()
        if isinstance(crop, np.ndarray):
            if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
                raise ValueError(f"crop arrays must be (H, W, 3) uint8 RGB, got {crop.dtype} {crop.shape}")
            crop = Image.fromarray(crop)
        if not isinstance(crop, Image.Image):
            raise TypeError(f"crop must be a PIL image or an (H, W, 3) uint8 array, got {type(crop).__name__}")
        return self._transform(crop)

    def batch(self, crops: torch.Tensor) -> torch.Tensor:
        """Many crops at once: ``Tensor[B, H, W, 3]`` uint8 RGB -> ``Tensor[B, C, H_in, W_in]`` float32.

        The transform's steps run on the whole batch in torch, the resize on ``uint8`` with
        antialiasing, rounded to 8 bits as Pillow rounds: each input is within one grey level
        (``1 / 255 / std``) of ``self(crop)``. A transform with a step torch does not run as Pillow
        does (another filter than bilinear, a ``max_size``, a border crop) takes the crops one by
        one through Pillow.
        """
        if not isinstance(crops, torch.Tensor) or crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != torch.uint8:
            got = f"{crops.dtype} {tuple(crops.shape)}" if isinstance(crops, torch.Tensor) else type(crops).__name__
            raise ValueError(f"crops must be a (B, H, W, 3) uint8 tensor, got {got}")
        if self._steps is None or not len(crops):
            if not len(crops):
                channels, height, width = self.data_config["input_size"]
                return torch.zeros(0, int(channels), int(height), int(width))
            return torch.stack([self(crop) for crop in crops])
        pixels = crops.permute(0, 3, 1, 2)
        if int(self.data_config["input_size"][0]) == 1:
            pixels = _luma(pixels)
        for step in self._steps:
            pixels = step(pixels)
        return pixels

    def __repr__(self) -> str:
        return f"Preprocess({self.data_config})"


def preprocess(data_config: Mapping[str, Any]) -> Preprocess:
    """The preprocessing of a model: ``preprocess(model.data_config)(crop)`` is the model's input for ``crop``."""
    return Preprocess(data_config)


class ModelBatches:
    """Blocks of ``uint8`` face crops -> the model's inputs in batches, each preprocessed at once.

    Iterating yields ``Tensor[batch_size, C, H_in, W_in]`` made by :meth:`Preprocess.batch`;
    the last batch may be smaller, and so may one before crops of another size (a batch holds
    crops of one size; a prediction does not depend on its batch). The crops are regrouped while they are 8-bit (37 KB a
    112 x 112 crop), so each batch of inputs is made once and handed to the model as it is
    (:func:`~smm.inference.core.image_features` takes it without stacking again).

    Parameters
    ----------
    crops : iterable of Tensor[b, H, W, 3]
        ``uint8`` RGB crops in blocks of any size (0 included), consumed lazily, once.
    transform : Preprocess
    batch_size : int
    """

    def __init__(self, crops: Iterable[torch.Tensor], transform: Preprocess, batch_size: int) -> None:
        check_positive(batch_size, "batch_size")
        self.crops, self.transform, self.batch_size = crops, transform, batch_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        pending: list[torch.Tensor] = []
        count = 0
        for block in self.crops:
            if pending and len(block) and block.shape[1:] != pending[0].shape[1:]:  # crops of another size
                yield self.transform.batch(torch.cat(pending))
                pending, count = [], 0
            while len(block):
                take = block[: self.batch_size - count]
                pending.append(take)
                count += len(take)
                block = block[len(take) :]
                if count == self.batch_size:
                    yield self.transform.batch(torch.cat(pending))
                    pending, count = [], 0
        if count:
            yield self.transform.batch(torch.cat(pending))


def _tensor_steps(transform: Any) -> list[Callable[[torch.Tensor], torch.Tensor]] | None:
    """The eval transform's steps as functions of a ``uint8`` batch, or None when one of them is Pillow's only."""
    steps: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for step in getattr(getattr(transform, "transform", None), "transforms", [None]):
        if isinstance(step, transforms.Resize) and step.max_size is None and step.interpolation in _MODES:
            steps.append(_Resize(step.size, _MODES[step.interpolation]))
        elif isinstance(step, transforms.CenterCrop):
            steps.append(step)
        elif type(step).__name__ in ("ToTensor", "MaybeToTensor"):
            steps.append(_Unit())
        elif isinstance(step, transforms.Normalize) and isinstance(steps[-1:][0] if steps else None, _Unit):
            steps[-1] = _Unit(step.mean, step.std)
        else:
            return None
    return steps


#: The resampling filters whose ``uint8`` antialiased kernel in torch rounds as Pillow's does, within one grey
#: level. Bicubic is not among them: upsampling a face crop, torch's and Pillow's differ by 2 on some pixels.
_MODES = {transforms.InterpolationMode.BILINEAR: "bilinear"}


class _Resize:
    """torchvision's ``Resize`` on a ``uint8`` batch with torch's ``uint8`` antialiased kernel (which clips
    between its two passes as Pillow does; torchvision's own tensor path resamples bicubic in float)."""

    def __init__(self, size: int | Sequence[int], mode: str) -> None:
        self.size, self.mode = size, mode

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        height, width = pixels.shape[-2:]
        if isinstance(self.size, int) or len(self.size) == 1:  # the shorter side to this, as torchvision
            short = self.size if isinstance(self.size, int) else self.size[0]
            size = (short, int(short * width / height)) if height <= width else (int(short * height / width), short)
        else:
            size = (int(self.size[0]), int(self.size[1]))
        return F.interpolate(pixels, size, mode=self.mode, align_corners=False, antialias=True)


class _Unit:
    """``uint8`` -> float32 ``x / 255`` (``ToTensor``), then ``(x - mean) / std`` when given: one new tensor."""

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        self.mean, self.std = mean, std

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        out = torch.empty(pixels.shape, dtype=torch.float32, device=pixels.device)
        out.copy_(pixels)  # one pass: the layout (channels-last in, contiguous out) and the type
        if self.mean is None or self.std is None:
            return out.div_(255)
        std = torch.as_tensor(self.std, dtype=torch.float64).view(1, -1, 1, 1)
        mean = torch.as_tensor(self.mean, dtype=torch.float64).view(1, -1, 1, 1)
        return out.mul_((1 / (255 * std)).float()).sub_((mean / std).float())


def _luma(pixels: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` uint8 RGB -> ``(B, 1, H, W)`` uint8 grey, exactly as Pillow's ``convert("L")``."""
    weights = torch.tensor(_LUMA, dtype=torch.int32, device=pixels.device).view(1, 3, 1, 1)
    grey = ((pixels.to(torch.int32) * weights).sum(1, keepdim=True) + 0x8000) >> 16
    return grey.to(torch.uint8)
