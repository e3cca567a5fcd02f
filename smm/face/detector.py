"""Face detection with five landmarks, behind a small interface so that another detector can be plugged in.

The default, :class:`MTCNNDetector`, is facenet-pytorch's MTCNN: its wheel (2.5.x) ships the
three small networks' weights (about 2 MB), so nothing is downloaded at run time, it runs on
any torch device, and it accepts current torch (2.6.0 pins torch < 2.3, which the ``face``
extra excludes). MediaPipe's and OpenCV's wheels ship no face model, and most other
detectors download their weights on first use, which fails offline and breaks when links rot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

EXTRA_HINT = 'face detection needs the face extra: pip install "smm-emotionnet[face]"'


class Faces(NamedTuple):
    """The faces found in one image (N of them, N may be 0).

    Attributes
    ----------
    boxes : numpy.ndarray
        ``(N, 4)`` float32, ``x0, y0, x1, y1`` in pixels.
    scores : numpy.ndarray
        ``(N,)`` float32 detection confidence.
    landmarks : numpy.ndarray
        ``(N, 5, 2)`` float32 ``(x, y)`` of the left eye, right eye, nose tip, left and
        right mouth corners (left/right as seen in the image).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def none(cls) -> Faces:
        """No face."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.boxes.shape[0])

    @property
    def areas(self) -> np.ndarray:
        """``(N,)`` box areas in square pixels."""
        return (self.boxes[:, 2] - self.boxes[:, 0]).clip(0) * (self.boxes[:, 3] - self.boxes[:, 1]).clip(0)

    def take(self, index: int | Sequence[int] | np.ndarray) -> Faces:
        """The faces at ``index`` (an int keeps a batch of one)."""
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        return Faces(self.boxes[index], self.scores[index], self.landmarks[index])


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with ``detect(images) -> list[Faces]``, images as ``(H, W, 3)`` uint8 RGB arrays."""

    def detect(self, images: Sequence[np.ndarray]) -> list[Faces]: ...


@runtime_checkable
class LandmarkRefiner(Protocol):
    """A detector that can also re-locate known faces cheaply: ``refine(image, boxes) -> Faces``.

    Given the ``(N, 4)`` boxes where N faces are expected in one image, it returns N faces in
    that order, with each face's new box and landmarks and a score (a face whose score is
    below the detector's own threshold is treated as lost). The video pipeline calls it on
    every frame between full detections.
    """

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces: ...


class MTCNNDetector:
    """facenet-pytorch's MTCNN (weights shipped in its wheel) as a :class:`FaceDetector`.

    Parameters
    ----------
    device : str or torch.device, default "cpu"
    min_face_size : int, default 20
        Smallest face side searched for, in pixels.
    thresholds : 3 floats, default (0.6, 0.7, 0.7)
        Confidence thresholds of the three stages.
    min_score : float, default 0.9
        Faces below this final confidence are dropped.

    Raises
    ------
    ImportError
        Without the ``face`` extra, saying how to install it.
    """

    def __init__(
        self,
        device: str = "cpu",
        *,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        min_score: float = 0.9,
    ) -> None:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as error:
            raise ImportError(EXTRA_HINT) from error
        self.min_score = min_score
        self.min_face_size = min_face_size
        self.refine_threshold = thresholds[2]
        self._mtcnn = MTCNN(
            keep_all=True, device=device, min_face_size=min_face_size, thresholds=list(thresholds), post_process=False
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[Faces]:
        """Faces of each image; images of one size are detected as one batch.

        An image whose shorter side is below ``min_face_size`` can hold no face the detector
        looks for: it gets no face (see :meth:`too_small`).
        """
        images = [_rgb_array(image, i) for i, image in enumerate(images)]
        if not images:
            return []
        if len({image.shape for image in images}) > 1:
            return [face for image in images for face in self.detect([image])]
        if self.too_small(images[0]):
            return [Faces.none() for _ in images]
        boxes, scores, points = self._mtcnn.detect(np.stack(images), landmarks=True)
        found = []
        for b, s, p in zip(boxes, scores, points, strict=True):
            if b is None:  # numpy 2 gives object arrays with None where no face was found
                found.append(Faces.none())
                continue
            faces = Faces(
                np.asarray(list(b), np.float32).reshape(-1, 4),
                np.asarray(list(s), np.float32).reshape(-1),
                np.asarray(list(p), np.float32).reshape(-1, 5, 2),
            )
            found.append(faces.take(np.flatnonzero(faces.scores >= self.min_score)))
        return found

    def too_small(self, image: np.ndarray) -> bool:
        """Whether ``image``'s shorter side is below ``min_face_size`` (no face can be found in it)."""
        return min(image.shape[:2]) < self.min_face_size

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
        """Re-locate known faces with MTCNN's last stage (O-Net) only: new boxes, landmarks and scores.

        Each box is made square about its centre, cut out of ``image`` (zeros outside it),
        resized to 48 x 48 and read by O-Net, exactly as the detector's third stage reads the
        candidates of its second; landmarks and box come back in image pixels. This costs one
        small network on a 48 x 48 crop per face (about a millisecond on a CPU core), against
        a full image pyramid for :meth:`detect`, and its landmarks are the detector's own, so
        frames with and without a full detection are aligned alike.

        Parameters
        ----------
        image : numpy.ndarray
            ``(H, W, 3)`` uint8 RGB.
        boxes : numpy.ndarray
            ``(N, 4)`` where the faces are expected (e.g. their boxes in the previous frame).

        Returns
        -------
        Faces
            N faces in the order of ``boxes``; compare ``scores`` with ``refine_threshold``.
        """
        import torch
        import torch.nn.functional as F

        image = _rgb_array(image, 0)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not len(boxes):
            return Faces.none()
        onet = self._mtcnn.onet
        parameter = next(onet.parameters())
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        square = np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], 1)
        crops = [F.interpolate(_cut(image, box)[None].to(parameter), size=(48, 48), mode="area") for box in square]
        with torch.no_grad():
            shift, points, probability = onet((torch.cat(crops) - 127.5) * 0.0078125)
        shift, points = shift.double().cpu().numpy(), points.double().cpu().numpy()
        # As the detector's third stage: pixel spans of (x1 - x0 + 1), origin one pixel up-left.
        size = np.stack([square[:, 2] - square[:, 0] + 1, square[:, 3] - square[:, 1] + 1], 1)
        landmarks = np.stack(
            [size[:, :1] * points[:, :5] + square[:, :1] - 1, size[:, 1:] * points[:, 5:] + square[:, 1:2] - 1], -1
        )
        refined = square + shift * np.concatenate([size, size], 1)
        return Faces(
            refined.astype(np.float32),
            probability[:, 1].float().cpu().numpy().astype(np.float32),
            landmarks.astype(np.float32),
        )


