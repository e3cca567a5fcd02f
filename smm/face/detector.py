"""Face detection with five landmarks, behind a small interface so that another detector can be plugged in.

The default, :class:`MTCNNDetector`, is MTCNN run by our own cascade (:mod:`smm.face.mtcnn`) on
the three small networks' weights shipped inside the wheel (2 MB): nothing is downloaded at run
time, it runs on any torch device, and it follows every torch release. MediaPipe's and OpenCV's
wheels ship no face model, and most other detectors download their weights on first use, which
fails offline and breaks when links rot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


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
    """What the face pipeline needs of a detector (check one with :func:`check_detector`).

    Attributes
    ----------
    min_face_size : int
        The smallest face side, in pixels, that it finds (0 if it has no such limit): an image
        whose shorter side is below it is reported as too small rather than as "no face".

    Methods
    -------
    detect(images) -> list of Faces
        The faces of each image, images as ``(H, W, 3)`` uint8 RGB arrays.
    """

    min_face_size: int

    def detect(self, images: Sequence[np.ndarray]) -> list[Faces]: ...


@runtime_checkable
class LandmarkRefiner(Protocol):
    """A detector that can also re-locate known faces cheaply: ``refine(image, boxes) -> Faces``.

    Given the ``(N, 4)`` boxes where N faces are expected in one image, it returns N faces in
    that order, with each face's new box and landmarks and a score; a face whose score is below
    ``refine_threshold`` is treated as lost. The video pipeline calls it on every frame between
    full detections, and on the full-size image after a detection on a scaled copy.

    Attributes
    ----------
    refine_threshold : float
        The score, in [0, 1], that a re-located face needs to count as found.
    """

    refine_threshold: float

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces: ...


def check_detector(detector: Any) -> FaceDetector:
    """``detector``, once it is known to be a :class:`FaceDetector` (and, with a ``refine``, a
    :class:`LandmarkRefiner`): the pipeline reads these attributes, it does not guess them.

    Raises
    ------
    TypeError
        Naming what is missing or of the wrong kind.
    """
    kind = type(detector).__name__
    if not callable(getattr(detector, "detect", None)):
        raise TypeError(f"detector must have a detect(images) method (smm.face.FaceDetector), {kind} has none")
    size = getattr(detector, "min_face_size", None)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise TypeError(
            f"detector.min_face_size must be an integer >= 0 (the smallest face side it finds, in pixels; "
            f"0 for no limit), {kind} has {size!r}"
        )
    if callable(getattr(detector, "refine", None)):
        threshold = getattr(detector, "refine_threshold", None)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise TypeError(
                f"a detector with refine() must have refine_threshold, a number in [0, 1] (the score a "
                f"re-located face needs), {kind} has {threshold!r}"
            )
    return detector


class MTCNNDetector:
    """MTCNN (Zhang et al. 2016) as a :class:`FaceDetector` and :class:`LandmarkRefiner`: our own cascade
    (:class:`smm.face.mtcnn.Cascade`) on the weights shipped in the wheel.

    Parameters
    ----------
    device : str or torch.device, default "cpu"
    min_face_size : int, default 20
        Smallest face side searched for, in pixels.
    thresholds : 3 floats, default (0.6, 0.7, 0.7)
        Confidence thresholds of the three stages.
    min_score : float, default 0.9
        Faces below this final confidence are dropped.
    pyramid : {"area", "antialiased"}, default "area"
        How P-Net's image pyramid is resampled (see :class:`smm.face.mtcnn.Cascade`): the published
        detector's area average, or torch's cheaper antialiased resize of the 8-bit frames.

    Attributes
    ----------
    min_face_size : int
    refine_threshold : float
        The score a re-located face needs to count as found (the last stage's threshold).
    """

    def __init__(
        self,
        device: str = "cpu",
        *,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        min_score: float = 0.9,
        pyramid: str = "area",
    ) -> None:
        from smm.face.mtcnn import Cascade

        self.min_score = min_score
        self.min_face_size = min_face_size
        self.refine_threshold = thresholds[2]
        self.cascade = Cascade(device, min_face_size=min_face_size, thresholds=thresholds, pyramid=pyramid)

    def detect(self, images: Sequence[np.ndarray]) -> list[Faces]:
        """Faces of each image, the largest first; images of one size are detected as one batch.

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
        found = self.cascade.detect(np.stack(images))
        out = []
        for index in range(len(images)):
            mine = np.flatnonzero((found.image == index) & (found.scores >= self.min_score))
            faces = Faces(found.boxes[mine], found.scores[mine], found.landmarks[mine])
            out.append(faces.take(np.argsort(-faces.areas, kind="stable")))
        return out

    def too_small(self, image: np.ndarray) -> bool:
        """Whether ``image``'s shorter side is below ``min_face_size`` (no face can be found in it)."""
        return min(image.shape[:2]) < self.min_face_size

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
        """Re-locate known faces with MTCNN's last stage (O-Net) only: new boxes, landmarks and scores.

        Each box is made square about its centre, its pixels (zeros outside the image) resampled
        to 48 x 48 by area and read by O-Net, as the detector's third stage reads the candidates
        of its second; landmarks and box come back in image pixels. This costs one small network
        on a 48 x 48 crop per face, against a full image pyramid for :meth:`detect`, and its
        landmarks are the detector's own, so frames with and without a full detection are
        aligned alike.

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
        image = _rgb_array(image, 0)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not len(boxes):
            return Faces.none()
        found = self.cascade.refine(image, boxes)
        return Faces(found.boxes, found.scores, found.landmarks)


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
    check_detector(detector)
    if not len(images):
        return []
    factor = 1.0 if detect_size is None else min(1.0, detect_size / min(images[0].shape[:2]))
    if factor >= 1.0:
        return detector.detect(images)
    height, width = images[0].shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = [downscale(image, size) for image in images]
    scale = np.array([width / size[0], height / size[1]], np.float32)
    found = []
    for image, faces in zip(images, detector.detect(small), strict=True):
        mapped = Faces(faces.boxes * np.tile(scale, 2), faces.scores, faces.landmarks * scale)
        if len(mapped) and isinstance(detector, LandmarkRefiner):
            refined = detector.refine(image, mapped.boxes)
            good = refined.scores >= detector.refine_threshold
            mapped = Faces(
                np.where(good[:, None], refined.boxes, mapped.boxes),
                mapped.scores,
                np.where(good[:, None, None], refined.landmarks, mapped.landmarks),
            )
        found.append(mapped)
    return found


def downscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(height, width, 3)`` uint8 for ``size = (width, height)``: bilinear with
    antialiasing, in torch on the 8-bit pixels (within one grey level of Pillow's ``resize(size, BILINEAR)``)."""
    import torch.nn.functional as F

    from smm.face.align import pixels_tensor

    pixels = pixels_tensor(image).permute(2, 0, 1)[None]
    small = F.interpolate(pixels, (size[1], size[0]), mode="bilinear", align_corners=False, antialias=True)
    return small[0].permute(1, 2, 0).contiguous().numpy()


def _rgb_array(image: np.ndarray, index: int) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"images[{index}] must be an (H, W, 3) uint8 RGB array, got {array.dtype} {array.shape}")
    return array
