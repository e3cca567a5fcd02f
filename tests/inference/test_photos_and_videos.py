"""The photo and video entry points (``smm.inference.photos``, ``smm.inference.video``) by their effect,
with a scripted detector and a small model.

A scripted detector finds faces at places given here, so every value below has a source outside
the code under test: the places themselves, the decoded pixels of a lossless video, the closed
form of the decision threshold and of the VA clamp, and the counts and sizes of the calls.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.face import TEMPLATE_112, Faces
from smm.face.orientation import Orientation
from smm.inference import predict_images, predict_video, video_features
from tests.media import write_video
from tests.oracles import model_on_crop
from tests.tiny import tiny_emotionnet

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")

HEAD = np.asarray(Image.fromarray(skimage_data.astronaut()[20:260, 120:340]).resize((112, 112))) // 2  # room to shade
WIDTH, HEIGHT = 240, 160


class Scripted:
    """Finds the faces ``(x, y, size)`` given here, in the pixels of a ``WIDTH`` x ``HEIGHT`` frame.

    A face's landmarks are the alignment template scaled to ``size`` and moved to ``(x, y)``;
    each place is scaled to the size of the image it is given. An image of one colour has no
    face. Records the ``(H, W)`` of every image it is asked about.
    """

    def __init__(self, places: list[tuple[float, float, float]], min_face_size: int = 0, below: int = 256) -> None:
        self.places = places
        self.below = below  # frames whose top-left pixel (the shade of ``_frame``) is this or more have no face
        self.seen: list[tuple[int, int]] = []
        self.threads: list[list[str]] = []  # the threads alive at each call
        self.min_face_size = min_face_size

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        self.threads.append([thread.name for thread in threading.enumerate()])
        found = []
        for image in images:
            self.seen.append(image.shape[:2])
            if not self.places or image.min() == image.max() or image[0, 0, 0] >= self.below:
                found.append(Faces.none())
                continue
            scale = image.shape[1] / WIDTH
            boxes = np.array([[x, y, x + s, y + s] for x, y, s in self.places], np.float32) * scale
            points = np.stack([TEMPLATE_112 * s / 112 + (x, y) for x, y, s in self.places]).astype(np.float32) * scale
            found.append(Faces(boxes, np.ones(len(self.places), np.float32), points))
        return found


def _frame(shade: int = 0) -> np.ndarray:
    """A ``WIDTH`` x ``HEIGHT`` frame: a ramp, the head at (20, 30) and a half-size head at (160, 40), all ``shade``
    levels brighter (at most 120)."""
    head = HEAD + np.uint8(shade)
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[...] = np.arange(WIDTH)[None, :, None] // 2 + shade
    frame[30:142, 20:132] = head
    frame[40:96, 160:216] = head[::2, ::2]
    return frame


PLACES = [(160.0, 40.0, 56.0), (20.0, 30.0, 112.0)]  # the small face first: the pipeline orders by size


@pytest.fixture(scope="module")
def high_valence(model: smm.SMMEmotionNet) -> smm.SMMEmotionNet:
    """The model with valence about 5 and arousal about -5: a clamp to [-1, 1] shows."""
    other = tiny_emotionnet(seed=None)
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.message_space.va.bias += torch.tensor([5.0, -5.0])
    return other


class Recording:
    """An engine (:class:`smm.inference.engines.Engine`) that runs the model in fp32 and records its batch sizes."""

    name = "recording"

    def __init__(self, model: smm.SMMEmotionNet) -> None:
        self.model = model
        self.sizes: list[int] = []

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.sizes.append(len(batch))
        out = self.model(batch)
        return out.au_features.float(), out.message.float()


def _same_rows(a: smm.FramePredictions, b: smm.FramePredictions) -> None:
    for field in a._fields:
        left, right = getattr(a, field), getattr(b, field)
        if isinstance(left, torch.Tensor):
            torch.testing.assert_close(left, right, equal_nan=True, atol=1e-6, rtol=1e-6, msg=field)
        else:
            assert left == right, field


# Photos -----------------------------------------------------------------------------------------------------------


def test_photo_rows_hold_the_detectors_faces_largest_first(model: smm.SMMEmotionNet) -> None:
    detector = Scripted(PLACES)
    result = predict_images(model, [_frame()], detector=detector, precision="fp32")
    assert result.face_id.tolist() == [0, 1]
    assert (result.observed.dtype, result.face_id.dtype, result.au.dtype) == (torch.bool, torch.int64, torch.int64)
    np.testing.assert_array_equal(result.box.numpy(), [[20, 30, 132, 142], [160, 40, 216, 96]])
    np.testing.assert_allclose(result.landmarks[0].numpy(), TEMPLATE_112 + np.array([20, 30]), atol=1e-5)
    np.testing.assert_allclose(result.landmarks[1].numpy(), TEMPLATE_112 / 2 + np.array([160, 40]), atol=1e-5)
    assert result.time.dtype == torch.float64
    assert result.time.tolist() == [0.0, 0.0]
    assert result.frame.dtype == torch.int64
    # The big face's crop is the head as pasted (a whole-pixel shift of the template): the model's numbers on it.
    au, expr, va = model_on_crop(model, HEAD)
    torch.testing.assert_close(result.au_prob[0], au, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.expr_prob[0], expr, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.va[0], va, atol=1e-5, rtol=1e-5)
    assert result.expr[0].item() == int(expr.argmax())


def test_faces_of_one_size_keep_the_detectors_order(model: smm.SMMEmotionNet) -> None:
    """Largest first, and faces of equal size in the order the detector gave them (a stable sort, also past 16)."""
    places = [(float(x), float(y), 10.0 + 2 * (x % 60 == 5)) for y in (10, 60, 110) for x in range(5, 230, 30)]
    result = predict_images(model, [_frame()], detector=Scripted(places), precision="fp32")  # 24 faces, two sizes
    expected = [p for p in places if p[2] == 12] + [p for p in places if p[2] == 10]
    assert result.box[:, :2].tolist() == [[x, y] for x, y, _ in expected]
    with pytest.warns(DeprecationWarning, match=r'all_faces=...\) is deprecated .* use faces="all"'):
        every = predict_images(model, [_frame()], detector=Scripted(PLACES), all_faces=True, precision="fp32")
    assert every.face_id.tolist() == [0, 1]


def test_photos_in_many_batches_give_the_rows_of_one(tmp_path: Path, model: smm.SMMEmotionNet) -> None:
    """Chunks of photos: a row's reason and values belong to its photo, whatever the batch size."""
    Image.fromarray(_frame(7)).save(tmp_path / "face.png")
    blank = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    inputs = [_frame(), tmp_path / "missing.png", blank, tmp_path / "face.png", blank, _frame(3)]
    detector = Scripted(PLACES[1:])
    rows = {
        size: predict_images(model, inputs, detector=detector, batch_size=size, errors="report", precision="fp32")
        for size in (1, 2, 4, 32)
    }
    one = rows[32]
    assert (one.observed.dtype, one.face_id.dtype, one.au.dtype, one.expr.dtype) == (torch.bool,) + (torch.int64,) * 3
    assert one.face_id.tolist() == [0, -1, -1, 0, -1, 0]
    missing = f"image {tmp_path / 'missing.png'} does not exist"
    assert one.reason == ("", missing, "no face found", "", "no face found", "")
    assert one.observed.tolist() == [True, False, False, True, False, True]
    assert one.source == ("", str(tmp_path / "missing.png"), "", str(tmp_path / "face.png"), "", "")
    for size in (1, 2, 4):
        _same_rows(rows[size], one)
    # The detector is asked about the readable photos only, each once.
    detector.seen.clear()
    predict_images(model, inputs, detector=detector, batch_size=4, errors="report", precision="fp32")
    assert detector.seen == [(HEIGHT, WIDTH)] * 5


