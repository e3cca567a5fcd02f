"""Every face of a video with its own id, landmarks on every frame, the standard fit: checked against pasted truth."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.media import interocular_error, moved_points, place, similarity

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")

from smm.face import (  # noqa: E402
    TEMPLATE_112,
    FaceFollower,
    Faces,
    LandmarkRefiner,
    MTCNNDetector,
    MultiFaceTracker,
    align_faces,
    side_rows,
)

HEAD = skimage_data.astronaut()[20:260, 120:340]  # the astronaut's head, 240 x 220
SMALL_HEAD = np.asarray(Image.fromarray(HEAD).resize((110, 120)))


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


class DetectOnly:
    """The detector without its ``refine``: frames between detections reuse the last landmarks."""

    def __init__(self, detector: MTCNNDetector) -> None:
        self.inner = detector
        self.min_face_size = detector.min_face_size

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        return self.inner.detect(images)


def follow(detector: object, frames: list[np.ndarray], chunk: int = 16, **options: object) -> list:
    """Rows ``(frame, face_id, box, landmarks)`` of ``frames`` through a FaceFollower, fed in chunks."""
    follower = FaceFollower(detector, **options)  # type: ignore[arg-type]
    rows = []
    for start in range(0, len(frames), chunk):
        part = follower.chunk([(k / 25, f) for k, f in enumerate(frames[start : start + chunk], start)])
        assert part.crops.shape == (int((part.face_id >= 0).sum()), 112, 112, 3)
        rows += list(zip(part.frame.tolist(), part.face_id.tolist(), part.box, part.landmarks, strict=True))
    return rows


def moving_face(count: int = 60) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A face that turns (±20°), grows and shrinks (0.55-1.05) and moves 4 px a frame; its true landmarks."""
    reference = MTCNNDetector().detect([HEAD])[0].landmarks[0].astype(np.float64)
    frames, truth = [], []
    for t in range(count):
        transform = similarity(20 * np.sin(t / 8), 0.8 + 0.25 * np.sin(t / 11), (150 + 4 * t, 60 + 30 * np.sin(t / 6)))
        frames.append(place(HEAD, transform, (640, 400)))
        truth.append(moved_points(reference, transform))
    return frames, truth


def test_landmarks_follow_a_moving_face_on_every_frame(detector: MTCNNDetector) -> None:
    """Default settings (detection every 5th frame): every frame's landmarks within 5% of the eye distance."""
    assert isinstance(detector, LandmarkRefiner)
    frames, truth = moving_face()
    rows = follow(detector, frames)
    assert [r[0] for r in rows] == list(range(1, 61))  # one face in every frame
    assert {r[1] for r in rows} == {0}  # one track
    errors = np.array([interocular_error(r[3], truth[r[0] - 1]) for r in rows])
    assert errors.mean() <= 0.05  # 0.021 when this test was written
    assert errors.max() <= 0.08  # 0.036
    # Without refinement, frames between detections reuse stale landmarks (0.34 mean when written).
    stale = np.array([interocular_error(r[3], truth[r[0] - 1]) for r in follow(DetectOnly(detector), frames)])
    assert stale.mean() > 0.15


def crossing(count: int = 50) -> tuple[list[np.ndarray], list[dict[str, tuple[float, float]]]]:
    """A and B pass each other (A left to right above, B right to left below, their heads overlapping by 30 px
    vertically); C sits bottom right, leaves at frame 16 and is back from frame 31. Each face's centre per frame."""
    frames, centres = [], []
    for t in range(count):
        canvas = Image.new("RGB", (640, 480), (90, 90, 90))
        xa, xb = 20 + 10 * t, 520 - 10 * t
        canvas.paste(Image.fromarray(SMALL_HEAD), (xa, 20))
        canvas.paste(Image.fromarray(SMALL_HEAD[:, ::-1].copy()), (xb, 110))
        where = {"A": (xa + 55.0, 80.0), "B": (xb + 55.0, 170.0)}
        if t < 15 or t >= 30:
            canvas.paste(Image.fromarray(SMALL_HEAD), (500, 340))
            where["C"] = (555.0, 400.0)
        frames.append(np.asarray(canvas))
        centres.append(where)
    return frames, centres


def owners(rows: list, centres: list[dict[str, tuple[float, float]]]) -> dict[int, set[str]]:
    """For each face id, the pasted faces nearest to its boxes."""
    found: dict[int, set[str]] = {}
    for frame, face_id, box, _ in rows:
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        nearest = min(centres[frame - 1], key=lambda n: np.linalg.norm(centre - centres[frame - 1][n]))
        assert np.linalg.norm(centre - centres[frame - 1][nearest]) < 30
        found.setdefault(face_id, set()).add(nearest)
    return found


def test_ids_stay_with_faces_that_cross_and_with_a_face_that_comes_back(detector: MTCNNDetector) -> None:
    frames, centres = crossing()
    rows = follow(detector, frames)
    for t, where in enumerate(centres, 1):
        assert sum(1 for r in rows if r[0] == t and r[1] >= 0) == len(where), f"frame {t}"
    ids = owners(rows, centres)
    assert sorted(ids) == [0, 1, 2]
    assert sorted(name for faces in ids.values() for name in faces) == ["A", "B", "C"]  # never swapped
    # A face that is away longer than max_missed frames comes back with a new id.
    impatient = owners(follow(detector, frames, tracker=MultiFaceTracker(max_missed=10)), centres)
    assert sorted(impatient) == [0, 1, 2, 3]
    assert sorted(name for faces in impatient.values() for name in faces) == ["A", "B", "C", "C"]
    assert impatient[3] == {"C"}


def test_a_new_face_on_the_same_background_is_picked_up_at_the_next_detection(detector: MTCNNDetector) -> None:
    """Frames 1-22 one face on the left; frames 23-40 another face on the right, the background unchanged
    (not a cut: the frames differ by about 15 grey levels on average)."""
    left = place(HEAD, similarity(0, 0.6, (40, 100)), (640, 400))
    right = place(HEAD[:, ::-1].copy(), similarity(0, 0.6, (420, 120)), (640, 400))
    rows = follow(detector, [left] * 22 + [right] * 18, detect_every=5)
    by_frame = {frame: (face_id, box) for frame, face_id, box, _ in rows}
    assert all(by_frame[t][0] == 0 and by_frame[t][1][0] < 320 for t in range(1, 23))
    assert [by_frame[t][0] for t in (23, 24, 25)] == [-1, -1, -1]  # between detection rounds (1, 6, ..., 21, 26)
    assert all(by_frame[t][0] == 1 and by_frame[t][1][0] > 320 for t in range(26, 41))
    every = {frame: face_id for frame, face_id, _, _ in follow(detector, [left] * 22 + [right] * 18, detect_every=1)}
    assert every[23] == 1  # detecting on every frame: at once


def test_a_cut_runs_detection_at_once(detector: MTCNNDetector) -> None:
    """A cut to another scene (another background) finds its face on its first frame, between detection rounds."""
    left = place(HEAD, similarity(0, 0.6, (40, 100)), (640, 400))
    other_scene = place(HEAD[:, ::-1].copy(), similarity(0, 0.6, (420, 120)), (640, 400), fill=200)
    rows = follow(detector, [left] * 22 + [other_scene] * 18, detect_every=30)
    by_frame = {frame: (face_id, box) for frame, face_id, box, _ in rows}
    assert all(by_frame[t][0] == 0 and by_frame[t][1][0] < 320 for t in range(1, 23))
    assert all(by_frame[t][0] == 1 and by_frame[t][1][0] > 320 for t in range(23, 41))  # from the cut on


