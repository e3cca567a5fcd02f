"""MTCNN's cascade, our own: three small networks, their weights in the wheel, the stages batched.

Zhang et al.'s MTCNN (2016) finds faces in three stages: P-Net slides over an image pyramid
and proposes boxes, R-Net re-scores and regresses each proposal from a 24 x 24 crop, O-Net
does the same from a 48 x 48 crop and adds five landmarks. The weights
(``mtcnn.safetensors``, 2 MB, read from facenet-pytorch's wheel by
``tools/mtcnn_weights.py``; notices in ``MTCNN_NOTICE``) are those facenet-pytorch ships, and
this module finds what facenet-pytorch's ``MTCNN.detect`` finds, box for box and landmark for
landmark (tested against it), without it or torchvision:

- every resampling (each pyramid level and each candidate's crop) is an area average, as
  published (:func:`resample`, :func:`crops`); the networks run channels_last;
- non-maximum suppression is our own (:func:`nms`), with the overlap rules of the original
  (areas without ``+ 1`` in the first two stages, with it and over the smaller box in the last);
- each box rule (:func:`proposals`, :func:`regress`, :func:`square`, :func:`crop_windows`) is a
  small function, tested by value against a re-implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from smm.face.align import pixels_tensor

#: The three networks' weights (float32, safetensors), shipped in the wheel.
WEIGHTS = Path(__file__).with_name("mtcnn.safetensors")
#: Pyramid step: each level is this fraction of the one above (as published).
SCALE_FACTOR = 0.709
#: Side of P-Net's window at a level's scale; a face of ``min_face_size`` fills it at the first level.
CELL = 12
#: The ways a pyramid level can be resampled (:class:`Cascade`'s ``pyramid``).
PYRAMIDS = ("area", "antialiased")
#: P-Net's output stride on its input.
STRIDE = 2


class PNet(nn.Module):
    """Fully convolutional proposal network: 12 x 12 windows -> (box offsets, face probability)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), 1)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """Feature maps flattened in the original (TensorFlow) order: width, height, channels."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class RNet(nn.Module):
    """Refinement network: a 24 x 24 crop -> (box offsets, face probability)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_flat(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), 1)


class ONet(nn.Module):
    """Output network: a 48 x 48 crop -> (box offsets, landmarks, face probability)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_flat(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), 1)


class Networks(NamedTuple):
    """MTCNN's three networks, loaded and in eval mode."""

    pnet: PNet
    rnet: RNet
    onet: ONet


def load_networks(device: torch.device | str = "cpu") -> Networks:
    """The three networks with the shipped weights (:data:`WEIGHTS`), on ``device``."""
    from safetensors.torch import load_file

    tensors = load_file(str(WEIGHTS))
    nets = Networks(PNet(), RNet(), ONet())
    for name, net in zip(Networks._fields, nets, strict=True):
        own = {key.split(".", 1)[1]: value for key, value in tensors.items() if key.startswith(f"{name}.")}
        net.load_state_dict(own)
        # channels_last: the convolutions of so few channels run about twice as fast on CPUs so.
        net.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
    return nets


def scales(height: int, width: int, min_face_size: int, factor: float = SCALE_FACTOR) -> list[float]:
    """The pyramid's scales: a face of ``min_face_size`` fills P-Net's 12 px window at the first, each next one
    ``factor`` of it, while the shorter side at that scale is still at least 12 px."""
    first = CELL / min_face_size
    shorter = min(height, width) * first
    out = []
    scale = first
    while shorter >= CELL:
        out.append(scale)
        scale *= factor
        shorter *= factor
    return out


