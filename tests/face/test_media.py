"""Photos and videos as their owner sees them: EXIF orientation, display rotation, 16-bit and other modes, GIFs,
truncated videos, large photo folders, progress and Ctrl-C (``smm.face.photos``, ``smm.face.orientation``,
``smm.face.video``, ``smm.inference.progress``, the runner and the CLI's exit codes)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.face import Faces, MTCNNDetector
from smm.face.orientation import Orientation
from smm.face.photos import load_photo, to_rgb8
from smm.inference import video_features
from tests.media import write_png16, write_video

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")

#: The astronaut, cut to a portrait 400 x 512 so that a mistaken turn moves the face somewhere else.
UPRIGHT = np.ascontiguousarray(skimage_data.astronaut()[:, :400])
#: What each EXIF orientation value asks a viewer to do to the stored pixels (EXIF 2.3, tag 0x0112), in numpy.
SHOWN = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: np.rot90(a, -1),  # turned 90 clockwise
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),  # transverse
    8: lambda a: np.rot90(a, 1),  # turned 90 counter-clockwise
}
#: The stored pixels of each value: the inverse of SHOWN (2, 3, 4, 5, 7 are their own inverses).
STORED = {**SHOWN, 6: lambda a: np.rot90(a, 1), 8: lambda a: np.rot90(a, -1)}
ORIENTATION_TAG = 0x0112


def _with_exif(path: Path, upright: np.ndarray, value: int, **save: object) -> Path:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = value
    Image.fromarray(np.ascontiguousarray(STORED[value](upright))).save(path, exif=exif, **save)
    return path


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes, written out here."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# --- photos: orientation and modes, by value --------------------------------------------------------------------


def test_the_tables_of_this_test_are_inverses() -> None:
    for value in range(1, 9):
        assert np.array_equal(SHOWN[value](STORED[value](UPRIGHT)), UPRIGHT), value


@pytest.mark.parametrize("value", range(1, 9))
def test_each_exif_orientation_is_read_upright(tmp_path: Path, value: int) -> None:
    path = _with_exif(tmp_path / f"o{value}.png", UPRIGHT, value)  # lossless: the pixels compare exactly
    stored = np.asarray(Image.open(path))
    assert stored.shape == STORED[value](UPRIGHT).shape  # the file really holds the turned pixels
    assert np.array_equal(load_photo(path), UPRIGHT)
    with Image.open(path) as opened:  # a PIL image is turned too, and left as it was given
        assert np.array_equal(load_photo(opened), UPRIGHT)
        assert opened.getexif()[ORIENTATION_TAG] == value
        assert opened.size == (stored.shape[1], stored.shape[0])


def test_arrays_carry_no_orientation_and_are_checked() -> None:
    assert load_photo(UPRIGHT) is UPRIGHT
    with pytest.raises(ValueError, match=r"^image arrays must be \(H, W, 3\) uint8 RGB, got float32 \(4, 4, 3\)$"):
        load_photo(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 \(4, 4\)$"):
        load_photo(np.zeros((4, 4), np.uint8))


def test_files_that_are_not_images_name_the_file_once(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(tmp_path / 'notes.jpg'))}: cannot be read as an image$"):
        load_photo(tmp_path / "notes.jpg")
    with pytest.raises(FileNotFoundError, match=rf"^image {re.escape(str(tmp_path / 'gone.jpg'))} does not exist$"):
        load_photo(tmp_path / "gone.jpg")


def test_sixteen_bit_photos_are_scaled_not_clipped(tmp_path: Path) -> None:
    grey = np.asarray(Image.fromarray(UPRIGHT).convert("L"))
    wide = grey.astype(np.uint16) * 257  # 0..255 -> 0..65535: 255 * 257 = 65535
    path = tmp_path / "grey16.png"
    Image.fromarray(wide).save(path)
    assert Image.open(path).mode == "I;16"
    assert np.array_equal(load_photo(path), np.repeat(grey[:, :, None], 3, axis=2))  # v * 257 / 65535 * 255 = v
    rgb16 = write_png16(tmp_path / "rgb16.png", UPRIGHT.astype(np.uint16) * 257)
    assert np.abs(load_photo(rgb16).astype(int) - UPRIGHT).max() <= 1
    as_int = Image.fromarray(wide.astype(np.int32), mode="I")  # how some readers hold 16-bit data
    assert np.array_equal(to_rgb8(as_int)[:, :, 0], grey)
    assert to_rgb8(Image.fromarray(np.array([[70000, -3]], np.int32), mode="I")).tolist() == [[[255] * 3, [0] * 3]]
    levels = np.array([[0, 1, 32768, 65535]], np.uint16)  # the rounding at the edges of the scale
    assert to_rgb8(Image.fromarray(levels))[0, :, 0].tolist() == [0, 0, 128, 255]
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)  # every 16-bit level: v / 257, rounded
    scaled = to_rgb8(Image.fromarray(every))
    assert scaled.dtype == np.uint8
    assert np.array_equal(scaled[:, :, 0], np.rint(every / 257.0).astype(np.uint8))
    assert to_rgb8(Image.fromarray(np.array([[-70000, 1 << 20]], np.int32), mode="I"))[0, :, 0].tolist() == [0, 255]


def test_float_photos_scale_from_zero_one_or_keep_their_levels() -> None:
    unit = np.array([[0.0, 0.5, 1.0, np.nan]], np.float32)
    assert to_rgb8(Image.fromarray(unit, mode="F"))[0, :, 0].tolist() == [0, 128, 255, 0]
    levels = np.array([[0.0, 2.0, 254.6, 300.0]], np.float32)  # beyond [0, 1]: already 0-255 levels
    assert to_rgb8(Image.fromarray(levels, mode="F"))[0, :, 0].tolist() == [0, 2, 255, 255]
    just_above = np.array([[0.0, 1.5, -0.5]], np.float32)  # not within [0, 1] either way: levels
    assert to_rgb8(Image.fromarray(just_above, mode="F"))[0, :, 0].tolist() == [0, 2, 0]
    assert to_rgb8(Image.fromarray(np.array([[0.25, 0.75]], np.float32), mode="F")).dtype == np.uint8
    assert to_rgb8(Image.fromarray(np.full((1, 2), np.nan, np.float32), mode="F")).tolist() == [[[0] * 3] * 2]


def test_other_modes_keep_working() -> None:
    rgb = Image.fromarray(UPRIGHT)
    assert np.array_equal(to_rgb8(rgb.convert("L")), np.repeat(np.asarray(rgb.convert("L"))[:, :, None], 3, 2))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    assert np.array_equal(to_rgb8(palette), np.asarray(palette.convert("RGB")))
    cmyk = rgb.convert("CMYK")
    assert np.abs(to_rgb8(cmyk).astype(int) - UPRIGHT).max() <= 1
    alpha = np.zeros(UPRIGHT.shape[:2], np.uint8)
    alpha[:, 200:] = 255
    alpha[:, 100:200] = 128
    rgba = Image.fromarray(np.dstack([UPRIGHT, alpha]), mode="RGBA")
    got = to_rgb8(rgba).astype(float)
    expected = (UPRIGHT * (alpha[:, :, None] / 255.0) + 255.0 * (1 - alpha[:, :, None] / 255.0)).round()
    assert np.abs(got - expected).max() <= 1  # laid on white: transparent pixels white, opaque ones kept
    assert np.array_equal(got[:, :100], np.full_like(got[:, :100], 255))
    assert np.array_equal(got[:, 200:], UPRIGHT[:, 200:])
    grey_alpha = rgba.convert("LA")
    assert np.array_equal(to_rgb8(grey_alpha)[:, :100], np.full((512, 100, 3), 255, np.uint8))
    for mode in ("PA", "RGBa"):  # the other modes with an alpha band: transparent is white
        assert np.array_equal(to_rgb8(rgba.convert(mode))[:, :100], np.full((512, 100, 3), 255, np.uint8)), mode
    keyed = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    keyed.putpalette([10, 20, 30, 200, 100, 50])
    keyed.info["transparency"] = 0  # a palette's transparent colour, as GIFs and some PNGs have
    assert to_rgb8(keyed).tolist() == [[[255] * 3, [200, 100, 50]], [[200, 100, 50], [255] * 3]]
    del keyed.info["transparency"]
    assert to_rgb8(keyed).tolist() == [[[10, 20, 30], [200, 100, 50]], [[200, 100, 50], [10, 20, 30]]]


def test_an_animated_gif_is_its_first_frame(tmp_path: Path) -> None:
    red, blue = Image.new("RGB", (20, 10), (255, 0, 0)), Image.new("RGB", (20, 10), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(tmp_path / "anim.gif").n_frames == 2
    assert np.array_equal(load_photo(tmp_path / "anim.gif"), np.asarray(red))
    with Image.open(tmp_path / "anim.gif") as opened:
        opened.seek(1)  # a PIL image left at another frame is read from its first too
        assert np.array_equal(load_photo(opened), np.asarray(red))
    from smm.runs.inputs import plan_inputs

    plan = plan_inputs([tmp_path / "anim.gif"])  # the command line takes it, as a photo
    assert plan.photos == (tmp_path / "anim.gif",)
    assert plan.videos == ()


# --- videos: the display matrix, by value -------------------------------------------------------------------------

ONE = 1 << 16  # 1.0 in 16.16 fixed point
W = 1 << 30  # the matrix's last entry, 1.0 in 2.30


def _matrix(a: int, b: int, c: int, d: int) -> list[int]:
    return [a * ONE, b * ONE, 0, c * ONE, d * ONE, 0, 0, 0, W]


#: Each of the eight matrices, with what a player shows of stored pixels (x' = a x + c y, y' = b x + d y,
#: FFmpeg's layout), its rotation in FFmpeg's convention (counter-clockwise; for a mirroring matrix, the turn that
#: follows a left-right mirror: transpose = mirror, then 90 counter-clockwise), and whether it mirrors.
MATRICES = {
    "identity": (_matrix(1, 0, 0, 1), lambda a: a, 0, False),
    "ccw90": (_matrix(0, -1, 1, 0), lambda a: np.rot90(a, 1), 90, False),
    "cw90": (_matrix(0, 1, -1, 0), lambda a: np.rot90(a, -1), -90, False),
    "half": (_matrix(-1, 0, 0, -1), lambda a: np.rot90(a, 2), 180, False),
    "mirror": (_matrix(-1, 0, 0, 1), lambda a: a[:, ::-1], 0, True),
    "flip": (_matrix(1, 0, 0, -1), lambda a: a[::-1], 180, True),
    "transpose": (_matrix(0, 1, 1, 0), lambda a: a.swapaxes(0, 1), 90, True),
    "transverse": (_matrix(0, -1, -1, 0), lambda a: np.rot90(a, 2).swapaxes(0, 1), -90, True),
}


@pytest.mark.parametrize("name", list(MATRICES))
def test_each_display_matrix_turns_the_frame_as_a_player_does(name: str) -> None:
    matrix, shown, rotation, mirrored = MATRICES[name]
    frame = np.random.default_rng(1).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    orientation = Orientation.from_matrix(matrix)
    assert (orientation.rotation, orientation.mirrored) == (rotation, mirrored)
    upright = orientation.apply(frame)
    assert np.array_equal(upright, shown(frame))
    assert upright.flags.c_contiguous  # torch and PIL take it as it is
    assert orientation.size(10, 6) == (upright.shape[1], upright.shape[0])
    as_bytes = np.asarray(matrix, np.int32).tobytes()  # as FFmpeg's side data holds it
    assert Orientation.from_matrix(as_bytes) == orientation
    assert orientation.upright == (name == "identity")
    mirrored_first = frame[:, ::-1] if mirrored else frame  # the rotation's meaning, by value
    assert np.array_equal(np.rot90(mirrored_first, rotation // 90), shown(frame))
    assert (orientation.apply(frame) is frame) == (name == "identity")  # no copy when there is nothing to do


def _turned(degrees: float, mirrored: bool = False) -> list[int]:
    """The display matrix of a turn by ``degrees`` counter-clockwise after an optional left-right mirror."""
    t = np.radians(degrees)
    rotate = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])  # row vectors: x' = x @ rotate
    first = np.diag([-1.0, 1.0]) if mirrored else np.eye(2)
    (a, b), (c, d) = first @ rotate
    return [round(a * ONE), round(b * ONE), 0, round(c * ONE), round(d * ONE), 0, 0, 0, W]


def test_matrices_at_other_angles_scaled_or_singular() -> None:
    scaled = [2 * v for v in _matrix(0, 1, -1, 0)]  # a scale does not change the turn
    assert Orientation.from_matrix(scaled).rotation == -90
    for mirrored in (False, True):  # between the quarter turns: the nearest one
        for degrees, nearest in ((30, 0), (44, 0), (46, 90), (100, 90), (134, 90), (136, 180), (-170, 180),
                                 (-100, -90), (-46, -90), (-44, 0), (181, 180), (269, -90)):  # fmt: skip
            assert Orientation.from_matrix(_turned(degrees, mirrored)) == (nearest, mirrored), (degrees, mirrored)
    assert Orientation.from_matrix(None) == Orientation() == Orientation.from_matrix([0] * 9)
    assert Orientation.from_matrix([ONE, ONE, 0, ONE, ONE, 0, 0, 0, W]) == Orientation()  # singular: no turn
    assert Orientation.from_matrix([0, ONE, 0, 0, ONE, 0, 0, 0, W]) == Orientation()  # singular, at 90 degrees
    tiny = [v * 1e-9 for v in _matrix(0, 1, -1, 0)]  # any scale, even below 1
    assert Orientation.from_matrix(tiny) == (-90, False)
    assert Orientation.from_matrix(np.reshape(_matrix(0, 1, -1, 0), (3, 3)).tolist()) == (-90, False)  # as 3 x 3
    assert Orientation.from_matrix([ONE, 0, 0, 0, ONE * 1e-9, 0, 0, 0, W]) == Orientation()  # nearly, still a turn of 0
    assert Orientation.from_matrix([float("nan"), 0, 0, 0, ONE, 0, 0, 0, W]) == Orientation()
    assert Orientation(-90).quarters == 3
    assert Orientation(180, True).size(10, 6) == (10, 6)
    assert Orientation(90, True).size(10, 6) == (6, 10)
    with pytest.raises(ValueError, match=r"^matrix must hold 9 integers, got 4$"):
        Orientation.from_matrix([1, 0, 0, 1])
    assert Orientation.from_matrix(_matrix(0, 1, -1, 0)).describe() == "display rotation -90°, applied"
    assert Orientation.from_matrix(_matrix(-1, 0, 0, 1)).describe() == "display rotation 0°, mirrored, applied"
    assert Orientation().describe() == ""


@pytest.fixture(scope="module")
def stripes() -> list[np.ndarray]:
    """Four 24 x 40 frames unlike each other and unlike any turn of themselves."""
    rng = np.random.default_rng(2)
    return [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(4)]


@pytest.mark.parametrize(("rotation", "stored"), [(90, -1), (-90, 1), (180, 2)])
def test_videos_with_a_display_rotation_decode_upright(
    tmp_path: Path, stripes: list[np.ndarray], rotation: int, stored: int
) -> None:
    """FFmpeg's rotation R shows stored frames turned R degrees counter-clockwise; so store them turned back."""
    av = pytest.importorskip("av")
    from smm.face.video import open_video

    turned = [np.ascontiguousarray(np.rot90(f, stored)) for f in stripes]
    path = write_video(tmp_path / "phone.mp4", turned, lossless=True, rotation=rotation)
    with av.open(str(path)) as container:  # PyAV itself says the rotation the file holds
        assert next(container.decode(video=0)).rotation == (rotation if rotation != 180 else -180)
    plain = write_video(tmp_path / "plain.mp4", stripes, lossless=True)
    for ahead in (0, 2):
        with open_video(path, ahead=ahead) as (frames, total):
            got = list(frames)
            assert frames.orientation.rotation == rotation
            assert not frames.orientation.mirrored
        with open_video(plain) as (frames, _):
            times = [t for t, _ in frames]
        assert total == 4
        assert [t for t, _ in got] == times
        assert all(np.array_equal(a, b) for (_, a), b in zip(got, stripes, strict=True))


