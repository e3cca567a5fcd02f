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


class MultiFaceTracker:
    """Follows every face of a video, each with its own id: motion prediction, then an optimal assignment.

    Each track keeps its last box and a velocity (pixels per frame, of each box edge). At a
    frame, a track's box is *predicted* by moving its last box with its velocity; detections
    are matched to the predicted boxes by the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`), which minimises ``(1 - IoU) + shift`` over
    all pairs at once (``shift``: the centre distance in units of the track's longer side). A
    pair is allowed only when ``IoU >= iou_threshold`` or ``shift <= max_shift``. Because the
    assignment is global and uses predicted positions, two faces that pass each other keep
    their ids, where a greedy nearest-box rule would swap them. Unmatched detections start new
    tracks (a new face is picked up at once); a track that is not seen for more than
    ``max_missed`` frames is dropped.

    Parameters
    ----------
    iou_threshold : float, default 0.3
    max_shift : float, default 0.5
    max_missed : int, default 30
        Frames a track survives without being seen (about a second of video): a face that is
        briefly hidden, turned away or missed keeps its id.
    """

    def __init__(self, iou_threshold: float = 0.3, max_shift: float = 0.5, max_missed: int = 30) -> None:
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        if isinstance(max_missed, bool) or not isinstance(max_missed, int) or max_missed < 0:
            raise ValueError(f"max_missed must be an integer >= 0, got {max_missed!r}")
        self.iou_threshold, self.max_shift, self.max_missed = iou_threshold, max_shift, max_missed
        self.tracks: dict[int, _Track] = {}
        self.next_id = 0

    @property
    def ids(self) -> list[int]:
        """Ids of the live tracks, oldest first."""
        return list(self.tracks)

    def predict(self, frame: int, ids: list[int] | None = None) -> np.ndarray:
        """``(N, 4)`` predicted boxes at ``frame`` of the tracks ``ids`` (default: all live ones)."""
        ids = self.ids if ids is None else ids
        if not ids:
            return np.zeros((0, 4), np.float32)
        return np.stack([self.tracks[i].predict(frame) for i in ids]).astype(np.float32)

    def match(self, boxes: np.ndarray, frame: int) -> list[int | None]:
        """For each of ``(N, 4)`` detected boxes, the live track it continues, or ``None``."""
        ids = self.ids
        found: list[int | None] = [None] * len(boxes)
        if not ids or not len(boxes):
            return found
        from scipy.optimize import linear_sum_assignment

        predicted = self.predict(frame, ids)
        iou = np.stack([box_iou(p, boxes) for p in predicted])
        shift = np.stack([_centre_distance(p, boxes) / _size(p) for p in predicted])
        allowed = (iou >= self.iou_threshold) | (shift <= self.max_shift)
        cost = np.where(allowed, (1.0 - iou) + shift, 1e6)
        for row, column in zip(*linear_sum_assignment(cost), strict=True):
            if allowed[row, column]:
                found[column] = ids[row]
        return found

    def start(self, box: np.ndarray, frame: int) -> int:
        """A new track at ``box``; its id."""
        track_id, self.next_id = self.next_id, self.next_id + 1
        self.tracks[track_id] = _Track(np.asarray(box, np.float64), frame)
        return track_id

    def see(self, track_id: int, box: np.ndarray, frame: int) -> None:
        """Track ``track_id`` is at ``box`` in ``frame``."""
        self.tracks[track_id].see(np.asarray(box, np.float64), frame)

    def end_frame(self, frame: int) -> None:
        """Drop the tracks not seen for more than ``max_missed`` frames up to ``frame``."""
        for track_id in [i for i, t in self.tracks.items() if frame - t.frame > self.max_missed]:
            del self.tracks[track_id]


class _Track:
    """One face's last box, the frame it was seen in, and its velocity in pixels per frame."""

    def __init__(self, box: np.ndarray, frame: int) -> None:
        self.box, self.frame, self.velocity = box, frame, np.zeros(4)

    def predict(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.frame)

    def see(self, box: np.ndarray, frame: int) -> None:
        gap = frame - self.frame
        if gap > 0:
            # Half the new displacement, half the old velocity: steady under detector jitter.
            self.velocity = 0.5 * self.velocity + 0.5 * (box - self.box) / gap
        self.box, self.frame = box, frame
