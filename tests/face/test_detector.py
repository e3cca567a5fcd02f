"""The detector interface: what the pipeline reads of a detector is declared and checked, not guessed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from smm.face import FaceDetector, Faces, LandmarkRefiner, check_detector


class _Detector:
    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        return [Faces.none() for _ in images]


class _Refiner(_Detector):
    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
        return Faces.none()


@pytest.mark.parametrize("size", [0, 1, 20, np.int64(40)])
def test_a_detector_with_detect_and_a_smallest_face_passes(size: int) -> None:
    detector = _Detector(min_face_size=size)
    assert check_detector(detector) is detector
    assert isinstance(detector, FaceDetector)
    assert not isinstance(detector, LandmarkRefiner)


@pytest.mark.parametrize("threshold", [0, 0.7, 1])
def test_a_refiner_with_its_threshold_passes(threshold: float) -> None:
    refiner = _Refiner(min_face_size=20, refine_threshold=threshold)
    assert check_detector(refiner) is refiner
    assert isinstance(refiner, LandmarkRefiner)


def test_mtcnn_declares_both() -> None:
    pytest.importorskip("safetensors")
    from smm.face import MTCNNDetector

    detector = MTCNNDetector(min_face_size=30, thresholds=(0.6, 0.7, 0.8))
    assert check_detector(detector) is detector
    assert detector.min_face_size == 30
    assert detector.refine_threshold == 0.8


@pytest.mark.parametrize(
    ("detector", "message"),
    [
        (object(), r"^detector must have a detect\(images\) method \(smm\.face\.FaceDetector\), object has none$"),
        (_Detector(), r"^detector\.min_face_size must be an integer >= 0 .*, _Detector has None$"),
        (_Detector(min_face_size=-1), r"^detector\.min_face_size must be an integer >= 0 .*, _Detector has -1$"),
        (_Detector(min_face_size=2.5), r"^detector\.min_face_size must be an integer >= 0 .*, _Detector has 2\.5$"),
        (_Detector(min_face_size=True), r"^detector\.min_face_size must be an integer >= 0 .*, _Detector has True$"),
        (_Refiner(min_face_size=0), r"^a detector with refine\(\) must have refine_threshold, .*, _Refiner has None$"),
        (_Refiner(min_face_size=0, refine_threshold=1.5), r"refine_threshold, a number in \[0, 1\] .* has 1\.5$"),
        (_Refiner(min_face_size=0, refine_threshold="0.7"), r"refine_threshold, a number in \[0, 1\] .* has '0\.7'$"),
        (_Refiner(min_face_size=0, refine_threshold=False), r"refine_threshold, a number in \[0, 1\] .* has False$"),
    ],
)
def test_what_is_missing_is_named(detector: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        check_detector(detector)


def test_every_entry_point_checks_the_detector_before_it_works(tiny_model: Any) -> None:
    import smm
    from smm.face import FaceFollower
    from smm.face.detector import detect_scaled

    bad = _Detector()  # no min_face_size
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(TypeError, match=r"^detector\.min_face_size"):
        FaceFollower(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^detector\.min_face_size"):
        detect_scaled(bad, [image], None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^detector\.min_face_size"):
        smm.predict_images(tiny_model, [image], detector=bad, progress=False)  # type: ignore[arg-type]


class _Fixed(_Detector):
    """Finds one face, at fixed pixels of whatever image it is given, with score 0.93; records the sizes."""

    def __init__(self, count: int | None = None) -> None:
        super().__init__(min_face_size=0)
        self.count, self.sizes = count, []

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        self.sizes += [image.shape for image in images]
        face = Faces(
            np.array([[10, 20, 30, 50]], np.float32), np.array([0.93], np.float32), np.full((1, 5, 2), 15, np.float32)
        )
        return [face] * (len(images) if self.count is None else self.count)


def test_a_detection_on_the_scaled_copy_comes_back_in_full_size_pixels_with_its_score() -> None:
    from smm.face.detector import detect_scaled

    images = [np.zeros((400, 600, 3), np.uint8)] * 2
    detector = _Fixed()
    found = detect_scaled(detector, images, 200)
    assert detector.sizes == [(200, 300, 3)] * 2
    for faces in found:
        np.testing.assert_array_equal(faces.boxes, [[20, 40, 60, 100]])
        np.testing.assert_array_equal(faces.landmarks, np.full((1, 5, 2), 30))
        np.testing.assert_array_equal(faces.scores, np.array([0.93], np.float32))
        assert faces.boxes.dtype == faces.landmarks.dtype == faces.scores.dtype == np.float32
    with pytest.raises(ValueError, match="zip"):  # a detector that answers for fewer images than it was given
        detect_scaled(_Fixed(count=1), images, 200)


def test_a_scaled_detection_refined_at_full_size_keeps_the_detections_score() -> None:
    from smm.face.detector import detect_scaled

    class Refining(_Fixed):
        refine_threshold = 0.5

        def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
            self.refined = (image.shape, np.array(boxes))
            return Faces(
                np.asarray(boxes, np.float32) + 1, np.array([0.99], np.float32), np.full((1, 5, 2), 7, np.float32)
            )

    detector = Refining()
    (faces,) = detect_scaled(detector, [np.zeros((400, 600, 3), np.uint8)], 200)
    assert detector.refined[0] == (400, 600, 3)
    np.testing.assert_array_equal(detector.refined[1], [[20, 40, 60, 100]])
    np.testing.assert_array_equal(faces.boxes, [[21, 41, 61, 101]])  # the refined box and landmarks ...
    np.testing.assert_array_equal(faces.landmarks, np.full((1, 5, 2), 7))
    np.testing.assert_array_equal(faces.scores, np.array([0.93], np.float32))  # ... and the detection's score