class Counting:
    """A detector that finds nothing and records the frames it was asked to detect on (by their grey level)."""

    min_face_size = 0

    def __init__(self) -> None:
        self.levels: list[int] = []

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        self.levels += [int(image[0, 0, 0]) for image in images]
        return [Faces.none() for _ in images]


def test_cuts_are_frames_unlike_the_one_before_by_more_than_the_threshold() -> None:
    from smm.face.video import CUT_THRESHOLD, DETECT_EVERY

    assert (CUT_THRESHOLD, DETECT_EVERY) == (30.0, 10)
    levels = [100, 130, 161, 161, 100, 70, 70, 70, 70, 70, 70, 71]  # steps of 30 (not a cut) and 31 (a cut)
    frames = [np.full((90, 160, 3), level, np.uint8) for level in levels]
    frames[8] = frames[8].copy()
    frames[8][:, :80] = 131  # a change in part of the frame counts by its share: 61 levels on half = 30.5
    counting = Counting()
    follower = FaceFollower(counting, detect_every=DETECT_EVERY)
    follower.chunk([(0.0, f) for f in frames[:6]])
    follower.chunk([(0.0, f) for f in frames[6:]])  # the previous frame is remembered across chunks
    # Frame 1 (a round), 161 (+31), 100 (-61), the half-changed frame 9 (+30.5), frame 10 back from it
    # (-30.5) and frame 11 (a round); the steps of exactly 30 (frames 2 and 6) and of 1 (frame 12) are not cuts.
    assert counting.levels == [100, 161, 100, 131, 70, 70]


def test_largest_follows_one_face_and_switches_only_at_a_detection_round(detector: MTCNNDetector) -> None:
    big = Image.fromarray(HEAD).resize((160, 175))
    frames = []
    for t in range(20):
        canvas = Image.new("RGB", (640, 400), (90, 90, 90))
        canvas.paste(Image.fromarray(SMALL_HEAD), (420, 150))
        if t < 12:  # the large face leaves after frame 12
            canvas.paste(big, (40, 100))
        frames.append(np.asarray(canvas))
    rows = follow(detector, frames, faces="largest", detect_every=5)
    assert [r[0] for r in rows] == list(range(1, 21))  # one row per frame
    assert all(r[2][0] < 320 for r in rows[:12])  # the large face
    assert [r[1] for r in rows[12:15]] == [-1, -1, -1]  # frames 13-15: lost, no detection round yet
    assert all(r[2][0] > 320 for r in rows[15:])  # frame 16 is a detection round: the small face
    every = follow(detector, frames, faces="all")
    assert len(every) == 12 * 2 + 8
    first = {face_id: box for frame, face_id, box, _ in every if frame == 1}
    assert first[0][0] < 320 < first[1][0]  # faces new in one frame get their ids largest first
    with pytest.raises(ValueError, match=r"faces must be one of 'all', 'largest', got 'biggest'"):
        FaceFollower(detector, faces="biggest")  # type: ignore[arg-type]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"detect_every must be a positive integer"):
            FaceFollower(detector, detect_every=bad)  # type: ignore[arg-type]


def test_refine_relocates_a_face_from_a_nearby_box(detector: MTCNNDetector) -> None:
    image = skimage_data.astronaut()
    found = detector.detect([image])[0]
    near = detector.refine(image, found.boxes + np.array([12, -8, 12, -8], np.float32))
    eyes = np.linalg.norm(found.landmarks[0, 1] - found.landmarks[0, 0])
    assert np.linalg.norm(near.landmarks - found.landmarks, axis=-1).max() < 0.1 * eyes
    assert near.scores[0] > detector.refine_threshold
    assert near.boxes.shape == (1, 4)
    away = detector.refine(image, np.array([[400, 400, 480, 480], [-40, -40, 30, 30]], np.float32))
    assert (away.scores < detector.refine_threshold).all()  # no face there (one box partly outside the image)
    assert len(detector.refine(image, np.zeros((0, 4)))) == 0


def test_images_smaller_than_the_smallest_face_have_no_face(detector: MTCNNDetector) -> None:
    tiny = np.zeros((16, 16, 3), np.uint8)
    assert [len(f) for f in detector.detect([tiny, tiny])] == [0, 0]
    assert detector.too_small(tiny)
    assert not detector.too_small(np.zeros((20, 300, 3), np.uint8))  # exactly the smallest face: searched
    assert detector.too_small(np.zeros((19, 300, 3), np.uint8))


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(rows, np.float32).reshape(-1, 4)


def test_tracker_assignment_is_global_and_uses_the_motion() -> None:
    tracker = MultiFaceTracker()
    a, b = tracker.start(boxes((0, 0, 100, 100))[0], 1), tracker.start(boxes((150, 0, 250, 100))[0], 1)
    tracker.see(a, boxes((40, 0, 140, 100))[0], 2)  # a moves right 40 px a frame
    tracker.see(b, boxes((110, 0, 210, 100))[0], 2)  # b moves left 40 px a frame
    # Half the new displacement and half the old (zero) velocity: 20 px a frame.
    assert tracker.predict(3, [a]).tolist() == [[60, 0, 160, 100]]
    assert tracker.predict(5, [b]).tolist() == [[50, 0, 150, 100]]
    # At frame 4 they have passed each other: a at x 80, b at x 70. The box at 70 is nearer a's
    # last box (40) than b's (110), so a nearest-last-box rule would swap them; the predicted
    # boxes give each its own.
    assert tracker.match(boxes((70, 0, 170, 100), (80, 0, 180, 100)), 4) == [b, a]
    # A far detection matches nothing (IoU 0, centre shift 3.4 box sizes > 0.5) and no track is taken twice.
    assert tracker.match(boxes((400, 0, 500, 100), (60, 0, 160, 100), (62, 0, 162, 100)), 3)[0] is None
    single = MultiFaceTracker()
    only = single.start(boxes((0, 0, 100, 100))[0], 1)
    assert single.match(boxes((2, 0, 102, 100), (0, 0, 100, 100)), 2) == [None, only]  # once, to the better