def _normalised(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


def proposals(
    offsets: torch.Tensor, probability: torch.Tensor, scale: float, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """P-Net's windows with a face probability of at least ``threshold``, in the frame's pixels.

    Window (y, x) of a level at ``scale`` covers ``floor((2x + 1) / scale) .. floor((2x + 12) / scale)``.

    Returns
    -------
    (image index (N,), boxes (N, 4), scores (N,), offsets (N, 4))
    """
    found = (probability >= threshold).nonzero()
    image, y, x = found.unbind(1)
    corner = torch.stack([x, y, x, y], 1).to(offsets.dtype)
    start = torch.tensor([1, 1, CELL, CELL], dtype=offsets.dtype, device=offsets.device)
    boxes = torch.floor((STRIDE * corner + start) / scale)
    return image, boxes, probability[image, y, x], offsets[image, :, y, x]


def regress(boxes: torch.Tensor, offsets: torch.Tensor, *, plus_one: bool) -> torch.Tensor:
    """Boxes moved by their predicted offsets, in units of the box's width and height (``+ 1`` in the later stages)."""
    extra = 1.0 if plus_one else 0.0
    size = torch.stack([boxes[:, 2] - boxes[:, 0] + extra, boxes[:, 3] - boxes[:, 1] + extra], 1).repeat(1, 2)
    return boxes + offsets * size


def square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes made square about their centre, their side the longer of width and height."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x0 = boxes[:, 0] + width * 0.5 - side * 0.5
    y0 = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.stack([x0, y0, x0 + side, y0 + side], 1)


def crop_windows(boxes: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, ...]:
    """The pixels a stage reads for each box: rows ``y0 - 1 .. y1 - 1`` and columns likewise (integer parts,
    truncated toward zero), clipped to the frame.

    Returns
    -------
    tuple of Tensor
        ``top``, ``left``, ``rows``, ``cols``, int64 ``(N,)`` each; ``rows`` or ``cols`` is 0 or less for a
        box wholly outside the frame.
    """
    x0, y0, x1, y1 = boxes.trunc().to(torch.int64).unbind(1)
    x0, y0 = x0.clamp(min=1), y0.clamp(min=1)
    x1, y1 = x1.clamp(max=width), y1.clamp(max=height)
    return y0 - 1, x0 - 1, y1 - y0 + 1, x1 - x0 + 1


def nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float, *, smaller: bool = False
) -> np.ndarray:
    """Greedy non-maximum suppression within each group: the indices kept, best first.

    A box is dropped when it overlaps a better-scored kept box of its group by more than
    ``threshold``: intersection over union of their areas ``(x1 - x0) (y1 - y0)``, or, with
    ``smaller``, intersection over the smaller area with ``+ 1`` pixel spans (the original's
    last stage).
    """
    kept: list[int] = []
    extra = 1.0 if smaller else 0.0
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        order = members[np.argsort(-scores[members], kind="stable")]
        b = boxes[order].astype(np.float64)
        area = (b[:, 2] - b[:, 0] + extra) * (b[:, 3] - b[:, 1] + extra)
        alive = np.ones(len(order), bool)
        for i in range(len(order)):
            if not alive[i]:
                continue
            kept.append(int(order[i]))
            rest = np.flatnonzero(alive[i + 1 :]) + i + 1
            if not len(rest):
                break
            w = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]) + extra, 0, None)
            h = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]) + extra, 0, None)
            inter = w * h
            if smaller:
                overlap = inter / np.minimum(area[i], area[rest])
            else:
                overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
            alive[rest[overlap > threshold]] = False
    return np.asarray(sorted(kept, key=lambda k: (groups[k], -scores[k])), np.int64)


class Detection(NamedTuple):
    """The faces of a batch of frames, flat: ``image[k]`` is the frame of face ``k``."""

    image: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    landmarks: np.ndarray  # (N, 5, 2) float32