def test_a_mirroring_display_matrix_is_undone(tmp_path: Path, stripes: list[np.ndarray]) -> None:
    pytest.importorskip("av")
    from smm.face.video import open_video

    path = write_video(
        tmp_path / "selfie.mp4", [f[:, ::-1].copy() for f in stripes], lossless=True, matrix=MATRICES["mirror"][0]
    )
    with open_video(path) as (frames, _):
        got = [f for _, f in frames]
        assert frames.orientation.mirrored
    assert all(np.array_equal(a, b) for a, b in zip(got, stripes, strict=True))


def test_a_truncated_video_is_predicted_as_far_as_it_decodes(tmp_path: Path, tiny_model: smm.SMMEmotionNet) -> None:
    pytest.importorskip("av")
    from smm.face.video import PartialVideoWarning

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(12)]
    whole = write_video(tmp_path / "whole.mp4", frames, faststart=True)  # the index first: a cut file still opens
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    with pytest.warns(PartialVideoWarning) as caught:
        result = smm.predict_video(tiny_model, cut, detector=_Nobody(), precision="fp32", progress=False)
    assert len(caught) == 1
    decoded = int(result.frame.max())
    assert 0 < decoded < 12
    assert str(caught[0].message) == (
        f"{cut}: decoded only {decoded} of the 12 frames it announces; predicted the frames that decoded"
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole file: no warning
        assert len(smm.predict_video(tiny_model, whole, detector=_Nobody(), precision="fp32").frame) == 12


class _Nobody:
    """A detector that finds no face (the video tests that need no face)."""

    min_face_size = 0

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        return [Faces.none() for _ in images]


# --- the whole path, with the real detector ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


def test_phone_photos_give_the_upright_photo_faces(
    tmp_path: Path, tiny_model: smm.SMMEmotionNet, detector: MTCNNDetector
) -> None:
    paths = [_with_exif(tmp_path / f"o{v}.jpg", UPRIGHT, v, quality=95) for v in range(1, 9)]
    result = smm.predict_images(tiny_model, paths, detector=detector, precision="fp32", progress=False)
    assert result.observed.tolist() == [True] * 8  # sideways or upside down, the face is found
    upright = detector.detect([UPRIGHT])[0]
    assert len(upright) == 1
    for row in range(8):
        assert _iou(result.box[row].numpy(), upright.boxes[0]) >= 0.9, row + 1
        assert np.abs(result.landmarks[row].numpy() - upright.landmarks[0]).max() <= 6, row + 1
    left_eye, right_eye = result.landmarks[:, 0, 0], result.landmarks[:, 1, 0]
    assert bool((left_eye < right_eye).all())  # left and right as seen in the upright photo


def test_sixteen_bit_photos_find_their_face(
    tmp_path: Path, tiny_model: smm.SMMEmotionNet, detector: MTCNNDetector
) -> None:
    grey = np.asarray(Image.fromarray(UPRIGHT).convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    write_png16(tmp_path / "rgb16.png", UPRIGHT.astype(np.uint16) * 257)
    result = smm.predict_images(
        tiny_model, [tmp_path / "grey16.png", tmp_path / "rgb16.png"], detector=detector, progress=False
    )
    assert result.observed.tolist() == [True, True]


def test_detect_size_reaches_the_photo_detector(tiny_model: smm.SMMEmotionNet, detector: MTCNNDetector) -> None:
    sizes: list[tuple[int, ...]] = []

    class Recording:
        min_face_size, refine_threshold = detector.min_face_size, detector.refine_threshold

        def detect(self, images: list[np.ndarray]) -> list[Faces]:
            sizes.extend(image.shape for image in images)
            return detector.detect(images)

        def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
            return detector.refine(image, boxes)

    big = np.asarray(Image.fromarray(UPRIGHT).resize((800, 1024)))
    found = {}
    for size in (None, 480, 256, 2000):
        found[size] = smm.predict_images(tiny_model, [big], detector=Recording(), detect_size=size, progress=False)
    assert sizes == [(1024, 800, 3), (614, 480, 3), (328, 256, 3), (1024, 800, 3)]  # the shorter side; never up
    for size in (480, 256):  # refined at full resolution: the same face, in the full photo's pixels
        assert _iou(found[size].box[0].numpy(), found[None].box[0].numpy()) >= 0.9
    with pytest.raises(ValueError, match=r"^detect_size must be a positive integer or None, got 0$"):
        smm.predict_images(tiny_model, [big], detector=Recording(), detect_size=0)


def _face_frames(count: int) -> list[np.ndarray]:
    """A head moving right on a grey 320 x 240 canvas."""
    head = Image.fromarray(UPRIGHT[40:240, 100:300]).resize((110, 110))
    frames = []
    for t in range(count):
        canvas = Image.new("RGB", (320, 240), (90, 90, 90))
        canvas.paste(head, (40 + 6 * t, 50))
        frames.append(np.asarray(canvas))
    return frames


@pytest.mark.parametrize(("rotation", "stored"), [(90, -1), (-90, 1), (180, 2)])
def test_phone_videos_give_the_upright_video_faces(
    tmp_path: Path,
    tiny_model: smm.SMMEmotionNet,
    detector: MTCNNDetector,
    rotation: int,
    stored: int,
) -> None:
    frames = _face_frames(6)
    upright = write_video(tmp_path / "upright.mp4", frames, lossless=True)
    phone = write_video(
        tmp_path / "phone.mp4", [np.ascontiguousarray(np.rot90(f, stored)) for f in frames], lossless=True,
        rotation=rotation,
    )  # fmt: skip
    options = {"detector": detector, "detect_every": 2, "precision": "fp32", "progress": False}
    seen = video_features(tiny_model, phone, **options)
    truth = video_features(tiny_model, upright, **options)
    assert seen.orientation.rotation == rotation
    assert seen.size == truth.size == (320, 240)
    assert seen.observed.all()
    assert len(seen.frame) == 6
    np.testing.assert_array_equal(seen.time, truth.time)
    for a, b in zip(seen.box, truth.box, strict=True):
        assert _iou(a, b) >= 0.9
    np.testing.assert_allclose(seen.landmarks, truth.landmarks, atol=1.0)  # the same pixels: the same landmarks


def test_align_writes_upright_crops(tmp_path: Path, detector: MTCNNDetector) -> None:
    from smm.face.crops import align_videos

    frames = _face_frames(3)
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "upright.mp4", frames, lossless=True)
    write_video(
        tmp_path / "in" / "phone.mp4", [np.ascontiguousarray(np.rot90(f, 1)) for f in frames], lossless=True,
        rotation=-90,
    )  # fmt: skip
    videos = [tmp_path / "in" / "upright.mp4", tmp_path / "in" / "phone.mp4"]
    results = list(align_videos(videos, tmp_path / "out", detector, ext="png"))
    assert [r.error for r in results] == ["", ""]
    for k in range(1, 4):
        a = np.asarray(Image.open(tmp_path / "out" / "upright" / f"{k:05d}.png"), dtype=int)
        b = np.asarray(Image.open(tmp_path / "out" / "phone" / f"{k:05d}.png"), dtype=int)
        assert np.abs(a - b).mean() < 1.0, k


# --- the command line: rotation said, partial videos warned, Ctrl-C -----------------------------------------------


def test_the_run_says_and_records_the_rotation_and_a_partial_video(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smm.cli import main

    frames = _face_frames(6)
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_video(inputs / "phone.mp4", [np.ascontiguousarray(np.rot90(f, 1)) for f in frames], rotation=-90)
    whole = write_video(tmp_path / "whole.mp4", frames, faststart=True)
    (inputs / "cut.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    argv = ["predict", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--detect-every", "2"]
    assert main([*argv, "--input", str(inputs / "phone.mp4"), str(inputs / "cut.mp4")]) == 0
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if "frames, a face in" in line or line.startswith("warning")]
    assert said[0].startswith("phone.mp4 (display rotation -90°, applied): 6 frames, a face in 6,")
    assert next(line for line in err if line.startswith("phone.mp4: 6 frames in ")).endswith(
        "frames/s), display rotation -90°, applied"
    )  # the rate line of the video path says it too
    cut_frames = len({r["frame"] for r in _rows(tmp_path / "out" / "cut.csv")})
    assert 0 < cut_frames < 6
    assert said[1] == (
        f"warning: {inputs / 'cut.mp4'}: decoded only {cut_frames} of the 6 frames it announces; "
        "predicted the frames that decoded"
    )
    summary = {Path(item["input"]).name: item for item in json.loads((tmp_path / "out" / "summary.json").read_text())}
    assert (summary["phone.mp4"]["rotation"], summary["phone.mp4"]["mirrored"]) == (-90, False)
    assert (summary["cut.mp4"]["rotation"], summary["cut.mp4"]["status"]) == (0, "done")
    assert summary["cut.mp4"]["warnings"] == [said[1][len("warning: ") :]]
    assert "warnings" not in summary["phone.mp4"]
    boxes = [(float(r["x0"]), float(r["y0"])) for r in _rows(tmp_path / "out" / "phone.csv")]
    assert all(x0 > y0 for x0, y0 in boxes[:1])  # in the upright (landscape) frame the head is right of its top


def _rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_interrupted_runs_say_how_far_they_got_with_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import smm.runs
    from smm.cli import main
    from smm.cli.main import INTERRUPTED
    from smm.runs.runner import RunInterrupted

    assert INTERRUPTED == 130
    Image.fromarray(UPRIGHT).save(tmp_path / "face.jpg")
    for raised, line in (
        (RunInterrupted(2, 5), "interrupted: 2 of 5 inputs complete; rerun the same command to continue"),
        (KeyboardInterrupt(), "interrupted"),  # before the run began: nothing to count
    ):

        def stop(*args: object, error: BaseException = raised, **kwargs: object) -> None:
            raise error

        monkeypatch.setattr(smm.runs, "predict_inputs", stop)
        monkeypatch.setattr("smm.cli.common.load_model", lambda *a, **k: torch.nn.Linear(1, 1))
        code = main(["predict", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "o"), "--input", str(tmp_path)])
        assert code == 130
        assert capsys.readouterr().err == line + "\n"
    assert issubclass(RunInterrupted, KeyboardInterrupt)  # code that does not catch it stops as on any Ctrl-C