def test_a_photo_without_a_face_says_whether_it_was_too_small(model: smm.SMMEmotionNet) -> None:
    """The smallest face is compared with the shorter side: exactly that size is searched, one pixel less is not."""
    detector = Scripted([], min_face_size=20)
    images = [np.zeros((20, 30, 3), np.uint8), np.zeros((19, 30, 3), np.uint8), np.zeros((30, 19, 3), np.uint8)]
    result = predict_images(model, images, detector=detector)
    assert result.reason == (
        "no face found",
        "image too small for face detection (30x19 px; the detector's smallest face is 20 px)",
        "image too small for face detection (19x30 px; the detector's smallest face is 20 px)",
    )
    assert predict_images(model, images[1:2], detector=Scripted([])).reason == ("no face found",)  # no limit


def test_photos_of_every_kind_reach_the_model_as_rgb(tmp_path: Path, model: smm.SMMEmotionNet) -> None:
    frame = _frame()
    grey = np.asarray(Image.fromarray(frame).convert("L"))
    Image.fromarray(frame).save(tmp_path / "rgb.png")
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])).save(tmp_path / "rgba.png")
    detector = Scripted(PLACES[1:])
    inputs = [tmp_path / "rgb.png", str(tmp_path / "rgba.png"), Image.fromarray(frame), tmp_path / "grey.png"]
    inputs.append(Image.fromarray(grey))
    result = predict_images(model, inputs, detector=detector, precision="fp32")
    as_rgb = predict_images(model, [frame, np.dstack([grey] * 3)], detector=detector, precision="fp32")
    for row, same in ((0, 0), (1, 0), (2, 0), (3, 1), (4, 1)):
        torch.testing.assert_close(result.au_prob[row], as_rgb.au_prob[same], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(result.va[row], as_rgb.va[same], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(as_rgb.va[0], as_rgb.va[1])  # grey and colour differ: the rows above are not trivial
    bad = {
        "float64 (160, 240, 3)": frame.astype(np.float64),
        "uint8 (160, 240)": grey,
        "uint8 (160, 240, 4)": np.dstack([frame, frame[..., :1]]),
    }
    for words, array in bad.items():
        message = f"image arrays must be (H, W, 3) uint8 RGB, got {words}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            predict_images(model, [array], detector=detector)
        assert predict_images(model, [array], detector=detector, errors="report").reason == (message,)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(FileNotFoundError, match=f"^image {re.escape(str(tmp_path / 'folder.png'))} does not exist$"):
        predict_images(model, [tmp_path / "folder.png"], detector=detector)


def test_photo_options_reach_the_decisions(model: smm.SMMEmotionNet, high_valence: smm.SMMEmotionNet) -> None:
    detector = Scripted(PLACES)
    default = predict_images(model, [_frame()], detector=detector, precision="fp32")
    assert default.au.tolist() == (default.au_prob > 0.5).long().tolist()
    threshold = float(default.au_prob.median())  # some probabilities on each side
    decided = predict_images(model, [_frame()], detector=detector, precision="fp32", threshold=threshold)
    assert decided.au.tolist() == (default.au_prob > threshold).long().tolist()
    assert decided.au.tolist() != default.au.tolist()
    raw = predict_images(high_valence, [_frame()], detector=detector, precision="fp32")
    assert (raw.va[:, 0] > 3).all()  # not clamped by default
    assert (raw.va[:, 1] < -3).all()
    clamped = predict_images(high_valence, [_frame()], detector=detector, precision="fp32", clamp_va=True)
    assert clamped.va.tolist() == [[1.0, -1.0], [1.0, -1.0]]


def test_photo_engine_batch_size_and_precision_reach_the_model(model: smm.SMMEmotionNet) -> None:
    detector = Scripted(PLACES)
    frames = [_frame(k) for k in range(3)]  # six faces
    engine = Recording(model)
    recorded = predict_images(model, frames, detector=detector, batch_size=4, engine=engine)
    assert engine.sizes == [4, 2]
    eager = predict_images(model, frames, detector=detector, precision="fp32")
    torch.testing.assert_close(recorded.au_prob, eager.au_prob, atol=1e-6, rtol=1e-6)
    dtypes = _backbone_dtypes(model, lambda: predict_images(model, frames[:1], detector=detector, precision="bf16"))
    assert dtypes == {torch.bfloat16}
    dtypes = _backbone_dtypes(model, lambda: predict_images(model, frames[:1], detector=detector, precision="fp32"))
    assert dtypes == {torch.float32}  # and the default engine is the model itself (eager), called here


def _backbone_dtypes(model: smm.SMMEmotionNet, run: Callable[[], object]) -> set[torch.dtype]:
    """The dtypes of the backbone's outputs while ``run()`` runs (empty when the model is never called)."""
    seen: set[torch.dtype] = set()
    handle = model.backbone.register_forward_hook(lambda _m, _i, out: seen.update(o.dtype for o in out))
    try:
        run()
    finally:
        handle.remove()
    return seen


# Videos -----------------------------------------------------------------------------------------------------------

FPS = 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """12 frames at 10 frames/s, each 3 levels brighter than the one before (not a cut), lossless (the decoder
    gives these pixels back), and the frames."""
    pytest.importorskip("av")
    frames = [_frame(3 * k) for k in range(12)]
    return write_video(tmp_path_factory.mktemp("video") / "clip.mkv", frames, FPS, lossless=True), frames


def test_video_features_hold_the_faces_where_the_detector_put_them(
    clip: tuple[Path, list[np.ndarray]], model: smm.SMMEmotionNet, capsys: pytest.CaptureFixture[str]
) -> None:
    path, frames = clip
    detector = Scripted(PLACES)
    features = video_features(model, path, detector=detector, precision="fp32")
    assert capsys.readouterr().err == ""  # quiet by default
    # Frames are decoded ahead, in a thread: alive at the first detection, with frames 5-12 still to decode and
    # room for two in its queue (at later ones it may have finished).
    assert "smm-video-reader" in detector.threads[0]
    assert features.frame.tolist() == [k for k in range(1, 13) for _ in (0, 1)]
    assert features.face_id.tolist() == [0, 1] * 12  # the larger face found first
    assert features.time.tolist() == pytest.approx([k / FPS for k in range(12) for _ in (0, 1)])
    np.testing.assert_allclose(features.box[0::2], [[20, 30, 132, 142]] * 12, atol=1e-4)
    np.testing.assert_allclose(features.box[1::2], [[160, 40, 216, 96]] * 12, atol=1e-4)
    np.testing.assert_allclose(features.landmarks[0], TEMPLATE_112 + np.array([20, 30]), atol=1e-4)
    assert (features.num_frames, features.size, features.source) == (12, (WIDTH, HEIGHT), str(path))
    assert features.tracks == [0, 1]
    assert features.observed.all()
    assert features.sides == ["left", "right"]
    assert features.au_features.shape[0] == features.messages.shape[0] == 24
    au, _, va = model_on_crop(model, frames[2][30:142, 20:132])  # frame 3's larger face
    result = features.predictions(model)
    assert result.source == (str(path),) * 24
    assert result.reason == ("",) * 24
    assert result.observed.dtype == torch.bool
    torch.testing.assert_close(result.au_prob[4], au, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.va[4], va, atol=1e-5, rtol=1e-5)


def test_detection_options_reach_the_follower(clip: tuple[Path, list[np.ndarray]], model: smm.SMMEmotionNet) -> None:
    path, _ = clip
    for options, calls in (
        ({}, [(HEIGHT, WIDTH)] * 2),  # frames 1 and 11; 480 px is above the frame: detected as it is
        ({"detect_every": 4}, [(HEIGHT, WIDTH)] * 3),  # frames 1, 5, 9
        ({"detect_every": 1}, [(HEIGHT, WIDTH)] * 12),
        ({"detect_size": 80}, [(80, 120)] * 2),
        ({"detect_size": None, "detect_every": 6}, [(HEIGHT, WIDTH)] * 2),
    ):
        detector = Scripted(PLACES)
        result = predict_video(model, path, detector=detector, precision="fp32", **options)
        assert detector.seen == calls, options
        np.testing.assert_allclose(result.box[0].numpy(), [20, 30, 132, 142], atol=1e-3)  # mapped back
    largest = predict_video(model, path, detector=Scripted(PLACES), faces="largest", precision="fp32")
    assert largest.face_id.tolist() == [0] * 12
    np.testing.assert_allclose(largest.box.numpy(), [[20, 30, 132, 142]] * 12, atol=1e-3)
    with pytest.raises(ValueError, match=r"faces must be one of 'all', 'largest', got 'both'"):
        predict_video(model, path, detector=Scripted(PLACES), faces="both")  # type: ignore[arg-type]


class Bars:
    """Stands in for :func:`smm.inference.progress.progress_bar`: records each bar's making, updates and closing."""

    def __init__(self) -> None:
        self.made: list[dict[str, object]] = []
        self.updates: list[list[int]] = []
        self.closed: list[bool] = []

    def __call__(self, shown: bool, *, total: int | None, desc: str, unit: str) -> Bars:
        self.made.append({"shown": shown, "total": total, "desc": desc, "unit": unit})
        self.updates.append([])
        self.closed.append(False)
        return self

    def update(self, count: int = 1) -> None:
        self.updates[-1].append(count)

    def close(self) -> None:
        self.closed[-1] = True


def test_video_options_reach_the_model(
    clip: tuple[Path, list[np.ndarray]],
    model: smm.SMMEmotionNet,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, frames = clip
    engine = Recording(model)
    recorded = predict_video(model, path, detector=Scripted(PLACES), batch_size=5, engine=engine)
    assert engine.sizes == [5, 5, 5, 5, 4]
    eager = predict_video(model, path, detector=Scripted(PLACES), precision="fp32")
    torch.testing.assert_close(recorded.au_prob, eager.au_prob, atol=1e-6, rtol=1e-6)
    run = lambda precision: predict_video(model, path, detector=Scripted(PLACES), precision=precision)  # noqa: E731
    assert _backbone_dtypes(model, lambda: run("bf16")) == {torch.bfloat16}
    assert _backbone_dtypes(model, lambda: run("fp32")) == {torch.float32}  # the default engine: the model itself
    assert capsys.readouterr().err == ""  # quiet by default where nobody watches (pytest's stderr is no terminal)
    bars = Bars()
    monkeypatch.setattr(smm.inference.photos, "progress_bar", bars)
    monkeypatch.setattr(smm.inference.video, "progress_bar", bars)
    predict_video(model, path, detector=Scripted(PLACES), precision="fp32", progress=True)
    err = capsys.readouterr().err  # the bar (recorded here), then the rate
    assert bars.made == [{"shown": True, "total": None, "desc": "clip.mkv", "unit": "frame"}]  # mkv: no count
    assert bars.updates == [[4, 4, 4]]
    assert bars.closed == [True]
    seconds, rate = re.fullmatch(r"clip\.mkv: 12 frames in (\d+\.\d) s \((\d+\.\d) frames/s\)\n", err).groups()  # type: ignore[union-attr]
    low, high = float(seconds) - 0.05, float(seconds) + 0.05  # the seconds, before rounding to one decimal
    assert 12 / high - 0.05 <= float(rate) <= (12 / low if low > 0 else float("inf")) + 0.05
    mp4 = write_video(path.with_suffix(".mp4"), frames[:6], FPS)  # an mp4 says how many frames it holds
    predict_video(model, mp4, detector=Scripted(PLACES), precision="fp32", progress=True)
    assert bars.made[1] == {"shown": True, "total": 6, "desc": "clip.mp4", "unit": "frame"}
    assert bars.updates[1] == [4, 2]
    assert bars.closed[1]
    assert capsys.readouterr().err.startswith("clip.mp4: 6 frames in ")
    predict_video(model, mp4, detector=Scripted(PLACES), precision="fp32", progress=False)
    assert bars.made[2]["shown"] is False
    assert capsys.readouterr().err == ""


def test_video_decisions_follow_threshold_clamp_and_smoothing(
    clip: tuple[Path, list[np.ndarray]], model: smm.SMMEmotionNet, high_valence: smm.SMMEmotionNet
) -> None:
    path, _ = clip
    default = predict_video(model, path, detector=Scripted(PLACES), precision="fp32")
    threshold = float(default.au_prob.median())
    decided = predict_video(model, path, detector=Scripted(PLACES), precision="fp32", threshold=threshold)
    assert decided.au.tolist() == (default.au_prob > threshold).long().tolist()
    assert decided.au.tolist() != default.au.tolist()
    raw = predict_video(high_valence, path, detector=Scripted(PLACES), precision="fp32")
    assert (raw.va[:, 0] > 3).all()
    assert (raw.va[:, 1] < -3).all()
    clamped = predict_video(high_valence, path, detector=Scripted(PLACES), precision="fp32", clamp_va=True)
    assert clamped.va.tolist() == [[1.0, -1.0]] * 24
    # Smoothing, along each face's track: each face's first row is its raw one, the later ones lag behind.
    features = video_features(high_valence, path, detector=Scripted(PLACES), precision="fp32")
    smoothed = predict_video(high_valence, path, detector=Scripted(PLACES), precision="fp32", alpha=2.0)
    _same_rows(smoothed, features.predictions(high_valence, alpha=2.0))
    torch.testing.assert_close(smoothed.va[:2], raw.va[:2])
    assert not torch.allclose(smoothed.va[2:], raw.va[2:])


def test_one_row_per_frame_for_a_side(
    clip: tuple[Path, list[np.ndarray]], model: smm.SMMEmotionNet, high_valence: smm.SMMEmotionNet
) -> None:
    path, _ = clip
    features = video_features(high_valence, path, detector=Scripted(PLACES), precision="fp32")
    rows = features.predictions(high_valence)
    left = features.per_frame(high_valence, "left")  # the larger face, at x = 20
    assert left.frame.tolist() == list(range(1, 13))
    assert left.time.dtype == torch.float64
    assert left.time.tolist() == pytest.approx([k / FPS for k in range(12)])
    assert left.face_id.tolist() == [0] * 12
    torch.testing.assert_close(left.box, rows.box[0::2])
    torch.testing.assert_close(left.landmarks, rows.landmarks[0::2])
    torch.testing.assert_close(left.va, rows.va[0::2])
    assert left.source == (str(path),) * 12
    assert left.reason == ("",) * 12
    right = features.per_frame(high_valence, "right")
    torch.testing.assert_close(right.va, rows.va[1::2])
    threshold = float(rows.au_prob[0::2].median())
    assert features.per_frame(high_valence, "left", threshold=threshold).au.tolist() == (
        (rows.au_prob[0::2] > threshold).long().tolist()
    )
    assert features.per_frame(high_valence, "left", clamp_va=True).va.tolist() == [[1.0, -1.0]] * 12
    smoothed = features.per_frame(high_valence, "left", alpha=2.0)
    torch.testing.assert_close(smoothed.va, features.predictions(high_valence, alpha=2.0).va[0::2])
    assert not torch.allclose(smoothed.va[1:], left.va[1:])
    message = "side must be one of this video's sides ['left', 'right'], got ''"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        features.per_frame(high_valence, "")  # two faces at once: left and right, no single position


def test_a_side_without_a_face_in_some_frames(clip: tuple[Path, list[np.ndarray]], model: smm.SMMEmotionNet) -> None:
    """The faces leave after frame 8: the side's later rows are empty, the published fill repeats frame 8's values."""
    path, _ = clip
    detector = Scripted(PLACES, below=3 * 8)  # frames 9-12 (shade 24 and more) have no face
    features = video_features(model, path, detector=detector, detect_every=1, precision="fp32")
    rows = features.predictions(model)
    assert rows.frame.tolist() == [k for k in range(1, 9) for _ in (0, 1)] + [9, 10, 11, 12]
    assert rows.face_id.tolist() == [0, 1] * 8 + [-1] * 4
    assert rows.reason == ("",) * 16 + ("no face found",) * 4
    left = features.per_frame(model, "left")
    assert left.frame.tolist() == list(range(1, 13))  # every frame of the video, after the last face too
    assert left.observed.tolist() == [True] * 8 + [False] * 4
    assert left.face_id.dtype == torch.int64
    assert left.face_id.tolist() == [0] * 8 + [-1] * 4
    assert left.reason == ("",) * 8 + ("no face found",) * 4
    np.testing.assert_allclose(left.box[:8].numpy(), [[20, 30, 132, 142]] * 8, atol=1e-3)
    assert torch.isnan(left.box[8:]).all()
    assert torch.isnan(left.landmarks[8:]).all()
    torch.testing.assert_close(left.va[8:], rows.va[14].expand(4, 2))  # frame 8's left face, repeated
    assert left.time.tolist() == pytest.approx([k / FPS for k in range(12)])


def test_a_video_without_frames_or_faces(
    clip: tuple[Path, list[np.ndarray]], model: smm.SMMEmotionNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = clip
    none = video_features(model, path, detector=Scripted([]), precision="fp32")  # no face in any frame
    assert (none.tracks, none.sides, none.num_frames) == ([], [""], 12)
    assert none.face_id.tolist() == [-1] * 12
    assert none.au_features.shape[0] == none.messages.shape[0] == 0
    empty = none.per_frame(model, "")
    for rows in (empty, none.predictions(model)):  # no face anywhere: the missing-label codes, NaN probabilities
        assert rows.observed.dtype == torch.bool
        assert rows.observed.tolist() == [False] * 12
        assert (rows.au.dtype, rows.expr.dtype) == (torch.int64, torch.int64)
        assert rows.au.tolist() == [[-1] * 12] * 12
        assert rows.expr.tolist() == [-1] * 12
        assert torch.isnan(rows.au_prob).all()
        assert torch.isnan(rows.expr_prob).all()
        assert torch.isnan(rows.va).all()
        assert rows.reason == ("no face found",) * 12
        assert (rows.names.au, rows.names.expression) == (model.au_names, model.expression_names)

    @contextmanager
    def no_frames(video: Path, ahead: int = 0) -> Iterator[tuple[Iterator[tuple[float, np.ndarray]], int]]:
        class Nothing(list):  # a stream that decodes to nothing, upright, in full
            orientation, shortfall = Orientation(), ""

        yield Nothing(), 0

    monkeypatch.setattr(smm.inference.video, "open_video", no_frames)
    nothing = video_features(model, path, detector=Scripted(PLACES), precision="fp32")
    assert (nothing.num_frames, nothing.size, nothing.tracks, nothing.sides) == (0, (0, 0), [], [""])
    for name, dtype, shape in (
        ("frame", np.int64, (0,)), ("face_id", np.int64, (0,)), ("time", np.float64, (0,)),
        ("box", np.float32, (0, 4)), ("landmarks", np.float32, (0, 5, 2)),
    ):  # fmt: skip
        array = getattr(nothing, name)
        assert (array.dtype, array.shape) == (dtype, shape), name
    assert len(nothing.predictions(model).frame) == len(nothing.per_frame(model).frame) == 0