def default_detector(device: str | Any = "cpu") -> FaceDetector:
    """The detector every path uses when none is given: :class:`MTCNNDetector` on ``device``.

    Prediction (photos and videos), ``align`` and the int8 engine's calibration faces all
    call this, so a run's faces and its calibration faces come from one detector.

    Raises
    ------
    ImportError
        Without the ``face`` extra.
    """
    return MTCNNDetector(str(device))


def detect_scaled(detector: FaceDetector, images: Sequence[np.ndarray], detect_size: int | None) -> list[Faces]:
    """Full detection of images of one size on copies scaled to ``detect_size``, results in full-size pixels.

    Each image is scaled down (never up) so that its shorter side is ``detect_size`` pixels,
    detected there, and the faces' boxes and landmarks are mapped back; where the detector is a
    :class:`LandmarkRefiner`, the landmarks are then refined on the full-size image (its last
    stage on the mapped boxes), so alignment keeps full-resolution landmarks. The cost falls
    with the square of the scale, the smallest face found grows in proportion. ``None``
    detects at full size.

    Parameters
    ----------
    detector : FaceDetector
    images : sequence of numpy.ndarray
        ``(H, W, 3)`` uint8 RGB, all of one size.
    detect_size : int or None

    Returns
    -------
    list of Faces
        One per image, in full-size pixels.
    """
    from PIL import Image

    if not len(images):
        return []
    factor = 1.0 if detect_size is None else min(1.0, detect_size / min(images[0].shape[:2]))
    if factor >= 1.0:
        return detector.detect(images)
    height, width = images[0].shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = [np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)) for image in images]
    scale = np.array([width / size[0], height / size[1]], np.float32)
    found = []
    for image, faces in zip(images, detector.detect(small), strict=True):
        mapped = Faces(faces.boxes * np.tile(scale, 2), faces.scores, faces.landmarks * scale)
        if len(mapped) and isinstance(detector, LandmarkRefiner):
            refined = detector.refine(image, mapped.boxes)
            good = refined.scores >= getattr(detector, "refine_threshold", 0.7)
            mapped = Faces(
                np.where(good[:, None], refined.boxes, mapped.boxes),
                mapped.scores,
                np.where(good[:, None, None], refined.landmarks, mapped.landmarks),
            )
        found.append(mapped)
    return found


def _cut(image: np.ndarray, box: np.ndarray) -> Any:
    """Rows ``y0 - 1 .. y1 - 1``, columns ``x0 - 1 .. x1 - 1`` (integer parts) of an RGB image, 0 outside.

    Returns a ``(3, h, w)`` float32 tensor; only this region of the image is copied.
    """
    import torch

    height, width = image.shape[:2]
    x0, y0, x1, y1 = (int(np.floor(v)) for v in box)
    x0, y0 = x0 - 1, y0 - 1
    out = np.zeros((max(y1 - y0, 1), max(x1 - x0, 1), 3), np.float32)
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = min(y1, height), min(x1, width)
    if bottom > top and right > left:
        out[top - y0 : bottom - y0, left - x0 : right - x0] = image[top:bottom, left:right]
    return torch.from_numpy(out).permute(2, 0, 1)


def _rgb_array(image: np.ndarray, index: int) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"images[{index}] must be an (H, W, 3) uint8 RGB array, got {array.dtype} {array.shape}")
    return array
