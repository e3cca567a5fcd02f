"""Our MTCNN cascade (``smm.face.mtcnn``) against facenet-pytorch's (the oracle, in the ``dev`` extra) on real
photos and generated frames, and each of its stages by value against a numpy re-implementation written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from smm.face.mtcnn import (
    CELL,
    SCALE_FACTOR,
    WEIGHTS,
    Cascade,
    crop_windows,
    crops,
    load_networks,
    nms,
    proposals,
    pyramid_level,
    regress,
    resample,
    scales,
    square,
)
from tests.media import place, similarity

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")


def _photos() -> dict[str, np.ndarray]:
    """Real faces: the astronaut, a group made of four LFW faces of several sizes, and single LFW faces."""
    lfw = [np.asarray(Image.fromarray((f * 255).astype(np.uint8)).convert("RGB")) for f in skimage_data.lfw_subset()]
    group = Image.new("RGB", (420, 300), (120, 110, 100))
    for k, (size, x, y) in enumerate([(120, 10, 20), (90, 150, 40), (70, 260, 120), (50, 340, 30)]):
        group.paste(Image.fromarray(lfw[k * 7]).resize((size, size)), (x, y))
    photos = {"astronaut": skimage_data.astronaut(), "group": np.asarray(group)}
    photos |= {f"lfw{k}": np.asarray(Image.fromarray(lfw[k]).resize((112, 112))) for k in range(0, 60, 6)}
    return photos


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x1, y1 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@pytest.fixture(scope="module")
def oracle() -> object:
    facenet = pytest.importorskip("facenet_pytorch", reason="the oracle: pip install -e '.[dev]'")
    return facenet.MTCNN(keep_all=True, device="cpu", min_face_size=20, thresholds=[0.6, 0.7, 0.7], post_process=False)


def _same_faces(ours: object, boxes: object, points: object) -> None:
    theirs = np.zeros((0, 4)) if boxes is None else np.asarray(list(boxes), np.float32).reshape(-1, 4)
    assert len(ours.boxes) == len(theirs)
    if not len(theirs):
        return
    overlap = _iou(ours.boxes, theirs)
    match = overlap.argmax(1)
    assert sorted(match.tolist()) == list(range(len(theirs)))  # one to one
    assert overlap.max(1).min() >= 0.95
    landmarks = np.asarray(list(points), np.float32).reshape(-1, 5, 2)[match]
    assert np.abs(ours.landmarks - landmarks).max() <= 1.5


def test_the_cascade_finds_what_facenet_finds_on_real_photos(oracle: object) -> None:
    cascade = Cascade()
    counts = {}
    for name, photo in _photos().items():
        ours = cascade.detect(photo[None])
        boxes, _, points = oracle.detect(photo[None], landmarks=True)
        _same_faces(ours, boxes[0], points[0])
        counts[name] = len(ours.boxes)
    assert counts["astronaut"] == 1
    assert counts["group"] == 4  # all four, from 50 to 120 px


def test_a_batch_of_generated_frames_is_detected_as_facenet_detects_each(oracle: object) -> None:
    """Frames of one size in one batch (moving, turning, scaled, mirrored, two faces, none): each frame's faces are
    facenet's on that frame alone, and the batch's image index says whose they are."""
    head = skimage_data.astronaut()[20:260, 120:340]
    frames = []
    for k, (angle, scale, x) in enumerate([(0, 0.5, 20), (15, 0.6, 80), (-20, 0.4, 150), (0, 0.3, 200)]):
        frame = place(head, similarity(angle, scale, (x, 30.0)), (360, 240))
        frames.append(frame[:, ::-1].copy() if k == 2 else frame)
    two = place(head, similarity(0, 0.35, (10.0, 40.0)), (360, 240))
    frames.append(np.where(two == 90, place(head, similarity(10, 0.35, (200.0, 60.0)), (360, 240)), two))
    frames.append(np.full((240, 360, 3), 90, np.uint8))
    found = Cascade().detect(np.stack(frames))
    for k, frame in enumerate(frames):
        mine = found.image == k
        ours = type(found)(found.image[mine], found.boxes[mine], found.scores[mine], found.landmarks[mine])
        boxes, _, points = oracle.detect(frame[None], landmarks=True)
        _same_faces(ours, boxes[0], points[0])
    assert np.bincount(found.image, minlength=len(frames)).tolist() == [1, 1, 1, 1, 2, 0]


def test_the_weights_are_facenets(oracle: object) -> None:
    nets = load_networks()
    for name in ("pnet", "rnet", "onet"):
        theirs = getattr(oracle, name).state_dict()
        ours = getattr(nets, name).state_dict()
        assert sorted(ours) == sorted(theirs)
        for key, value in theirs.items():
            assert torch.equal(ours[key], value.float()), (name, key)
    assert WEIGHTS.stat().st_size < 2_100_000


def test_the_pyramid_scales() -> None:
    # By hand: 12 / 20 = 0.6 first; 100 px * 0.6 = 60 >= 12 ... until the shorter side falls below 12.
    expected, scale, side = [], 0.6, 60.0
    while side >= 12:
        expected.append(scale)
        scale, side = scale * 0.709, side * 0.709
    assert scales(100, 300, 20) == pytest.approx(expected)
    assert len(expected) == 5  # 60, 42.5, 30.2, 21.4, 15.2
    assert scales(19, 500, 20) == []  # 19 * 0.6 = 11.4 < 12: no level holds a window
    assert scales(20, 500, 20) == [0.6]  # 12 exactly: one level
    assert SCALE_FACTOR == 0.709
    assert CELL == 12


def test_crops_and_levels_are_area_averages_with_zeros_outside() -> None:
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)).permute(0, 3, 1, 2)
    # Inside the frame: interpolate(mode="area") of each region, as the published detector crops; regions of
    # several size classes (tall, wide, from the corner) in one call.
    regions = [(1, 5, 7, 25, 30), (0, 0, 0, 37, 9), (1, 2, 3, 7, 50), (0, 10, 20, 3, 3)]
    index, top, left, rows, cols = (torch.tensor(v) for v in zip(*regions, strict=True))
    got = crops(frames, index, top, left, rows, cols, 12)
    for k, (b, y, x, h, w) in enumerate(regions):
        expected = F.interpolate(frames[b : b + 1, :, y : y + h, x : x + w].float(), size=(12, 12), mode="area")
        torch.testing.assert_close(got[k : k + 1], expected)
    # Wholly outside the frame: zeros.
    outside = crops(frames, torch.tensor([0]), torch.tensor([40]), torch.tensor([5]), torch.tensor([6]),
                    torch.tensor([6]), 12)  # fmt: skip
    assert torch.equal(outside, torch.zeros(1, 3, 12, 12))
    # Partly outside: the region padded with zeros by numpy, then averaged.
    got = crops(
        frames, torch.tensor([0]), torch.tensor([-4]), torch.tensor([30]), torch.tensor([12]), torch.tensor([40]), 6
    )
    padded = np.zeros((3, 12, 40), np.float32)
    padded[:, 4:12, 0:23] = frames[0, :, 0:8, 30:53].numpy()
    expected = F.adaptive_avg_pool2d(torch.from_numpy(padded)[None], (6, 6))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(resample(frames, (5, 9)), F.adaptive_avg_pool2d(frames.float(), (5, 9)))


def test_many_small_crops_averaged_together_are_each_crops_area_average() -> None:
    """A size class of BATCHED_CROPS or more small regions takes the batched path (pooling matrices on
    canvases): each region, inside or across the border, is still its own zero-padded area average."""
    from smm.face.mtcnn import BATCHED_CROPS, BATCHED_SIDE

    assert (BATCHED_CROPS, BATCHED_SIDE) == (8, 128)
    rng = np.random.default_rng(3)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 40, 60, 3), dtype=np.uint8)).permute(0, 3, 1, 2)
    spans = [(k % 2, int(rng.integers(-6, 30)), int(rng.integers(-6, 50)), 17 + k, 20 - k) for k in range(10)]
    spans += [(0, 3, 4, 5, 5)]  # a class of one: pooled alone
    index, top, left, rows, cols = (torch.tensor(v) for v in zip(*spans, strict=True))
    got = crops(frames, index, top, left, rows, cols, 12)
    for k, (b, y, x, h, w) in enumerate(spans):
        padded = np.zeros((3, 40 + 80, 60 + 80), np.float32)  # the frame placed in zeros, the region cut out
        padded[:, 40 : 40 + 40, 40 : 40 + 60] = frames[b].numpy()
        region = torch.from_numpy(padded[:, 40 + y : 40 + y + h, 40 + x : 40 + x + w].copy())
        torch.testing.assert_close(got[k], F.adaptive_avg_pool2d(region[None], (12, 12))[0], msg=str(spans[k]))


def test_proposals_regression_squaring_and_crops_by_value() -> None:
    probability = torch.zeros(2, 4, 5)
    probability[0, 1, 3] = 0.7
    probability[1, 2, 0] = 0.6  # at the threshold: kept
    probability[1, 3, 4] = 0.59
    offsets = torch.arange(2 * 4 * 4 * 5, dtype=torch.float32).reshape(2, 4, 4, 5) / 100
    image, boxes, score, shift = proposals(offsets, probability, 0.5, 0.6)
    assert image.tolist() == [0, 1]
    # Window (y=1, x=3) at scale 0.5: floor((2*3 + 1) / 0.5) = 14, floor((2*1 + 1) / 0.5) = 6, ... (2*3 + 12) / 0.5.
    assert boxes.tolist() == [[14.0, 6.0, 36.0, 28.0], [2.0, 10.0, 24.0, 32.0]]
    assert score.tolist() == pytest.approx([0.7, 0.6])
    torch.testing.assert_close(shift[0], offsets[0, :, 1, 3])
    box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    move = torch.tensor([[0.1, -0.1, 0.2, 0.05]])
    torch.testing.assert_close(regress(box, move, plus_one=False), torch.tensor([[12.0, 16.0, 34.0, 62.0]]))
    torch.testing.assert_close(regress(box, move, plus_one=True), torch.tensor([[12.1, 15.9, 34.2, 62.05]]))
    assert square(box).tolist() == [[0.0, 20.0, 40.0, 60.0]]  # side 40 about the centre (20, 40)
    boxes = torch.tensor([[-3.5, 2.9, 50.7, 20.2], [5.0, 5.0, 8.0, 9.0], [3.2, -6.0, 9.9, 4.0]])
    top, left, rows, cols = crop_windows(boxes, 40, 18)
    # x0 = 1 (clipped), y0 = 2 (truncated) -> from column 0, row 1; x1 = 40, y1 = 18 (clipped); y0 = -6 -> 1 -> row 0.
    assert top.tolist() == [1, 4, 0]
    assert left.tolist() == [0, 4, 2]
    assert rows.tolist() == [17, 5, 4]
    assert cols.tolist() == [40, 4, 7]


def _nms_reference(boxes: np.ndarray, scores: np.ndarray, threshold: float, smaller: bool) -> list[int]:
    """The greedy rule written out pair by pair."""
    extra = 1.0 if smaller else 0.0
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:
        ok = True
        for j in kept:
            w = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + extra)
            h = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + extra)
            a = (boxes[i, 2] - boxes[i, 0] + extra) * (boxes[i, 3] - boxes[i, 1] + extra)
            b = (boxes[j, 2] - boxes[j, 0] + extra) * (boxes[j, 3] - boxes[j, 1] + extra)
            overlap = w * h / (min(a, b) if smaller else a + b - w * h)
            ok = ok and overlap <= threshold
        if ok:
            kept.append(i)
    return kept


@pytest.mark.parametrize("smaller", [False, True])
def test_nms_by_value(smaller: bool) -> None:
    rng = np.random.default_rng(3)
    corner = rng.uniform(0, 80, (60, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(10, 40, (60, 2))], 1)
    scores = rng.permutation(60) / 60
    groups = rng.integers(0, 3, 60)
    kept = nms(boxes, scores, groups, 0.5 if not smaller else 0.7, smaller=smaller)
    expected = []
    for group in range(3):
        members = np.flatnonzero(groups == group)
        expected += [
            members[k] for k in _nms_reference(boxes[members], scores[members], 0.5 if not smaller else 0.7, smaller)
        ]
    assert kept.tolist() == expected
    # Boxes apart overlap by nothing, however low the threshold; tiny boxes keep their true overlap.
    apart = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    assert nms(apart, np.array([0.9, 0.8]), np.zeros(2), 0.0).tolist() == [0, 1]
    beside = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]])  # apart across, level down
    assert nms(beside, np.array([0.9, 0.8]), np.zeros(2), 0.0).tolist() == [0, 1]
    above = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 20.0, 10.0, 30.0]])  # apart down, level across
    assert nms(above, np.array([0.9, 0.8]), np.zeros(2), 0.0).tolist() == [0, 1]
    tiny = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5]])
    assert nms(tiny, np.array([0.9, 0.8]), np.zeros(2), 0.3).tolist() == [0]
    # The last stage's rule: spans of x1 - x0 + 1 pixels, over the smaller box: 50 / 100 here.
    side = np.array([[0.0, 0.0, 9.0, 9.0], [5.0, 0.0, 14.0, 9.0]])
    assert nms(side, np.array([0.9, 0.8]), np.zeros(2), 0.52, smaller=True).tolist() == [0, 1]
    assert nms(side, np.array([0.9, 0.8]), np.zeros(2), 0.48, smaller=True).tolist() == [0]
    # Exactly at the threshold: kept (only more than the threshold suppresses).
    pair = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 30.0]])  # IoU 1/3
    assert nms(pair, np.array([0.9, 0.8]), np.zeros(2), 1 / 3).tolist() == [0, 1]
    assert nms(pair, np.array([0.9, 0.8]), np.zeros(2), 0.3).tolist() == [0]


def test_the_cascade_refuses_bad_settings_and_finds_nothing_in_flat_frames() -> None:
    with pytest.raises(ValueError, match=r"^min_face_size must be a positive integer, got 0$"):
        Cascade(min_face_size=0)
    with pytest.raises(ValueError, match=r"^thresholds must be 3 probabilities"):
        Cascade(thresholds=(0.6, 0.7))
    with pytest.raises(ValueError, match=r"^pyramid must be one of 'area', 'antialiased', got 'bilinear'$"):
        Cascade(pyramid="bilinear")
    with pytest.raises(ValueError, match=r"^min_face_size must be a positive integer, got True$"):
        Cascade(min_face_size=True)
    with pytest.raises(ValueError, match=r"^thresholds must be 3 probabilities"):
        Cascade(thresholds=(0.6, 0.7, 1.5))
    edges = Cascade(min_face_size=1, thresholds=(0, 0.5, 1))  # the ends of each range are allowed
    assert (edges.min_face_size, edges.thresholds) == (1, (0.0, 0.5, 1.0))
    found = Cascade().detect(np.full((2, 64, 80, 3), 128, np.uint8))
    assert (found.boxes.shape, found.landmarks.shape, found.image.tolist()) == ((0, 4), (0, 5, 2), [])
    assert Cascade().refine(np.zeros((40, 40, 3), np.uint8), np.zeros((0, 4))).boxes.shape == (0, 4)


@pytest.mark.parametrize("size", [(29, 41), (11, 16), (37, 53)])
def test_a_pyramid_level_is_the_area_average_of_float_frames_or_pillows_resize_of_8_bit_ones(size) -> None:
    rng = np.random.default_rng(size[0])
    pixels = rng.integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
    frames = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    torch.testing.assert_close(pyramid_level(frames.float(), size), F.interpolate(frames.float(), size, mode="area"))
    level = pyramid_level(frames, size)
    assert level.dtype == torch.float32
    assert torch.equal(level, level.round())  # 8-bit values, on the 0..255 scale
    for k in range(2):
        pillow = np.asarray(Image.fromarray(pixels[k]).resize(size[::-1], Image.BILINEAR), np.float32)
        assert np.abs(level[k].permute(1, 2, 0).numpy() - pillow).max() <= 1


def test_the_antialiased_pyramid_finds_the_same_faces_nearly_where_the_area_pyramid_does() -> None:
    photos = _photos()
    for name in ("astronaut", "group"):
        image = photos[name][None]
        area, antialiased = Cascade().detect(image), Cascade(pyramid="antialiased").detect(image)
        assert len(antialiased.boxes) == len(area.boxes) >= 1
        overlap = _iou(antialiased.boxes, area.boxes)
        assert sorted(overlap.argmax(1).tolist()) == list(range(len(area.boxes)))
        assert overlap.max(1).min() >= 0.8
        sides = (area.boxes[:, 2] - area.boxes[:, 0])[overlap.argmax(1)]
        error = np.linalg.norm(antialiased.landmarks - area.landmarks[overlap.argmax(1)], axis=2).max(1)
        assert (error <= 0.1 * sides).all()  # within a tenth of the face
    # The setting has an effect: P-Net sees other pixels, so the boxes move.
    astronaut = photos["astronaut"][None]
    assert not np.allclose(Cascade(pyramid="antialiased").detect(astronaut).boxes, Cascade().detect(astronaut).boxes)
    # MTCNNDetector hands the setting to its cascade.
    from smm.face import MTCNNDetector

    found = Cascade(pyramid="antialiased").detect(astronaut)
    faces = MTCNNDetector(pyramid="antialiased").detect([astronaut[0]])[0]
    np.testing.assert_array_equal(np.sort(faces.boxes, 0), np.sort(found.boxes[found.scores >= 0.9], 0))