class Cascade:
    """MTCNN on a batch of equally sized frames: :meth:`detect` all faces, :meth:`refine` known ones.

    Parameters
    ----------
    device : str or torch.device, default "cpu"
    min_face_size : int, default 20
        The smallest face side searched for, in pixels (the pyramid's first scale).
    thresholds : 3 floats, default (0.6, 0.7, 0.7)
        The probability each stage needs (P-Net's at least, R-Net's and O-Net's more than).
    pyramid : {"area", "antialiased"}, default "area"
        How each level of P-Net's image pyramid is resampled: ``"area"`` averages the float pixels
        each output pixel covers, as the published detector does (its boxes, to float precision);
        ``"antialiased"`` is torch's antialiased bilinear resize of the 8-bit frames (Pillow's, within
        a grey level), three to five times cheaper per level (at most 1.2 times faster in all), which
        moves P-Net's proposals and so the final boxes (median IoU 0.88-0.97 against the area
        pyramid's; ``benchmarks/README.md``).
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        *,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        pyramid: str = "area",
    ) -> None:
        if pyramid not in PYRAMIDS:
            raise ValueError(f"pyramid must be one of {', '.join(map(repr, PYRAMIDS))}, got {pyramid!r}")
        if isinstance(min_face_size, bool) or not isinstance(min_face_size, int) or min_face_size < 1:
            raise ValueError(f"min_face_size must be a positive integer, got {min_face_size!r}")
        if len(thresholds) != 3 or not all(0 <= t <= 1 for t in thresholds):
            raise ValueError(f"thresholds must be 3 probabilities, got {tuple(thresholds)!r}")
        self.device = torch.device(device)
        self.min_face_size = min_face_size
        self.thresholds = tuple(float(t) for t in thresholds)
        self.pyramid = pyramid
        self.nets = _networks(str(self.device))

    @torch.no_grad()
    def detect(self, images: np.ndarray) -> Detection:
        """Every face of ``(B, H, W, 3)`` uint8 RGB frames: boxes, scores and landmarks in their pixels."""
        frames = pixels_tensor(images).to(self.device).permute(0, 3, 1, 2)  # uint8, channels_last: no copy
        height, width = frames.shape[2:]
        # Stage 1: P-Net over the pyramid; suppression within each level, then across levels.
        found = []
        # "area": every level is pooled from one float copy (fastest in this layout); "antialiased": from the 8-bit
        # frames as they are, channels last (torch's fastest uint8 kernel).
        whole = frames.contiguous().float() if self.pyramid == "area" else frames  # bytes moved, then widened
        for scale in scales(height, width, self.min_face_size):
            level = pyramid_level(whole, (int(height * scale + 1), int(width * scale + 1)))
            offsets, probability = self.nets.pnet(_normalised(level).contiguous(memory_format=torch.channels_last))
            image, boxes, score, shift = proposals(offsets, probability[:, 1], scale, self.thresholds[0])
            keep = nms(*_numpy(boxes, score, image), 0.5)
            found.append((image[keep], boxes[keep], score[keep], shift[keep]))
        if not found:
            return _nothing()
        image, boxes, score, shift = (torch.cat(part) for part in zip(*found, strict=True))
        keep = nms(*_numpy(boxes, score, image), 0.7)
        image, boxes, shift = image[keep], boxes[keep], shift[keep]
        boxes = square(regress(boxes, shift, plus_one=False))
        # Stage 2: R-Net on 24 x 24 crops of every proposal, in one batch.
        image, boxes = _readable(image, boxes, width, height)
        if not len(boxes):
            return _nothing()
        shift, probability = self.nets.rnet(_normalised(crops(frames, image, *crop_windows(boxes, width, height), 24)))
        passed = probability[:, 1] > self.thresholds[1]
        image, boxes, score, shift = image[passed], boxes[passed], probability[passed, 1], shift[passed]
        keep = nms(*_numpy(boxes, score, image), 0.7)
        boxes = square(regress(boxes[keep], shift[keep], plus_one=True))
        image = image[keep]
        # Stage 3: O-Net on 48 x 48 crops: scores, landmarks, final boxes.
        image, boxes = _readable(image, boxes, width, height)
        if not len(boxes):
            return _nothing()
        pixels = crops(frames, image, *crop_windows(boxes, width, height), 48)
        shift, points, probability = self.nets.onet(_normalised(pixels))
        passed = probability[:, 1] > self.thresholds[2]
        image, boxes, score = image[passed], boxes[passed], probability[passed, 1]
        landmarks = _landmarks(boxes, points[passed])
        boxes = regress(boxes, shift[passed], plus_one=True)
        keep = nms(*_numpy(boxes, score, image), 0.7, smaller=True)
        return Detection(
            image[keep].cpu().numpy(),
            boxes[keep].cpu().numpy().astype(np.float32),
            score[keep].cpu().numpy().astype(np.float32),
            landmarks[keep].cpu().numpy().astype(np.float32),
        )

    @torch.no_grad()
    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Detection:
        """O-Net alone on known faces of one ``(H, W, 3)`` uint8 frame: each box squared about its centre, its
        pixels (zeros outside the frame) read at 48 x 48; new boxes, landmarks and scores, in ``boxes``' order."""
        frame = pixels_tensor(image)[None].to(self.device).permute(0, 3, 1, 2)
        square_boxes = square(torch.as_tensor(np.asarray(boxes, np.float64), device=self.device).reshape(-1, 4))
        if not len(square_boxes):
            return _nothing()
        x0, y0, x1, y1 = torch.floor(square_boxes).to(torch.int64).unbind(1)
        rows, cols = (y1 - y0 + 1).clamp(min=1), (x1 - x0 + 1).clamp(min=1)
        zero = torch.zeros(len(square_boxes), dtype=torch.int64, device=self.device)
        pixels = crops(frame, zero, y0 - 1, x0 - 1, rows, cols, 48)
        shift, points, probability = self.nets.onet(_normalised(pixels))
        shift, points = shift.double(), points.double()
        return Detection(
            np.zeros(len(square_boxes), np.int64),
            regress(square_boxes, shift, plus_one=True).cpu().numpy().astype(np.float32),
            probability[:, 1].cpu().numpy().astype(np.float32),
            _landmarks(square_boxes, points).cpu().numpy().astype(np.float32),
        )