def test_tracker_gates_and_drops_tracks_by_their_limits() -> None:
    tracker = MultiFaceTracker(iou_threshold=0.5, max_shift=0.0, max_missed=3)
    track = tracker.start(boxes((0, 0, 100, 100))[0], 1)
    assert tracker.match(boxes((33, 0, 133, 100)), 1) == [track]  # IoU 67/133 = 0.504 >= 0.5
    assert tracker.match(boxes((34, 0, 134, 100)), 1) == [None]  # IoU 66/134 = 0.493 < 0.5
    shifty = MultiFaceTracker(iou_threshold=1.0, max_shift=0.5)
    other = shifty.start(boxes((0, 0, 100, 40))[0], 1)  # longer side 100: 50 px allowed
    assert shifty.match(boxes((50, 0, 150, 40)), 1) == [other]
    assert shifty.match(boxes((51, 0, 151, 40)), 1) == [None]
    tracker.end_frame(4)  # 3 frames unseen: kept
    assert tracker.ids == [track]
    tracker.end_frame(5)  # 4: dropped
    assert tracker.ids == []
    assert tracker.start(boxes((0, 0, 1, 1))[0], 5) == 1  # ids are never reused
    for bad, message in (
        ({"iou_threshold": -0.1}, r"^iou_threshold must be in \[0, 1\], got -0.1$"),
        ({"iou_threshold": 1.5}, r"^iou_threshold must be in \[0, 1\], got 1.5$"),
        ({"max_shift": -1}, r"^max_shift must be >= 0, got -1$"),
        ({"max_missed": 1.5}, r"^max_missed must be an integer >= 0, got 1.5$"),
        ({"max_missed": -1}, r"^max_missed must be an integer >= 0, got -1$"),
    ):
        with pytest.raises(ValueError, match=message):
            MultiFaceTracker(**bad)  # type: ignore[arg-type]
    for edge in ({"iou_threshold": 0.0}, {"iou_threshold": 1.0}, {"max_shift": 0.0}, {"max_missed": 0}):
        MultiFaceTracker(**edge)  # the ends of each range are allowed


def test_tracker_edges_and_the_motion_model_by_value() -> None:
    empty = MultiFaceTracker()
    assert empty.predict(1).shape == (0, 4)
    assert empty.predict(1).dtype == np.float32
    assert empty.match(boxes((0, 0, 10, 10), (20, 0, 30, 10)), 1) == [None, None]  # no track yet
    tracker = MultiFaceTracker()
    a = tracker.start(boxes((0, 0, 100, 100))[0], 1)
    b = tracker.start(boxes((300, 0, 400, 100))[0], 1)
    assert tracker.match(boxes(), 2) == []
    assert tracker.predict(2).tolist() == [[0, 0, 100, 100], [300, 0, 400, 100]]  # all tracks by default
    assert tracker.predict(2).dtype == np.float32
    tracker.see(a, boxes((40, 0, 140, 100))[0], 3)  # 40 px in 2 frames: half of 20 px a frame
    assert tracker.predict(5, [a]).tolist() == [[60, 0, 160, 100]]
    tracker.see(a, boxes((100, 0, 200, 100))[0], 4)  # then 60 px in 1 frame: (10 + 60) / 2 = 35
    assert tracker.predict(6, [a]).tolist() == [[170, 0, 270, 100]]
    tracker.see(a, boxes((110, 0, 210, 100))[0], 4)  # seen twice in one frame: the box, not the velocity
    assert tracker.predict(5, [a]).tolist() == [[145, 0, 245, 100]]
    assert tracker.ids == [a, b]
    # Cost: (1 - IoU) + shift. With a wide gate, the box 30 px away (cost 0.46 + 0.3) beats the one
    # 60 px away (0.75 + 0.6), though IoU minus shift would prefer the far one.
    wide = MultiFaceTracker(iou_threshold=0.0, max_shift=2.0)
    track = wide.start(boxes((0, 0, 100, 100))[0], 1)
    assert wide.match(boxes((60, 0, 160, 100), (30, 0, 130, 100)), 1) == [None, track]
    # IoU exactly at the threshold is allowed.
    exact = MultiFaceTracker(iou_threshold=0.5, max_shift=0.0)
    half = exact.start(boxes((0, 0, 100, 100))[0], 1)
    assert exact.match(boxes((0, 0, 50, 100)), 1) == [half]  # IoU 5000 / 10000
    # Sizes: a point-like track matches a detection at the same point; shifts count in its longer side.
    point = MultiFaceTracker(iou_threshold=1.0, max_shift=0.5)
    dot = point.start(boxes((10, 10, 10, 10))[0], 1)
    assert point.match(boxes((10, 10, 10, 10)), 1) == [dot]
    tiny = MultiFaceTracker(iou_threshold=1.0, max_shift=0.5)
    speck = tiny.start(boxes((0, 0, 0.5, 0.5))[0], 1)
    assert tiny.match(boxes((0.2, 0, 0.7, 0.5)), 1) == [speck]  # 0.2 px = 0.4 of 0.5 px
    assert tiny.match(boxes((0.4, 0, 0.9, 0.5)), 1) == [None]  # 0.8 of its size (but 0.4 of one pixel)


