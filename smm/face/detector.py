"""Face detection with five landmarks, behind a small interface so that another detector can be plugged in.

The default, :class:`MTCNNDetector`, is facenet-pytorch's MTCNN: its wheel (2.5.x) ships the
three small networks' weights (about 2 MB), so nothing is downloaded at run time, it runs on
any torch device, and it accepts current torch (2.6.0 pins torch < 2.3, which the ``face``
extra excludes). MediaPipe's and OpenCV's wheels ship no face model, and most other
detectors download their weights on first use, which fails offline and breaks when links rot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

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
        self._mtcnn = MTCNN(
            keep_all=True, device=device, min_face_size=min_face_size, thresholds=list(thresholds), post_process=False
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[Faces]:
        """Faces of each image; images of one size are detected as one batch."""
        images = [_rgb_array(image, i) for i, image in enumerate(images)]
        if not images:
            return []
        if len({image.shape for image in images}) > 1:
            return [face for image in images for face in self.detect([image])]
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


def _rgb_array(image: np.ndarray, index: int) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"images[{index}] must be an (H, W, 3) uint8 RGB array, got {array.dtype} {array.shape}")
    return array