def test_the_loop_counts_what_is_complete_when_interrupted(tmp_path: Path, tiny_model: smm.SMMEmotionNet) -> None:
    from smm.runs import predict_inputs
    from smm.runs.runner import RunInterrupted

    paths = [write_video(tmp_path / f"v{k}.mp4", _face_frames(2)) for k in range(3)]
    calls = []

    class StopsOnTheSecondVideo(_Nobody):
        def detect(self, images: list[np.ndarray]) -> list[Faces]:
            calls.append(len(images))
            if len(calls) == 2:
                raise KeyboardInterrupt
            return super().detect(images)

    with pytest.raises(RunInterrupted) as stopped:
        predict_inputs(
            tiny_model, paths, tmp_path / "out", detector=StopsOnTheSecondVideo(), engine="eager", quiet=True
        )
    assert (stopped.value.complete, stopped.value.total) == (1, 3)
    assert str(stopped.value) == "interrupted: 1 of 3 inputs complete; rerun the same command to continue"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".smm-run", "v0.csv"]  # nothing half-written
    report = predict_inputs(tiny_model, paths, tmp_path / "out", detector=_Nobody(), engine="eager", quiet=True)
    assert report is not None
    assert report.skipped == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".smm-run",
        "summary.json",
        "v0.csv",
        "v1.csv",
        "v2.csv",
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_on_the_command_line_then_a_rerun(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """A real SIGINT to ``smm-emotionnet predict`` over several videos: exit 130, one line, the rerun finishes."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k in range(4):
        write_video(inputs / f"clip{k}.mp4", _face_frames(1) * 40)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "smm.cli", "predict", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    argv += ["--engine", "eager", "--detect-every", "1", "--input", str(inputs)]
    argv = [*argv[:-1], *(str(inputs / f"clip{k}.mp4") for k in range(4))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    records = out / ".smm-run" / "inputs"
    while not any(records.glob("*.json")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the first video is written and recorded
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    last = err.strip().splitlines()[-1]
    complete = int(re.fullmatch(r"interrupted: (\d) of 4 inputs complete; rerun the same command to continue", last)[1])  # type: ignore[index]
    assert 1 <= complete < 4
    assert "Traceback" not in err
    written = sorted(p.name for p in out.iterdir() if p.name != ".smm-run")
    # Finished files kept, nothing half-written (a file written in the instant before its record may be there too).
    assert written in ([f"clip{k}.csv" for k in range(n)] for n in (complete, complete + 1))
    first = (out / "clip0.csv").read_bytes()
    rerun = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{complete} input(s) complete before this run, skipped" in rerun.stdout
    assert (out / "clip0.csv").read_bytes() == first
    assert sorted(p.name for p in out.iterdir()) == [".smm-run", *(f"clip{k}.csv" for k in range(4)), "summary.json"]


def test_predict_help_leads_with_input(capsys: pytest.CaptureFixture[str]) -> None:
    from smm.cli import main

    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = capsys.readouterr().out
    options = re.findall(r"^  (--[a-z-]+)", text, re.MULTILINE)
    assert options[0] == "--input"
    assert text.index("--input") < text.index("--checkpoint")
    description = text.split("\n\n")[1]  # after the usage lines
    assert "photos and videos" in description.split(". ")[0]  # the first sentence is the headline use


_PEAK = """
import json, resource, sys
import smm
from smm.face import MTCNNDetector

model, photos = smm.load_checkpoint(sys.argv[1]), sys.argv[2:]
options = dict(detector=MTCNNDetector(), engine="eager", precision="fp32", progress=False)
smm.predict_images(model, photos[:1], **options)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = smm.predict_images(model, photos, **options)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"added_mb": (after - before) / 1024, "faces": int(result.observed.sum())}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_a_folder_of_large_photos_takes_the_memory_of_one(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """Six 12-megapixel photos, in a fresh process: after one photo, the folder adds (almost) nothing to the peak.

    Stacked at full resolution into one detector batch, as before, they took gigabytes (1.4 GB for one photo,
    5.6 GB for eight, measured on an AMX Xeon); bounded, not timed.
    """
    canvas = Image.new("RGB", (4000, 3000), (90, 90, 90))
    canvas.paste(Image.fromarray(UPRIGHT).resize((1200, 1536)), (1400, 700))
    first = tmp_path / "p0.jpg"
    canvas.save(first, quality=85)
    paths = [first]
    for k in range(1, 6):
        paths.append(tmp_path / f"p{k}.jpg")
        paths[-1].write_bytes(first.read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(tiny_checkpoint), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["faces"] == 6
    assert facts["added_mb"] < 150, facts


# --- seen while it works --------------------------------------------------------------------------------------------


def test_progress_is_shown_where_a_person_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    from smm.inference import progress

    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    for tty in (True, False):
        monkeypatch.setattr(sys, "stderr", Stream(tty))
        assert progress.watched() is tty
        assert progress.show_progress(None) is tty
        assert progress.show_progress(True) is True
        assert progress.show_progress(False) is False

    class Kernel:  # what a Jupyter kernel's get_ipython() returns is a ZMQInteractiveShell
        pass

    Kernel.__name__ = "ZMQInteractiveShell"
    fake = type(sys)("IPython")
    fake.get_ipython = Kernel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress.watched() is True  # stderr is no terminal, but a notebook shows the bar
    Kernel.__name__ = "TerminalInteractiveShell"
    assert progress.watched() is False
    with pytest.raises(TypeError, match=r"^progress must be True, False or None, got 'yes'$"):
        progress.show_progress("yes")  # type: ignore[arg-type]


def test_the_bar_is_tqdm_only_when_shown_and_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm import tqdm

    from smm.inference import progress

    for shown, watched, real in ((True, True, True), (True, False, False), (False, True, False)):
        monkeypatch.setattr(progress, "watched", lambda w=watched: w)
        bar = progress.progress_bar(shown, total=3, desc="clip.mp4", unit="frame")
        assert isinstance(bar, tqdm) is real
        if real:
            assert (bar.total, bar.desc, bar.unit, bar.leave) == (3, "clip.mp4", "frame", False)
        bar.update(2)
        bar.close()


def test_the_engine_line_after_a_second(
    tiny_model: smm.SMMEmotionNet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import smm.inference.options as options
    from smm.inference.progress import ENGINE_LINE_AFTER, engine_line

    assert ENGINE_LINE_AFTER == 1.0
    said: list[str] = []
    engine_line(1.0, lambda: "eager (fp32)", said.append)
    assert said == []  # a moment is not worth a line
    engine_line(1.06, lambda: "eager (fp32)", said.append)
    assert said == ["engine: eager (fp32) (chosen in 1.1 s)"]
    engine_line(2.0, lambda: "onnxruntime")  # by default on stderr, one line
    assert capsys.readouterr().err == "engine: onnxruntime (chosen in 2.0 s)\n"

    class Clock:  # each call of perf_counter 1.5 s after the one before
        def __init__(self) -> None:
            self.now = 0.0

        def perf_counter(self) -> float:
            self.now += 1.5
            return self.now

    lines: list[str] = []
    monkeypatch.setattr(options, "time", Clock())
    monkeypatch.setattr(options, "engine_line", lambda s, d: lines.append(f"{s:.1f} {d()}"))
    eager = options.PredictOptions(engine="eager", precision="fp32", batch_size=4)
    for shown in (True, False):
        options.build_engine(tiny_model, eager, 10, shown=shown)
    built = options.build_engine(tiny_model, eager, 10)
    given = options.PredictOptions(engine=built, batch_size=4)
    assert options.build_engine(tiny_model, given, 10, shown=True) is built  # a built engine: nothing was chosen
    assert len(lines) == 1  # shown, by name, after 1.5 s: said once, with what runs
    assert lines[0].startswith("1.5 eager (fp32")


@pytest.mark.parametrize("name", list(MATRICES)[1:])
@pytest.mark.parametrize("pixels", ["rgb24", "yuv420p", "yuv444p"])
def test_the_decoders_filters_turn_as_the_array_turn_does(name: str, pixels: str) -> None:
    """FFmpeg's transpose/flip filters on the decoded frame equal :meth:`Orientation.apply` on its RGB array."""
    av = pytest.importorskip("av")
    from smm.face.video import _Turn

    orientation = Orientation.from_matrix(MATRICES[name][0])
    rgb = np.random.default_rng(4).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pixels)
    turn = _Turn(orientation, frame)
    assert turn.graph is not None  # the filters, not the fallback
    expected = orientation.apply(frame.to_ndarray(format="rgb24"))
    for _ in range(2):  # the graph takes frame after frame
        assert np.array_equal(turn(frame), expected)
    other = av.VideoFrame.from_ndarray(rgb[:4], format="rgb24").reformat(format=pixels)  # another size: the fallback
    assert np.array_equal(turn(other), orientation.apply(other.to_ndarray(format="rgb24")))
    assert len(orientation.filters()) == {"half": 2, "mirror": 1, "flip": 1}.get(name, 1)  # one transpose a turn