def pyramid_level(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One level of P-Net's pyramid, ``(N, 3, *size)`` float32 on the 0..255 scale: from float32 ``frames``, the
    area average (:func:`resample`); from uint8 ``frames``, torch's antialiased bilinear resize, rounded to 8 bits."""
    if frames.dtype == torch.uint8:
        return F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False).float()
    return resample(frames, size)


def resample(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, 3, h, w)`` uint8 -> ``(N, 3, *size)`` float32 on the 0..255 scale, averaging the pixels each output pixel
    covers (``interpolate(mode="area")``: adaptive average pooling, as the published detector resamples)."""
    return F.adaptive_avg_pool2d(pixels.float(), size)


#: A size class of at least this many crops, of sides up to :data:`BATCHED_SIDE`, is averaged in one batch
#: (two matrix products); fewer or larger crops are pooled one by one on their own pixels. Measured on two
#: AVX2 cores: R-Net's hundreds of small crops are faster batched, refinement's few large ones alone.
BATCHED_CROPS = 8
#: The largest size class (canvas side, pixels) averaged in one batch.
BATCHED_SIDE = 128


def _pooling(length: torch.Tensor, padded: int, out: int) -> torch.Tensor:
    """``(K, out, padded)`` matrices whose rows average adaptive pooling's windows over the first ``length[k]``
    entries (``[floor(i L / out), ceil((i + 1) L / out))``), zero beyond them."""
    i = torch.arange(out, device=length.device)[None, :, None]
    j = torch.arange(padded, device=length.device)[None, None, :]
    low = (i * length[:, None, None]) // out
    high = ((i + 1) * length[:, None, None] + out - 1) // out
    inside = (j >= low) & (j < high)
    return inside.to(torch.float32) / (high - low).to(torch.float32)


def crops(
    frames: torch.Tensor,
    image: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    side: int,
) -> torch.Tensor:
    """Regions of ``(B, 3, H, W)`` uint8 frames, each resampled to ``side`` x ``side`` by area averaging, as
    :func:`resample`; pixels of a region outside its frame are 0. Region ``k``: frame ``image[k]``, rows
    ``top[k] .. top[k] + rows[k] - 1``, columns likewise.

    Regions are grouped by size class (a power of two). A class of many small regions
    (:data:`BATCHED_CROPS`, :data:`BATCHED_SIDE`) is averaged together: each region is copied (uint8)
    into a zero canvas of the class's size, and the canvases are reduced by two batched matrix
    products with pooling matrices that weigh only the region's own pixels. Other regions are
    pooled one by one on their own pixels (a view of the frame, or a zero canvas where the region
    crosses the frame's border). Both are the area average exactly.

    Returns
    -------
    Tensor[K, 3, S, S]
        ``S = side``; float32, on the 0..255 scale.
    """
    height, width = frames.shape[2:]
    out = torch.empty(len(image), 3, side, side, device=frames.device)
    spans = torch.stack([image, top, left, rows, cols], 1).tolist()
    classes = [max(side, 1 << max(h, w, 1).bit_length()) for _, _, _, h, w in spans]
    for size in sorted(set(classes)):
        members = [k for k, c in enumerate(classes) if c == size]
        if len(members) >= BATCHED_CROPS and size <= BATCHED_SIDE:
            canvas = torch.zeros(len(members), 3, size, size, dtype=torch.uint8, device=frames.device)
            for slot, k in enumerate(members):
                b, y, x, h, w = spans[k]
                y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, height), min(x + w, width)
                if y1 > y0 and x1 > x0:
                    canvas[slot, :, y0 - y : y1 - y, x0 - x : x1 - x] = frames[b, :, y0:y1, x0:x1]
            index = torch.tensor(members, device=frames.device)
            down = _pooling(rows[index], size, side)[:, None]  # (N, 1, side, size)
            across = _pooling(cols[index], size, side)[:, None].transpose(-1, -2)  # (N, 1, size, side)
            out[index] = down @ canvas.to(torch.float32) @ across
            continue
        for k in members:
            b, y, x, h, w = spans[k]
            y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, height), min(x + w, width)
            if (y0, x0, y1, x1) == (y, x, y + h, x + w):
                region = frames[b, :, y0:y1, x0:x1]
            else:
                region = torch.zeros(3, h, w, dtype=frames.dtype, device=frames.device)
                if y1 > y0 and x1 > x0:
                    region[:, y0 - y : y1 - y, x0 - x : x1 - x] = frames[b, :, y0:y1, x0:x1]
            out[k] = F.adaptive_avg_pool2d(region.to(torch.float32), (side, side))
    return out


def _nothing() -> Detection:
    return Detection(
        np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    )


def _readable(image: torch.Tensor, boxes: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The boxes with at least one pixel inside the frame (a stage cannot read the others)."""
    _, _, rows, cols = crop_windows(boxes, width, height)
    inside = (rows > 0) & (cols > 0)
    return image[inside], boxes[inside]


def _landmarks(boxes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """O-Net's landmarks (fractions of the box's ``+ 1`` spans, x then y) in pixels, ``(N, 5, 2)``."""
    width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    x = width * points[:, :5] + boxes[:, :1] - 1
    y = height * points[:, 5:] + boxes[:, 1:2] - 1
    return torch.stack([x, y], -1)


def _numpy(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor) -> tuple[np.ndarray, ...]:
    return boxes.cpu().numpy(), scores.cpu().numpy(), groups.cpu().numpy()


@lru_cache(maxsize=4)
def _networks(device: str) -> Networks:
    """The networks, loaded once per device (they are small, and never changed)."""
    return load_networks(device)


__all__ = [
    "BATCHED_CROPS",
    "BATCHED_SIDE",
    "CELL",
    "SCALE_FACTOR",
    "STRIDE",
    "WEIGHTS",
    "Cascade",
    "Detection",
    "Networks",
    "ONet",
    "PNet",
    "RNet",
    "crop_windows",
    "crops",
    "load_networks",
    "nms",
    "proposals",
    "regress",
    "resample",
    "scales",
    "square",
]