def _iou_by_hand(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_box_iou_by_value_on_boxes_of_every_shape() -> None:
    from smm.face.track import box_iou

    rng = np.random.default_rng(7)
    corners = rng.uniform(0, 200, (60, 2))
    sides = rng.uniform(1, 120, (60, 2)) * rng.choice([0.3, 1, 3], (60, 2))  # tall, square and wide
    many = np.concatenate([corners, corners + sides], 1)
    for box in many[:12]:
        expected = [_iou_by_hand(tuple(box), tuple(other)) for other in many]
        np.testing.assert_allclose(box_iou(box, many), expected, rtol=1e-12, atol=1e-12)
    # Apart along one axis only (overlapping along the other): no overlap, never a negative one.
    assert box_iou(np.array([0.0, 0, 10, 10]), np.array([[20.0, 0, 30, 10], [0, 20, 10, 30]])).tolist() == [0, 0]
    # Boxes far below a pixel: identical ones overlap wholly, half-shifted ones by a third.
    speck = np.array([0.1, 0.1, 0.2, 0.2])
    np.testing.assert_allclose(box_iou(speck, np.stack([speck, speck + np.array([0.05, 0, 0.05, 0])])), [1, 1 / 3])
    assert box_iou(np.zeros(4), np.zeros((1, 4))).tolist() == [0]  # empty boxes: 0, not NaN


def test_tracker_defaults_gate_at_half_the_longer_side_and_keep_a_track_30_frames() -> None:
    tracker = MultiFaceTracker()
    track = tracker.start(boxes((0, 0, 100, 100))[0], 1)
    assert tracker.match(boxes((35, 35, 135, 135)), 1) == [track]  # IoU 0.27 < 0.3, shift 49.5 px <= 50
    assert tracker.match(boxes((36, 36, 136, 136)), 1) == [None]  # IoU 0.26, shift 50.9 px
    tracker.end_frame(31)  # 30 frames unseen: kept
    assert tracker.ids == [track]
    tracker.end_frame(32)
    assert tracker.ids == []


def test_shifts_count_in_the_longer_side_of_a_box_away_from_the_origin() -> None:
    for box, far in (((300, 200, 340, 300), 50), ((200, 300, 300, 340), 50)):  # tall, then wide: longer side 100
        tracker = MultiFaceTracker(iou_threshold=1.0, max_shift=0.5)
        track = tracker.start(boxes(box)[0], 1)
        tall = box[3] - box[1] > box[2] - box[0]
        for step, expected in ((far, [track]), (far + 1, [None])):
            moved = np.add(box, (0, step, 0, step) if tall else (step, 0, step, 0))
            assert tracker.match(boxes(tuple(moved)), 1) == expected


def test_tracks_move_in_double_precision_whatever_the_boxes_dtype() -> None:
    first = (1087.25, 1870.1448974609375, 1631.7071533203125, 5.4770002365112305)
    second = (1108.6942138671875, 1842.1600341796875, 1645.4864501953125, -13.983662605285645)
    tracker = MultiFaceTracker()
    track = tracker.start(boxes(first)[0], 1)
    tracker.see(track, boxes(second)[0], 4)
    velocity = 0.5 * (np.array(second) - np.array(first)) / 3  # float64 throughout
    expected = (np.array(second) + velocity * 7).astype(np.float32)
    np.testing.assert_array_equal(tracker.predict(11)[0], expected)  # float32 arithmetic is off in the last bit
    # Seen twice: the second velocity is taken from the stored box, which must be float64 too.
    boxes_seen = [
        (12.353657722473145, 1442.33154296875, 1353.208984375, 1313.8028564453125),
        (23.59855842590332, 1447.5074462890625, 1330.125732421875, 1323.955078125),
        (-6.00553035736084, 1428.47802734375, 1325.37841796875, 1316.6572265625),
    ]
    other = tracker.start(boxes(boxes_seen[0])[0], 1)
    tracker.see(other, boxes(boxes_seen[1])[0], 4)
    tracker.see(other, boxes(boxes_seen[2])[0], 6)
    first, second, third = (np.array(b) for b in boxes_seen)
    velocity = 0.5 * (0.5 * (second - first) / 3) + 0.5 * (third - second) / 2
    np.testing.assert_array_equal(tracker.predict(11, [other])[0], (third + velocity * 5).astype(np.float32))


def test_sides_split_by_position_only_when_two_faces_meet() -> None:
    frame = np.array([1, 2, 2, 3, 4, 4, 4, 5])
    face_id = np.array([0, 0, 1, -1, 0, 1, 2, 1])
    box = np.array(
        [[10, 0, 50, 40], [10, 0, 50, 40], [500, 0, 540, 40], [np.nan] * 4,
         [300, 0, 340, 40], [20, 0, 60, 40], [600, 0, 630, 40], [400, 0, 440, 40]],
        np.float32,
    )  # fmt: skip
    sides = side_rows(frame, face_id, box, (640, 480))
    assert sides["left"].tolist() == [0, 1, 5]  # frame 1 alone in the left half; frame 4: the leftmost of three
    assert sides["right"].tolist() == [2, 6, 7]  # frame 5 alone, centre 420 >= 320
    # Exactly two faces in a frame split the video; a lone face's centre against half the width (not height):
    # 240 is left of 320, and 320 itself is right.
    pair = side_rows(
        np.array([1, 1, 2, 3]),
        np.array([0, 1, 0, 1]),
        np.array([[0, 0, 10, 10], [600, 0, 610, 10], [200, 0, 280, 40], [300, 0, 340, 40]], np.float32),
        (640, 480),
    )
    assert pair["left"].tolist() == [0, 2]
    assert pair["right"].tolist() == [1, 3]
    alone = side_rows(np.array([1, 2, 3]), np.array([0, -1, 4]), np.zeros((3, 4)), (640, 480))
    assert list(alone) == [""]
    assert alone[""].tolist() == [0, 2]


def test_alignment_fits_from_the_landmarks_to_the_template_like_scikit_image() -> None:
    """Landmarks that are no exact similarity of the template, in a 480 x 300 uint8 frame: the crop is
    scikit-image's SimilarityTransform estimated from the landmarks to the template, then warped."""
    from skimage.transform import SimilarityTransform, warp

    frame = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((480, 300)))
    rng = np.random.default_rng(0)
    landmarks = moved_points(TEMPLATE_112.astype(np.float64), similarity(-9, 1.8, (140, 35)))
    landmarks = (landmarks + rng.normal(0, 6, landmarks.shape)).astype(np.float32)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        to_template = SimilarityTransform.from_estimate(landmarks, TEMPLATE_112)
    else:
        to_template = SimilarityTransform()
        assert to_template.estimate(landmarks, TEMPLATE_112)
    theirs = warp(frame.astype(np.float64), to_template.inverse, output_shape=(112, 112), order=1, preserve_range=True)
    pixels = torch.from_numpy(frame.copy()).permute(2, 0, 1)[None]
    for images in (pixels, pixels.double()):  # integer frames are sampled region by region
        ours = align_faces(images, torch.from_numpy(landmarks[None]))[0].permute(1, 2, 0).double().numpy()
        assert np.abs(ours - theirs).max() <= 1.0  # within a grey level
    # The other direction (template to landmarks, inverted) is measurably another crop here.
    if hasattr(SimilarityTransform, "from_estimate"):
        to_frame = SimilarityTransform.from_estimate(TEMPLATE_112, landmarks)
    else:
        to_frame = SimilarityTransform()
        assert to_frame.estimate(TEMPLATE_112, landmarks)
    other = warp(frame.astype(np.float64), to_frame, output_shape=(112, 112), order=1, preserve_range=True)
    assert np.abs(other - theirs).mean() > 3


def test_integer_frames_are_cropped_like_float_frames_even_at_the_edges() -> None:
    g = torch.Generator().manual_seed(3)
    frames = torch.randint(0, 256, (2, 3, 90, 120), generator=g, dtype=torch.uint8)
    template = torch.from_numpy(TEMPLATE_112)
    landmarks = torch.stack([template * 0.5 - 20, template * 0.7 + torch.tensor([70.0, 30.0]), template + 500])
    index = torch.tensor([0, 1, 1])
    exact = align_faces(frames.double(), landmarks.double(), index=index)
    sampled = align_faces(frames, landmarks, index=index)
    assert sampled.dtype == torch.float32
    assert (sampled.double() - exact).abs().max() < 0.01
    assert sampled[2].abs().max() == 0  # wholly outside the frame: zeros
    empty = align_faces(frames, landmarks[:0], index=index[:0])
    assert empty.shape == (0, 3, 112, 112)
    assert empty.dtype == torch.float32


def test_faces_of_frames_of_several_sizes_are_aligned_together_as_each_alone() -> None:
    """One call for every face of a chunk (frames not stacked, regions of several size classes, clipped by
    every border or wholly outside) gives each face's crop from its whole frame, in float."""
    from smm.face.video import aligned_crops

    g = torch.Generator().manual_seed(5)
    frames = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in ((90, 120), (260, 200))]
    template = torch.from_numpy(TEMPLATE_112)
    landmarks = torch.stack(
        [
            template * 0.2 + torch.tensor([30.0, 20.0]),  # a 20-pixel face: the smallest class
            template * 1.6 + torch.tensor([5.0, 40.0]),  # a large face, 180 px
            template * 0.5 - 20,  # over the top-left corner
            template * 0.9 + torch.tensor([150.0, 200.0]),  # over the bottom-right corner
            template + 500,  # wholly outside
            template * 0.7 + torch.tensor([40.0, 10.0]),
        ]
    )
    index = torch.tensor([0, 1, 0, 1, 1, 0])
    together = align_faces(frames, landmarks, index=index)
    assert together.dtype == torch.float32
    for k in range(len(index)):
        alone = align_faces(frames[int(index[k])].double()[None], landmarks[k : k + 1].double())
        assert (together[k].double() - alone[0]).abs().max() < 0.01, k
    assert together[4].abs().max() == 0
    # The video path's crops, from (H, W, 3) frames as decoded: the same, rounded to 8 bits.
    crops = aligned_crops([f.permute(1, 2, 0).numpy() for f in frames], landmarks.numpy(), index.numpy())
    assert (crops.permute(0, 3, 1, 2).double() - together.double()).abs().max() <= 0.5 + 1e-6
    with pytest.raises(ValueError, match=r"^float images must be one tensor \(N, C, H, W\)$"):
        align_faces([f.float() for f in frames], landmarks, index=index)
    with pytest.raises(
        ValueError, match=r"^images must be a tensor \(N, C, H, W\) or a sequence of \(C, H, W\) tensors$"
    ):
        align_faces([frames[0][None]], landmarks[:1])


