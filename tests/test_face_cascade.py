"""The batched MTCNN cascade: its pieces by formula, and its faces against facenet-pytorch's own detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("facenet_pytorch", reason='the face extra: pip install "smm-emotionnet[face]"')
skimage_data = pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402

from smm.face import MTCNNDetector  # noqa: E402
from smm.face.cascade import (  # noqa: E402
    PYRAMID_FACTOR,
    _inside,
    _nms_min,
    _regress,
    _square,
    detect_faces,
    pyramid_scales,
)


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


def test_the_pyramid_starts_at_the_smallest_face_and_stops_at_the_window() -> None:
    scales = pyramid_scales(100, 200, 20)
    expected = []
    scale = 12 / 20
    while 100 * scale >= 12:  # the shorter side, scaled, still holds P-Net's 12-pixel window
        expected.append(scale)
        scale *= 0.709
    assert PYRAMID_FACTOR == 0.709
    np.testing.assert_allclose(scales, expected)
    assert len(scales) == 5  # 60, 42.5, 30.2, 21.4, 15.2 pixels; 10.7 is too small
    assert pyramid_scales(100, 200, 40)[0] == pytest.approx(0.3)
    assert pyramid_scales(11, 300, 12) == []  # an image smaller than the window
    assert pyramid_scales(12, 300, 12) == [1.0]  # exactly the window


def test_boxes_are_squared_regressed_and_kept_by_formula() -> None:
    box = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # 20 wide, 40 high
    np.testing.assert_allclose(_square(box), [[0.0, 20.0, 40.0, 60.0]])  # the longer side, about the centre
    reg = torch.tensor([[0.1, -0.1, 0.2, 0.0]])
    # Shifts in units of the pixel span, 21 x 41: 10 + 2.1, 20 - 4.1, 30 + 4.2, 60.
    np.testing.assert_allclose(_regress(box, reg), [[12.1, 15.9, 34.2, 60.0]])
    boxes = torch.tensor([[-50.0, -50.0, -1.0, -1.0], [-50.0, -50.0, 1.5, 1.0], [5, 5, 9, 9], [99, 5, 120, 9]])
    kept, index = _inside(boxes.double(), torch.arange(4), 50, 100)
    # Columns and rows x0 - 1 .. x1 - 1: the first box reads nothing; the second reads pixel (0, 0) (its
    # truncated corner is 1, 1: column 0, row 0); the last starts at column 98 of 100.
    assert index.tolist() == [1, 2, 3]
    assert kept.shape == (3, 4)


def test_min_suppression_measures_overlap_against_the_smaller_box() -> None:
    boxes = np.array(
        [
            [0, 0, 99, 99],  # the best
            [10, 10, 29, 29],  # inside it: IoU 0.04, but all of the smaller box: suppressed
            [0, 0, 99, 99],  # the same box in another image: kept
            [70, 0, 169, 99],  # overlaps the best by 30 of its 100 columns: 0.3 <= 0.7, kept
            [29, 0, 128, 99],  # 71 of 100 columns: 0.71 > 0.7, suppressed
            [30, 0, 129, 99],  # 70 of 100: exactly 0.7, kept
        ],
        np.float64,
    )
    scores = np.array([0.99, 0.98, 0.5, 0.97, 0.96, 0.95])
    index = np.array([0, 0, 1, 0, 0, 0])
    assert sorted(_nms_min(boxes, scores, index, 0.7).tolist()) == [0, 2, 3, 5]
    # The best is picked first, whatever its position.
    assert _nms_min(boxes[[1, 0]], scores[[1, 0]], index[[1, 0]], 0.7).tolist() == [1]


def _facenet(detector: MTCNNDetector, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, scores, points = detector._mtcnn.detect(image[None], landmarks=True)
    if boxes[0] is None:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    return (
        np.asarray(list(boxes[0]), float).reshape(-1, 4),
        np.asarray(list(scores[0]), float),
        np.asarray(list(points[0]), float).reshape(-1, 5, 2),
    )


def _scenes() -> list[np.ndarray]:
    astronaut = skimage_data.astronaut()
    head = Image.fromarray(astronaut[20:260, 120:340])
    group = Image.new("RGB", (700, 360), (70, 90, 110))
    for k, (x, y, side) in enumerate([(20, 40, 150), (200, 60, 120), (360, 30, 180), (560, 100, 100)]):
        face = head.resize((side, int(side * 1.1)))
        group.paste(face.transpose(Image.FLIP_LEFT_RIGHT) if k % 2 else face, (x, y))
    wide = Image.new("RGB", (853, 480), (80, 80, 80))
    wide.paste(Image.fromarray(astronaut).resize((320, 320)), (300, 60))
    camera = np.asarray(Image.fromarray(skimage_data.camera()).convert("RGB"))
    return [astronaut, np.asarray(group), np.asarray(wide), camera]


def test_the_faces_are_facenet_pytorchs_own(detector: MTCNNDetector) -> None:
    """The same faces as facenet-pytorch's detector (the reference implementation, same networks): each box
    within 2.5 pixels, each landmark within 2 pixels, each score within 0.01; only the resizing of the
    candidates differs (one batched area-average instead of one call per candidate)."""
    mtcnn = detector._mtcnn
    counts = []
    for image in _scenes():
        theirs = _facenet(detector, image)
        batch = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
        ours = detect_faces(batch, (mtcnn.pnet, mtcnn.rnet, mtcnn.onet), min_face_size=20, thresholds=(0.6, 0.7, 0.7))
        boxes, scores, landmarks = ours[0]
        sure = scores >= 0.9  # the detector keeps these (min_score)
        their_sure = theirs[1] >= 0.9
        assert sure.sum() == their_sure.sum()
        counts.append(int(sure.sum()))
        order = np.argsort(boxes[sure][:, 0])
        their_order = np.argsort(theirs[0][their_sure][:, 0])
        np.testing.assert_allclose(boxes[sure][order], theirs[0][their_sure][their_order], atol=2.5)
        np.testing.assert_allclose(landmarks[sure][order], theirs[2][their_sure][their_order], atol=2.0)
        np.testing.assert_allclose(scores[sure][order], theirs[1][their_sure][their_order], atol=0.01)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        assert list(areas) == sorted(areas, reverse=True)  # the largest face first, as facenet-pytorch orders them
    assert counts[:3] == [1, 4, 1]  # the astronaut, the four pasted heads, the wide frame


def test_a_batch_is_each_image_alone(detector: MTCNNDetector) -> None:
    group, wide = _scenes()[1:3]
    same = np.asarray(Image.fromarray(wide).resize(group.shape[1::-1]))
    together = detector.detect([group, same])
    alone = [detector.detect([group])[0], detector.detect([same])[0]]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
    assert [len(f) for f in together] == [4, 1]
