"""Defaults pinned by their effect, not only passed explicitly: a test here fails when a default changes."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm import defaults
from smm.face import FaceFollower, Faces, FaceTracker, MultiFaceTracker
from smm.inference import PredictOptions, image_features, predict_frames
from smm.inference.core import predictions
from smm.inference.engines import EagerEngine, make_engine, precision_setup
from smm.submission import write_submission
from tests.tiny import RecordingEngine


def test_the_trackers_default_overlap_shift_and_patience() -> None:
    track = np.array([0, 0, 100, 100], np.float32)
    # IoU 0.4 (a box twice and a half as tall holding the track's) with a centre 0.75 sides away:
    # matched by overlap alone, at the default threshold 0.3, not at 0.5.
    taller = np.array([[0, 0, 100, 250]], np.float32)
    for tracker, matched in ((MultiFaceTracker(), 0), (MultiFaceTracker(iou_threshold=0.5), None)):
        tracker.start(track, 1)
        assert tracker.match(taller, 2) == [matched]
    # No overlap to speak of: matched by a centre at most half a side away (max_shift 0.5), not further.
    for shift, matched in ((45.0, 0), (55.0, None)):
        tracker = MultiFaceTracker()
        tracker.start(track, 1)
        sliver = np.array([[50 + shift - 5e-4, 0, 50 + shift + 5e-4, 100]], np.float32)  # its centre `shift` away
        assert tracker.match(sliver, 2) == [matched]
    # A track not seen for 30 frames survives; for 31 it is dropped.
    tracker = MultiFaceTracker()
    tracker.start(track, 1)
    tracker.end_frame(31)
    assert tracker.ids == [0]
    tracker.end_frame(32)
    assert tracker.ids == []
    # The single-face tracker: a face elsewhere within one side (max_shift 1.0) continues the track, beyond it not.
    for offset, expected in ((95.0, 0), (105.0, None)):
        single = FaceTracker()
        first = Faces(track[None], np.ones(1, np.float32), np.zeros((1, 5, 2), np.float32))
        assert single.update(first) == 0
        moved = Faces(track[None] + np.array([offset, 0, offset, 0], np.float32), np.ones(1), np.zeros((1, 5, 2)))
        assert single.update(moved) == expected


class _Recording:
    """A detector that finds nothing and records the images it was shown."""

    min_face_size = 0

    def __init__(self) -> None:
        self.shown: list[tuple[int, ...]] = []

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        self.shown += [image.shape for image in images]
        return [Faces.none() for _ in images]


def test_detection_runs_every_tenth_frame_on_frames_scaled_to_480() -> None:
    detector = _Recording()
    follower = FaceFollower(detector)
    frames = [(k / 10, np.full((640, 960, 3), 90, np.uint8)) for k in range(21)]  # no cuts: all alike
    follower.chunk(frames)
    assert detector.shown == [(480, 720, 3)] * 3  # frames 1, 11 and 21, the shorter side scaled to 480
    assert (defaults.DETECT_EVERY, defaults.DETECT_SIZE) == (10, 480)


def test_the_default_engine_of_a_small_run_is_eager_at_the_machines_precision(
    model: smm.SMMEmotionNet, tmp_path: Path
) -> None:
    engine = make_engine(model)
    assert isinstance(engine, EagerEngine)
    assert engine.setup == precision_setup("auto", "cpu")  # bf16 where the CPU has bf16 units, else fp32
    folder = tmp_path / "clip"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in range(1, 4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{n:05d}.jpg")
    default = predict_frames(model, folder)
    explicit = predict_frames(model, folder, engine="eager", precision="auto")
    for field in ("au_prob", "expr_prob", "va"):
        assert torch.equal(getattr(default, field), getattr(explicit, field)), field


def test_the_default_batch_size_is_32_everywhere(model: smm.SMMEmotionNet, tmp_path: Path) -> None:
    recording = RecordingEngine(model)
    sizes = recording.sizes
    frames = [torch.zeros(3, 64, 64)] * 70
    predict_frames(model, frames, engine=recording)
    assert sizes == [32, 32, 6]  # frame folders
    sizes.clear()
    image_features(model, frames[:33], recording)
    assert sizes == [32, 1]  # the core (photos and videos)
    sizes.clear()
    folder = tmp_path / "frames" / "clip"
    folder.mkdir(parents=True)
    for n in range(1, 35):
        Image.fromarray(np.full((40, 40, 3), n, np.uint8)).save(folder / f"{n:05d}.jpg")
    write_submission(model, tmp_path / "frames", tmp_path / "out", va_videos=["clip"], engine=recording)
    assert sizes == [32, 2]  # submissions
    assert PredictOptions().batch_size == defaults.BATCH_SIZE == 32


#: Every prediction entry point and the options it takes, each with its default pinned by value.
PINNED = {
    "batch_size": 32,
    "threshold": 0.5,
    "clamp_va": False,
    "alpha": None,
    "faces": "all",
    "detect_every": 10,
    "detect_size": 480,
    "engine": "auto",
    "precision": "auto",
    "progress": None,
}


@pytest.mark.parametrize(
    "entry",
    [
        "smm.inference.photos.predict_images",
        "smm.inference.video.predict_video",
        "smm.inference.video.video_features",
        "smm.inference.frames.predict_frames",
        "smm.submission.write.write_submission",
        "smm.runs.runner.predict_inputs",
        "smm.runs.runner.predict_submission",
        "smm.inference.options.PredictOptions",
    ],
)
def test_every_entry_point_has_the_same_defaults(entry: str) -> None:
    """Each entry point's keyword defaults are the PredictOptions' (frame folders and submissions show no progress bar
    by default: their progress is a plain line, off unless asked)."""
    import importlib
    import inspect

    module, name = entry.rsplit(".", 1)
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    given = {key: parameters[key].default for key in PINNED if key in parameters}
    expected = {key: PINNED[key] for key in given}
    if name in ("predict_frames", "write_submission"):
        expected["progress"] = False
    assert given == expected
    assert {"batch_size", "threshold", "engine", "precision"} <= set(given) or name == "video_features"
    assert {f.name for f in fields(PredictOptions)} == set(PINNED)


def test_an_au_at_exactly_the_default_threshold_is_not_present(model: smm.SMMEmotionNet) -> None:
    heads = smm.SMMEmotionNet(None, feature_channels=16, dim=8, nhead=2, dim_feedforward=16).eval()
    with torch.no_grad():
        heads.sign_vehicle.au_weight.zero_()
        heads.sign_vehicle.au_bias.zero_()  # every AU logit 0: probability exactly 0.5
    labelled = heads.config.num_labelled
    rows = predictions(heads, torch.ones(2, labelled, 8), torch.ones(2, 8), np.array([1, 2]))
    assert torch.equal(rows.au_prob, torch.full((2, labelled), 0.5))
    assert rows.au.sum() == 0  # decided by probability > 0.5, strictly
    assert predictions(heads, torch.ones(2, labelled, 8), torch.ones(2, 8), np.array([1, 2]), threshold=0.49).au.all()


def test_the_command_line_defaults_are_the_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    from smm.cli.main import build_parser

    monkeypatch.delenv(defaults.ENGINE_ENV, raising=False)  # --engine's default reads it when the parser is built
    predict = build_parser().parse_args(["predict", "--checkpoint", "c", "--out", "o", "--input", "x.mp4"])
    assert (predict.engine, predict.precision, predict.faces) == ("auto", "auto", "all")
    assert (predict.detect_every, predict.detect_size, predict.batch_size, predict.threshold) == (10, 480, 32, 0.5)
    train = build_parser().parse_args(["train"])
    assert (train.precision, train.recipe, train.workers, train.seed) == ("auto", "demo", 0, 0)
