"""MTCNN's three-stage cascade, with each stage's candidates cut and resized in one batched call.

MTCNN (Zhang et al., 2016) finds faces in three stages: P-Net slides over an image pyramid
and proposes boxes; R-Net reads each proposal at 24 x 24 and keeps the faces; O-Net reads the
survivors at 48 x 48 and gives the final box, score and five landmarks. Between the stages
the boxes are regressed, squared and thinned by non-maximum suppression.

The networks and their conventions (pixel spans of ``x1 - x0 + 1``, boxes clipped to the image
before they are read, the last suppression measured against the smaller box) are those of
facenet-pytorch's MTCNN, whose weights the ``face`` extra ships. What differs is how the
candidates are read: facenet-pytorch resizes each one on its own (about a hundred calls per
image, a third of a detection's time on a CPU); here one ``torchvision.ops.roi_align`` call
cuts and averages all of a stage's candidates, every image of the batch at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: P-Net's stride and window, in pixels of the scaled image.
STRIDE, CELL = 2, 12
#: The image pyramid's step between scales.
PYRAMID_FACTOR = 0.709


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float = PYRAMID_FACTOR) -> list[float]:
    """The scales at which P-Net reads an image: the first maps ``min_face_size`` to its 12-pixel window."""
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def detect_faces(
    images: torch.Tensor,
    nets: Sequence[Any],
    *,
    min_face_size: float,
    thresholds: Sequence[float],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Faces of a batch of images: ``(boxes (K, 4), scores (K,), landmarks (K, 5, 2))`` per image.

    Parameters
    ----------
    images : Tensor[N, 3, H, W]
        RGB in 0..255, any float dtype, on the networks' device.
    nets : (pnet, rnet, onet)
        facenet-pytorch's networks.
    min_face_size : float
        The smallest face side looked for, in pixels.
    thresholds : 3 floats
        Each stage's score threshold.
    """
    pnet, rnet, onet = nets
    count, _, height, width = images.shape
    boxes, index = _inside(*_proposals(pnet, images, min_face_size, thresholds[0]), height, width)
    if len(boxes):
        reg, score = _read(rnet, images, boxes, index, 24)[:2]
        keep = score > thresholds[1]
        boxes, index, reg, score = boxes[keep], index[keep], reg[keep], score[keep]
        keep = _nms(boxes, score, index, 0.7)
        boxes, index = _inside(_square(_regress(boxes[keep], reg[keep])), index[keep], height, width)
    landmarks = torch.zeros(0, 5, 2, dtype=torch.float64)
    scores = torch.zeros(0, dtype=torch.float64)
    if len(boxes):
        reg, score, points = _read(onet, images, boxes, index, 48)
        keep = score > thresholds[2]
        boxes, index, reg, score, points = boxes[keep], index[keep], reg[keep], score[keep], points[keep]
        span = boxes[:, 2:] - boxes[:, :2] + 1
        landmarks = torch.stack([points[:, :5], points[:, 5:]], -1) * span[:, None] + boxes[:, None, :2] - 1
        boxes = _regress(boxes, reg)
        keep = _nms_min(boxes.numpy(), score.numpy(), index.numpy(), 0.7)
        boxes, index, scores, landmarks = boxes[keep], index[keep], score[keep], landmarks[keep]
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).numpy()
    found = []
    for image in range(count):
        mine = np.flatnonzero(index.numpy() == image)
        mine = mine[np.argsort(-area[mine], kind="stable")]  # the largest face first
        found.append(
            (
                boxes[mine].numpy().astype(np.float32).reshape(-1, 4),
                scores[mine].numpy().astype(np.float32).reshape(-1),
                landmarks[mine].numpy().astype(np.float32).reshape(-1, 5, 2),
            )
        )
    return found