def test_a_face_cut_by_the_top_and_no_face_at_all() -> None:
    """A face whose crop reads a few rows of the frame and its full width (a wide region), and a call
    without frames or faces."""
    from smm.face.align import to_uint8

    frame = torch.randint(0, 256, (3, 200, 300), generator=torch.Generator().manual_seed(6), dtype=torch.uint8)
    landmarks = (torch.from_numpy(TEMPLATE_112) * 2.2 + torch.tensor([20.0, -200.0]))[None]  # 246 px wide, 10 rows in
    together = align_faces([frame], landmarks)
    alone = align_faces(frame.double()[None], landmarks.double())
    assert (together.double() - alone).abs().max() < 0.01
    assert together.abs().max() > 0  # some rows were read
    empty = align_faces([], torch.zeros(0, 5, 2))
    assert empty.shape == (0, 3, 112, 112)
    assert empty.dtype == torch.float32
    rounded = to_uint8(torch.tensor([-3.0, 0.4, 0.5, 254.5, 255.6, 300.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6))
    assert rounded[0, 0, :, 0].tolist() == [0, 0, 0, 254, 255, 255]  # round half to even, clipped to 0..255


def test_alignment_maps_each_crop_pixel_to_its_image_point_at_any_crop_size() -> None:
    """A frame whose channels are its own x and y coordinates (bilinear sampling reproduces a linear function
    exactly): each crop pixel must hold the image point that the known similarity puts there."""
    height, width = 300, 480
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    frame = torch.from_numpy(np.stack([xs, ys, np.zeros_like(xs)]))[None]
    scale, shift = 1.7, np.array([120.0, 40.0])
    landmarks = torch.from_numpy(TEMPLATE_112.astype(np.float64) * scale + shift)[None]  # no rotation
    for size in (112, 56, 150):
        crop = align_faces(frame, landmarks, size=size)[0]
        k = np.arange(size, dtype=np.float64)
        step = 112.0 / size * scale  # image pixels per crop pixel (the template is float32: 1e-4 px)
        np.testing.assert_allclose(crop[0].numpy(), np.broadcast_to(k * step + shift[0], (size, size)), atol=1e-4)
        np.testing.assert_allclose(
            crop[1].numpy(), np.broadcast_to((k * step + shift[1])[:, None], (size, size)), atol=1e-4
        )


def test_alignment_says_what_it_expected() -> None:
    frames = torch.zeros(2, 3, 20, 20)
    marks = torch.from_numpy(TEMPLATE_112)[None]
    with pytest.raises(ValueError, match=r"^images must be \(N, C, H, W\), got shape \(3, 20, 20\)$"):
        align_faces(frames[0], marks)
    with pytest.raises(ValueError, match=r"^landmarks must be \(B, 5, 2\), got shape \(1, 4, 2\)$"):
        align_faces(frames, marks[:, :4])
    with pytest.raises(ValueError, match=r"^landmarks must be \(B, 5, 2\), got shape \(5, 2\)$"):
        align_faces(frames, marks[0])
    with pytest.raises(ValueError, match=r"^index must have one image per face, shape \(1,\), got \(2,\)$"):
        align_faces(frames, marks, index=torch.tensor([0, 1]))


def test_similarity_of_points_closer_than_a_pixel() -> None:
    """Landmarks spread over a hundredth of a pixel still give their similarity (no floor on the spread but 1e-12)."""
    from smm.face import similarity_transform

    source = torch.from_numpy(TEMPLATE_112.astype(np.float64) * 1e-4)[None]
    target = torch.from_numpy(TEMPLATE_112.astype(np.float64))
    fitted = similarity_transform(source, target)[0]
    torch.testing.assert_close(fitted[:, :2], torch.eye(2, dtype=torch.float64) * 1e4)
    torch.testing.assert_close(fitted[:, 2], torch.zeros(2, dtype=torch.float64), atol=1e-6, rtol=0)


def test_downscaled_detection_finds_the_same_faces_and_landmarks(detector: MTCNNDetector) -> None:
    """Detection on frames at half size (landmarks refined at full size) against full-resolution detection:
    the same faces on every frame, and a landmark error (against the pasted truth) within 2% of the eye
    distance of full-resolution detection's. (Full-resolution detection is itself 2.4% off the truth on
    average, so the two are compared through the truth, not with each other.)"""
    frames, truth = moving_face(30)
    full = follow(detector, frames, detect_every=1, detect_size=None)
    half = follow(detector, frames, detect_every=1, detect_size=200)  # 640 x 400 -> 320 x 200
    assert [(r[0], r[1]) for r in half] == [(r[0], r[1]) for r in full]
    full_error = np.array([interocular_error(r[3], truth[r[0] - 1]) for r in full])
    half_error = np.array([interocular_error(r[3], truth[r[0] - 1]) for r in half])
    assert half_error.mean() <= full_error.mean() + 0.02  # 0.018 against 0.024 when this test was written
    assert half_error.max() <= full_error.max() + 0.02  # 0.040 against 0.038
    crossed, _ = crossing(12)
    assert [(r[0], r[1]) for r in follow(detector, crossed, detect_size=240)] == [
        (r[0], r[1]) for r in follow(detector, crossed, detect_size=None)
    ]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=r"^detect_size must be a positive integer or None, got"):
            FaceFollower(detector, detect_size=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "size"),
    [((720, 1280), (853, 480)), ((400, 640), (320, 200)), ((101, 77), (40, 52)), ((30, 30), (30, 30))],
)
def test_the_detection_copy_is_pillows_bilinear_resize_within_one_grey_level(
    shape: tuple[int, int], size: tuple[int, int]
) -> None:
    from PIL import Image

    from smm.face.detector import downscale

    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    theirs = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)).astype(np.int64)
    image.flags.writeable = False  # decoded frames can be read-only: copied, without torch's warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = downscale(image, size)
    assert ours.shape == theirs.shape
    assert ours.dtype == np.uint8
    assert np.abs(ours.astype(np.int64) - theirs).max() <= 1
    assert (ours != theirs).mean() < 0.01


def test_the_reader_runs_ahead_and_hands_on_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("av")
    from smm.face.video import _Reader, open_video
    from tests.media import write_video

    video = write_video(tmp_path / "clip.mp4", [np.full((32, 48, 3), 10 * k, np.uint8) for k in range(7)])
    with open_video(video) as (frames, total):
        inline = list(frames)
    with open_video(video, ahead=3) as (frames, total_ahead):
        ahead = list(frames)
    assert total == total_ahead == 7
    assert [t for t, _ in ahead] == [t for t, _ in inline]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ahead, inline, strict=True))
    with open_video(video, ahead=2) as (frames, _):
        next(iter(frames))  # stop early: leaving the block stops the reader before the file closes
    with pytest.raises(ValueError, match=r"^ahead must be an integer >= 0, got -1$"):
        with open_video(video, ahead=-1):
            pass

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise ValueError("clip.mp4: cannot be decoded (Invalid data)")

    items = iter(_Reader(failing(), 1))
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(ValueError, match=r"cannot be decoded \(Invalid data\)"):
        next(items)


