"""Keep one face identity through a video: a small IoU tracker over per-frame detections."""

from __future__ import annotations

import numpy as np

from smm.face.detector import Faces


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with each of ``(N, 4)`` boxes (``x0, y0, x1, y1``)."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = (x1 - x0).clip(0) * (y1 - y0).clip(0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


class FaceTracker:
    """Follows one face: the largest at first, then the detection that overlaps it most.

    Parameters
    ----------
    iou_threshold : float, default 0.3
        A detection continues the track when its IoU with the last box reaches this.
    max_shift : float, default 1.0
        Failing that, the detection whose centre is nearest the last box's centre continues
        the track if that distance is at most ``max_shift`` times the last box's size (its
        longer side): a face that moved fast between two detection rounds stays tracked,
        while a face elsewhere in the frame does not take over. ``0`` matches by IoU only.
    max_missed : int, default 30
        After this many detection rounds without a match the track is dropped and the
        largest face starts a new one.
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 30, max_shift: float = 1.0) -> None:
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed}")
        self.iou_threshold, self.max_missed, self.max_shift = iou_threshold, max_missed, max_shift
        self.box: np.ndarray | None = None
        self.missed = 0

    def reset(self) -> None:
        """Forget the tracked face."""
        self.box, self.missed = None, 0

    def update(self, faces: Faces) -> int | None:
        """The index in ``faces`` of the tracked face, or ``None`` when it is not among them."""
        if len(faces) == 0:
            self._miss()
            return None
        if self.box is not None:
            overlaps = box_iou(self.box, faces.boxes)
            best = int(overlaps.argmax())
            if overlaps[best] < self.iou_threshold:
                shifts = _centre_distance(self.box, faces.boxes) / _size(self.box)
                best = int(shifts.argmin())
                if shifts[best] > self.max_shift:
                    best = -1
            if best >= 0:
                self.box, self.missed = faces.boxes[best], 0
                return best
            self._miss()
            if self.box is not None:
                return None
        largest = int(faces.areas.argmax())
        self.box, self.missed = faces.boxes[largest], 0
        return largest

    def _miss(self) -> None:
        self.missed += 1
        if self.missed > self.max_missed:
            self.reset()


def _centre_distance(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    centre = (box[:2] + box[2:]) / 2
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.linalg.norm(centres - centre, axis=1)


def _size(box: np.ndarray) -> float:
    return max(float(box[2] - box[0]), float(box[3] - box[1]), 1e-9)