def _proposals(pnet: Any, images: torch.Tensor, min_face_size: float, threshold: float) -> tuple[Any, Any]:
    """P-Net's boxes over the pyramid, suppressed per scale and then across scales, regressed and squared."""
    height, width = images.shape[2:]
    found = []
    for scale in pyramid_scales(height, width, min_face_size):
        scaled = F.interpolate(images, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
        with torch.no_grad():
            reg, prob = pnet((scaled - 127.5) * 0.0078125)
        where = (prob[:, 1] >= threshold).nonzero()
        if not len(where):
            continue
        image, y, x = where.unbind(1)
        corner = torch.stack([x, y], 1).double() * STRIDE
        box = torch.cat([((corner + 1) / scale).floor(), ((corner + CELL) / scale).floor()], 1)
        score = prob[image, 1, y, x].double()
        shift = reg[image, :, y, x].double()
        keep = _nms(box, score, image, 0.5)
        found.append((box[keep], score[keep], shift[keep], image[keep]))
    if not found:
        return torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.int64)
    box, score, shift, image = (torch.cat(parts) for parts in zip(*found, strict=True))
    keep = _nms(box, score, image, 0.7)
    box, shift, image = box[keep], shift[keep], image[keep]
    size = (box[:, 2:] - box[:, :2]).repeat(1, 2)  # P-Net's regression is scaled by the span without the +1
    return _square(box + shift * size), image


def _read(net: Any, images: torch.Tensor, boxes: torch.Tensor, index: torch.Tensor, size: int) -> tuple[Any, ...]:
    """``net``'s outputs on every box, cut from its image (clipped to it) and area-averaged to ``size``."""
    from torchvision.ops import roi_align

    height, width = images.shape[2:]
    whole = boxes.trunc()
    # The image rows y0 - 1 .. y1 - 1 and columns x0 - 1 .. x1 - 1, clipped to the image: as a
    # continuous region (pixel i covers [i, i + 1)), [max(x0, 1) - 1, min(x1, W)).
    region = torch.stack(
        [
            whole[:, 0].clamp(min=1) - 1,
            whole[:, 1].clamp(min=1) - 1,
            whole[:, 2].clamp(max=width),
            whole[:, 3].clamp(max=height),
        ],
        1,
    )
    rois = torch.cat([index[:, None].double(), region], 1).to(images)
    crops = roi_align(images, rois, (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    with torch.no_grad():
        out = net((crops - 127.5) * 0.0078125)
    reg, last = out[0].double().cpu(), out[-1]
    score = last[:, 1].double().cpu()
    return (reg, score, out[1].double().cpu()) if len(out) == 3 else (reg, score)


def _inside(boxes: torch.Tensor, index: torch.Tensor, height: int, width: int) -> tuple[Any, Any]:
    """The boxes that overlap the image by at least a pixel (the others have nothing to read)."""
    whole = boxes.trunc()
    keep = (whole[:, 2].clamp(max=width) > whole[:, 0].clamp(min=1) - 1) & (
        whole[:, 3].clamp(max=height) > whole[:, 1].clamp(min=1) - 1
    )
    return boxes[keep], index[keep]


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Boxes moved by the network's regression, in units of their pixel span (``x1 - x0 + 1``)."""
    span = (boxes[:, 2:] - boxes[:, :2] + 1).repeat(1, 2)
    return boxes + reg * span


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box made square about its centre, the side its longer side."""
    side = (boxes[:, 2:] - boxes[:, :2]).max(1, keepdim=True).values
    corner = (boxes[:, :2] + boxes[:, 2:]) / 2 - side / 2
    return torch.cat([corner, corner + side], 1)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, index: torch.Tensor, iou: float) -> torch.Tensor:
    """Non-maximum suppression by IoU within each image; kept positions, best score first."""
    from torchvision.ops import batched_nms

    if not len(boxes):
        return torch.zeros(0, dtype=torch.int64)
    return batched_nms(boxes.float(), scores.float(), index, iou)


def _nms_min(boxes: np.ndarray, scores: np.ndarray, index: np.ndarray, threshold: float) -> np.ndarray:
    """Suppression within each image where the overlap is measured against the smaller box (pixel spans)."""
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    order = list(np.argsort(scores, kind="stable")[::-1])
    kept = []
    while order:
        best, rest = order[0], np.asarray(order[1:], np.int64)
        kept.append(best)
        if not len(rest):
            break
        w = np.maximum(0.0, np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]) + 1)
        h = np.maximum(0.0, np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]) + 1)
        overlap = w * h / np.minimum(area[best], area[rest])
        order = [
            int(r) for r, o, i in zip(rest, overlap, index[rest], strict=True) if i != index[best] or o <= threshold
        ]
    return np.asarray(kept, np.int64)


__all__ = ["CELL", "PYRAMID_FACTOR", "STRIDE", "detect_faces", "pyramid_scales"]