def test_refine_is_onet_on_the_squared_box_by_value(detector: MTCNNDetector) -> None:
    """refine against a re-implementation written here: square the box about its centre, cut it out with zeros
    outside the image, area-resize to 48 x 48, normalise, O-Net, and map its outputs back to image pixels."""
    import torch.nn.functional as F

    image = skimage_data.astronaut()[:300, :400]
    boxes = np.array([[180.4, 60.7, 270.2, 175.9], [-20.0, 250.0, 60.0, 330.0]], np.float32)  # the second leaves
    got = detector.refine(image, boxes)
    crops, squares = [], []
    for x0, y0, x1, y1 in boxes.astype(np.float64):
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        square = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
        left, top, right, bottom = (int(np.floor(v)) for v in square)
        left, top = left - 1, top - 1
        canvas = np.zeros((bottom - top, right - left, 3), np.float32)
        for row in range(top, bottom):
            for column in range(left, right):
                if 0 <= row < image.shape[0] and 0 <= column < image.shape[1]:
                    canvas[row - top, column - left] = image[row, column]
        tensor = torch.from_numpy(canvas).permute(2, 0, 1)[None]
        crops.append(F.interpolate(tensor, size=(48, 48), mode="area"))
        squares.append(square)
    with torch.no_grad():
        shift, points, probability = detector.cascade.nets.onet((torch.cat(crops) - 127.5) / 128)
    square = np.stack(squares)
    width = square[:, 2] - square[:, 0] + 1
    height = square[:, 3] - square[:, 1] + 1
    expected_x = width[:, None] * points[:, :5].double().numpy() + square[:, :1] - 1
    expected_y = height[:, None] * points[:, 5:].double().numpy() + square[:, 1:2] - 1
    np.testing.assert_allclose(got.landmarks[..., 0], expected_x, atol=1e-3)
    np.testing.assert_allclose(got.landmarks[..., 1], expected_y, atol=1e-3)
    spans = np.stack([width, height, width, height], 1)
    np.testing.assert_allclose(got.boxes, square + shift.double().numpy() * spans, atol=1e-3)
    np.testing.assert_allclose(got.scores, probability[:, 1].numpy(), atol=1e-6)
    assert got.boxes.dtype == got.scores.dtype == got.landmarks.dtype == np.float32
    assert got.scores[0] > detector.refine_threshold  # the face


def test_faces_none_and_take() -> None:
    empty = Faces.none()
    assert (empty.boxes.shape, empty.scores.shape, empty.landmarks.shape) == ((0, 4), (0,), (0, 5, 2))
    assert empty.boxes.dtype == empty.scores.dtype == empty.landmarks.dtype == np.float32
    assert len(empty) == 0
    faces = Faces(
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([0.9, 0.8, 0.7], np.float32),
        np.arange(30, dtype=np.float32).reshape(3, 5, 2),
    )
    one = faces.take(1)
    assert one.boxes.tolist() == [[4, 5, 6, 7]]  # an int keeps a batch of one
    assert one.scores.tolist() == pytest.approx([0.8])
    assert one.landmarks.shape == (1, 5, 2)
    assert faces.take([2, 0]).scores.tolist() == pytest.approx([0.7, 0.9])
    assert faces.take(np.array([], np.int64)).boxes.shape == (0, 4)
    assert faces.areas.tolist() == [4.0, 4.0, 4.0]  # (x1 - x0) * (y1 - y0) = 2 * 2


def test_large_frames_are_taken_fewer_at_a_time() -> None:
    from smm.face.video import FRAME_BUDGET, frame_chunks, frames_within

    assert FRAME_BUDGET == 32 * 2**20
    assert frames_within(3840 * 2160 * 3, 4) == 1  # 4K: 25 MB a frame
    assert frames_within(1280 * 720 * 3, 4) == 4  # 720p: 2.8 MB, not limited
    assert frames_within(FRAME_BUDGET // 3, 4) == 3  # exactly three fit
    assert frames_within(FRAME_BUDGET // 3 + 1, 4) == 2
    assert frames_within(FRAME_BUDGET + 1, 4) == 1  # at least one
    assert frames_within(0, 4) == 4
    big = [(k / 25, np.zeros((FRAME_BUDGET // 2 // 3 // 100, 100, 3), np.uint8)) for k in range(5)]  # half the budget
    assert [[t for t, _ in part] for part in frame_chunks(big, 4)] == [[0.0, 0.04], [0.08, 0.12], [0.16]]
    small = [(float(k), np.zeros((4, 4, 3), np.uint8)) for k in range(5)]
    assert [len(part) for part in frame_chunks(small, 4)] == [4, 1]
    assert list(frame_chunks([], 4)) == []


def test_the_reader_reads_ahead_within_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import smm.face.video as video
    from tests.media import write_video

    pytest.importorskip("av", reason='the video extra: pip install "smm-emotionnet[video]"')
    asked: list[int] = []

    class Recording(video._Reader):
        def __init__(self, items: Iterator[object], ahead: int) -> None:
            asked.append(ahead)
            super().__init__(items, ahead)

    monkeypatch.setattr(video, "_Reader", Recording)
    path = write_video(tmp_path / "clip.mp4", [np.full((64, 96, 3), 40 * k, np.uint8) for k in range(3)])
    for budget in (video.FRAME_BUDGET, 2 * 64 * 96 * 3, 64 * 96 * 3 - 1):
        monkeypatch.setattr(video, "FRAME_BUDGET", budget)
        with video.open_video(path, ahead=3) as (frames, _):
            assert len(list(frames)) == 3
    assert asked == [3, 2, 1]  # all three ahead; two frames' worth; less than a frame still reads one ahead


class Scripted:
    """A detector without ``refine`` that finds the same faces on every image it is given, and records the sizes."""

    min_face_size = 0

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.sizes: list[tuple[int, ...]] = []
        self.images: list[np.ndarray] = []

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        self.sizes += [image.shape for image in images]
        self.images += images
        centres = (self.boxes[:, :2] + self.boxes[:, 2:]) / 2
        points = centres[:, None, :] + np.arange(5, dtype=np.float32)[None, :, None]  # 5 points by the centre
        return [Faces(self.boxes.copy(), np.ones(len(self.boxes), np.float32), points) for _ in images]


def test_downscaled_detection_sees_the_small_frame_and_maps_back_to_full_frame_pixels() -> None:
    frames = [np.zeros((400, 640, 3), np.uint8)]
    scripted = Scripted([(10, 20, 60, 90)])
    rows = follow(scripted, frames, detect_size=200)
    assert scripted.sizes == [(200, 320, 3)]  # the shorter side at 200
    ((_, face_id, box, landmarks),) = rows
    assert face_id == 0
    np.testing.assert_allclose(box, [20, 40, 120, 180])  # x2 back to the 640 x 400 frame
    np.testing.assert_allclose(landmarks, 2 * (np.array([35, 55]) + np.arange(5)[:, None]))
    not_wider = Scripted([(10, 20, 60, 90)])
    follow(not_wider, frames, detect_size=400)  # the shorter side already at 400: the frame as it is
    assert not_wider.sizes == [(400, 640, 3)]
    larger = Scripted([(10, 20, 60, 90)])
    follow(larger, frames, detect_size=1000)  # never scaled up
    assert larger.sizes == [(400, 640, 3)]
    one = Scripted([(0, 0, 1, 1)])
    follow(one, frames, detect_size=1)  # the smallest size allowed
    assert one.sizes == [(1, 2, 3)]


def test_largest_is_the_largest_area_not_the_widest_or_tallest_face() -> None:
    # A wide face (100 x 50, area 5000), then a tall one (60 x 90, area 5400): the tall one is followed.
    rows = follow(Scripted([(0, 0, 100, 50), (200, 0, 260, 90)]), [np.zeros((120, 300, 3), np.uint8)], faces="largest")
    ((_, face_id, box, _),) = rows
    np.testing.assert_allclose(box, [200, 0, 260, 90])
    assert face_id == 0  # new faces are numbered largest first
    from smm.face.video import _area

    assert _area(np.array([10, 20, 10.5, 30])) == 5.0  # half a pixel wide
    assert _area(np.array([10, 20, 12, 20.25])) == 0.5  # a quarter of a pixel high
    assert _area(np.array([10, 20, 5, 30])) == 0.0  # turned inside out
    assert _area(np.array([10, 20, 15, 10])) == 0.0


def test_the_frame_budget_at_one_byte_a_frame() -> None:
    from smm.face.video import FRAME_BUDGET, frames_within

    assert frames_within(1, 10**9) == FRAME_BUDGET  # FRAME_BUDGET frames of one byte
    assert frames_within(2, 10**9) == FRAME_BUDGET // 2


def test_the_reader_is_a_daemon_that_stops_when_asked_and_then_says_so() -> None:
    import itertools
    import threading

    from smm.face.video import _Reader

    reader = _Reader(itertools.count(), 2)  # endless: the queue fills and the thread waits on it
    items = iter(reader)
    assert [next(items), next(items), next(items)] == [0, 1, 2]
    (thread,) = [t for t in threading.enumerate() if t.name == "smm-video-reader"]
    assert thread.daemon  # never keeps the interpreter alive
    stopper = threading.Thread(target=reader.stop)
    stopper.start()
    stopper.join(timeout=10)
    assert not stopper.is_alive(), "stop() did not return while the queue was full"
    assert not thread.is_alive()
    left: list[int] = []
    with pytest.raises(RuntimeError, match=r"^the video reader stopped before the end of the video$"):
        left.extend(items)  # what was queued, then the reader's end is noticed, not waited on forever
    assert left == list(range(3, 3 + len(left)))
    assert len(left) <= 2


def test_ffmpeg_errors_are_given_in_ffmpegs_words(tmp_path: Path) -> None:
    pytest.importorskip("av", reason='the video extra: pip install "smm-emotionnet[video]"')
    from smm.face.video import _reason, open_video

    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    # Without PyAV's errno and file name: "[Errno 1094995529] Invalid data ...: '<path>'".
    expected = f"{text}: cannot be read as a video (Invalid data found when processing input)"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"), open_video(text):
        pass
    assert _reason(ValueError("  no strerror here\n")) == "no strerror here"
    assert _reason(OSError(2, "  No such file  ")) == "No such file"


def test_a_chunk_without_faces_has_a_row_per_frame_and_no_crops() -> None:
    follower = FaceFollower(Scripted([]))  # type: ignore[arg-type]
    part = follower.chunk([(0.0, np.zeros((50, 60, 3), np.uint8)), (0.04, np.zeros((50, 60, 3), np.uint8))])
    assert part.frame.tolist() == [1, 2]
    np.testing.assert_array_equal(part.time, [0.0, 0.04])
    assert part.face_id.tolist() == [-1, -1]
    assert part.box.shape == (2, 4)
    assert part.landmarks.shape == (2, 5, 2)
    assert np.isnan(part.box).all()
    assert np.isnan(part.landmarks).all()
    assert (part.box.dtype, part.landmarks.dtype) == (np.float32, np.float32)
    assert part.crops.shape == (0, 112, 112, 3)
    assert part.crops.dtype == torch.uint8
    assert follower.frames == 2
    assert follower.size == (60, 50)


def test_an_empty_chunk_has_no_rows() -> None:
    part = FaceFollower(Scripted([])).chunk([])  # type: ignore[arg-type]
    assert [len(field) for field in part] == [0] * 6
    assert part.box.shape == (0, 4)
    assert part.landmarks.shape == (0, 5, 2)
    assert (part.box.dtype, part.landmarks.dtype) == (np.float32, np.float32)
    assert part.crops.shape == (0, 112, 112, 3)


def test_cuts_compare_grey_thumbnails_of_about_64_by_36() -> None:
    def cuts(first: np.ndarray, second: np.ndarray) -> list[int]:
        counting = Counting()
        FaceFollower(counting, detect_every=99).chunk([(0.0, first), (0.04, second)])  # type: ignore[arg-type]
        return counting.levels

    halves = np.zeros((36, 64, 3), np.uint8)
    halves[:, 32:] = 200
    assert cuts(halves, halves[:, ::-1].copy()) == [0, 200]  # the same mean level, the halves swapped: a cut
    colour = np.zeros((36, 64, 3), np.uint8)
    colour[..., 0] = 200
    assert cuts(colour, colour[..., ::-1].copy()) == [200]  # red to blue, the same grey: not a cut
    # A 64 x 36 frame is its own thumbnail: a change on every other row or column is seen ...
    plain = np.zeros((36, 64, 3), np.uint8)
    for lines in (np.s_[1::2, :], np.s_[:, 1::2]):
        changed = plain.copy()
        changed[lines] = 255
        assert len(cuts(plain, changed)) == 2
    # ... while a 128 x 72 frame's thumbnail takes every other row and column: a change between them is not.
    plain = np.zeros((72, 128, 3), np.uint8)
    for lines in (np.s_[1::2, :], np.s_[:, 1::2]):
        changed = plain.copy()
        changed[lines] = 255
        assert len(cuts(plain, changed)) == 1


class ScriptedRefiner(Scripted):
    """``Scripted`` plus a ``refine`` that moves each box by (1, 1) and scores it ``score``; records its calls."""

    def __init__(
        self, boxes: list[tuple[float, float, float, float]], score: float, threshold: float | None = 0.7
    ) -> None:
        super().__init__(boxes)
        self.score = score
        if threshold is not None:  # None: a refiner without its threshold (refused)
            self.refine_threshold = threshold
        self.refined: list[tuple[tuple[int, ...], np.ndarray]] = []
        self.marks: list[int] = []  # the first pixel of each image refined on

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
        self.refined.append((image.shape, np.array(boxes)))
        self.marks.append(int(image[0, 0, 0]))
        moved = np.asarray(boxes, np.float32) + 1
        points = (moved[:, None, :2] + moved[:, None, 2:]) / 2 + np.arange(5, dtype=np.float32)[None, :, None]
        return Faces(moved, np.full(len(moved), self.score, np.float32), points)


def test_downscaled_detection_is_refined_on_the_full_frame_by_the_detectors_threshold() -> None:
    frames = [np.zeros((400, 640, 3), np.uint8)]
    at = ScriptedRefiner([(10, 20, 60, 90)], score=0.7)  # exactly at the default threshold: refined
    ((_, _, box, landmarks),) = follow(at, frames, detect_size=200)
    assert [shape for shape, _ in at.refined] == [(400, 640, 3)]  # on the full frame ...
    np.testing.assert_allclose(at.refined[0][1], [[20, 40, 120, 180]])  # ... at the box mapped back
    np.testing.assert_allclose(box, [21, 41, 121, 181])
    np.testing.assert_allclose(landmarks, np.array([71, 111]) + np.arange(5)[:, None])
    own = ScriptedRefiner([(10, 20, 60, 90)], score=0.8, threshold=0.9)  # below the detector's own threshold
    ((_, _, box, landmarks),) = follow(own, frames, detect_size=200)
    np.testing.assert_allclose(box, [20, 40, 120, 180])  # the mapped detection is kept
    np.testing.assert_allclose(landmarks, 2 * (np.array([35, 55]) + np.arange(5)[:, None]))
    full = ScriptedRefiner([(10, 20, 60, 90)], score=1.0)
    ((_, _, box, _),) = follow(full, frames, detect_size=400)  # detected at full size: nothing to refine
    np.testing.assert_allclose(box, [10, 20, 60, 90])
    assert full.refined == []
    none = ScriptedRefiner([], score=1.0)
    follow(none, frames, detect_size=200)
    assert none.refined == []  # no face found, nothing refined


def test_downscaled_detection_resamples_bilinearly_to_at_least_a_pixel() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (400, 640, 3), dtype=np.uint8)
    scripted = Scripted([])
    FaceFollower(scripted, detect_size=100).chunk([(0.0, frame)])  # type: ignore[arg-type]
    expected = np.asarray(Image.fromarray(frame).resize((160, 100), Image.BILINEAR)).astype(np.int64)
    (seen,) = scripted.images
    assert seen.shape == expected.shape
    assert np.abs(seen - expected).max() <= 1  # torch's antialiased bilinear rounds within a level of Pillow's
    portrait = Scripted([])
    FaceFollower(portrait, detect_size=1).chunk([(0.0, np.zeros((640, 400, 3), np.uint8))])  # type: ignore[arg-type]
    assert portrait.sizes == [(2, 1, 3)]
    landscape = Scripted([])
    FaceFollower(landscape, detect_size=1).chunk([(0.0, np.zeros((400, 640, 3), np.uint8))])  # type: ignore[arg-type]
    assert landscape.sizes == [(1, 2, 3)]


def test_between_detections_faces_are_refined_at_the_detectors_threshold() -> None:
    frames = [np.full((400, 640, 3), k, np.uint8) for k in range(1, 4)]

    def seen(score: float, threshold: float | None) -> list[int]:
        refiner = ScriptedRefiner([(10, 20, 60, 90)], score=score, threshold=threshold)
        rows = follow(refiner, frames, detect_every=99, detect_size=None)
        assert refiner.marks == [2, 3]  # refined on frames 2 and 3, at the track's box
        return [face_id for _, face_id, _, _ in rows]

    assert seen(0.7, 0.7) == [0, 0, 0]  # exactly at the threshold counts
    assert seen(0.69, 0.7) == [0, -1, -1]
    assert seen(0.9, 0.9) == [0, 0, 0]
    assert seen(0.8, 0.9) == [0, -1, -1]
    rows = follow(ScriptedRefiner([(10, 20, 60, 90)], score=1.0), frames, detect_every=99, detect_size=None)
    # Refined at the track's predicted box, moved by 1: on frame 3 the velocity is half of frame 2's move.
    expected = [[10, 20, 60, 90], [11, 21, 61, 91], [12.5, 22.5, 62.5, 92.5]]
    np.testing.assert_allclose([box for _, _, box, _ in rows], expected)
    at = ScriptedRefiner([(10, 20, 60, 90)], score=0.7, threshold=0.7)
    ((_, _, box, _),) = follow(at, frames[:1], detect_size=200)  # after a downscaled detection too
    np.testing.assert_allclose(box, [21, 41, 121, 181])
    with pytest.raises(TypeError, match=r"^a detector with refine\(\) must have refine_threshold, a number in"):
        FaceFollower(ScriptedRefiner([], score=1.0, threshold=None))  # type: ignore[arg-type]


def test_a_lost_face_is_looked_for_up_to_refine_gap_frames_after_it_was_last_seen() -> None:
    from smm.face.video import REFINE_GAP

    assert REFINE_GAP == 5
    frames = [np.full((120, 160, 3), k, np.uint8) for k in range(1, 13)]
    lost = ScriptedRefiner([(10, 20, 60, 90)], score=0.0)  # found on frame 1, never again
    rows = follow(lost, frames, detect_every=99, detect_size=None)
    assert lost.marks == [2, 3, 4, 5, 6]  # 1 to 5 frames after frame 1
    assert [face_id for _, face_id, _, _ in rows] == [0] + [-1] * 11


def test_a_younger_track_on_the_same_face_gives_way() -> None:
    from smm.face.video import DUPLICATE_IOU, _without_duplicates

    assert DUPLICATE_IOU == 0.5
    points = np.zeros((5, 2), np.float32)

    def face(*box: float) -> tuple[np.ndarray, np.ndarray]:
        return np.array(box, np.float32), points

    seen = {
        0: face(0, 0, 10, 10),
        1: face(0, 0, 10, 11),  # IoU 10/11 with face 0: the same face
        2: face(100, 100, 110, 110),
        3: face(100, 100, 110, 120),  # IoU exactly 0.5 with face 2: still another face
        4: face(200, 0, 210, 10),
    }
    assert list(_without_duplicates(seen)) == [0, 2, 3, 4]
    assert list(_without_duplicates({5: seen[1], 7: seen[0]})) == [5]  # the older id stays
    # Whatever order they were seen in: a new detection (id 7) listed before the older refined track (id 5).
    kept = _without_duplicates({7: seen[0], 5: seen[1]})
    assert list(kept) == [5]
    assert np.array_equal(kept[5][0], seen[1][0])  # with its own box, not the younger track's


def test_aligned_crops_take_tensors_and_read_only_frames_alike() -> None:
    import warnings

    from smm.face.video import aligned_crops

    frame = np.random.default_rng(0).integers(0, 256, (1, 150, 120, 3), dtype=np.uint8)
    landmarks = (TEMPLATE_112 * 1.2 + 10).astype(np.float32)[None]
    index = np.zeros(1, np.int64)
    crops = aligned_crops(frame, landmarks, index)
    assert crops.dtype == torch.uint8
    assert crops.shape == (1, 112, 112, 3)
    readonly = frame.copy()
    readonly.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about arrays it cannot write
        assert torch.equal(aligned_crops(readonly, landmarks, index), crops)
    assert torch.equal(aligned_crops(torch.from_numpy(frame), landmarks, index), crops)


def test_the_reader_waits_for_a_slow_decoder() -> None:
    import time

    from smm.face.video import _Reader

    def slow() -> Iterator[int]:
        for k in range(3):
            time.sleep(0.3)  # longer than the reader's wait between checks (0.1 s)
            yield k

    assert list(_Reader(slow(), 2)) == [0, 1, 2]
