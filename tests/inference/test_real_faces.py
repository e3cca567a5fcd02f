"""From real photos and a video to per-frame predictions: detection, alignment, tracking, CSV (offline)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smm

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")


from smm.face import (  # noqa: E402
    TEMPLATE_112,
    Faces,
    FaceTracker,
    MTCNNDetector,
    align_faces,
    similarity_transform,
)
from smm.formats import write_frames_csv  # noqa: E402
from smm.inference import predict_images, predict_video, video_features  # noqa: E402
from tests.oracles import model_on_crop  # noqa: E402

ASTRONAUT = skimage_data.astronaut()  # 512 x 512, one face
CENTRE = (224, 117)  # near the face


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


def _variants() -> dict[str, np.ndarray]:
    image = Image.fromarray(ASTRONAUT)
    two = Image.new("RGB", (1024, 512))
    two.paste(image, (0, 0))
    two.paste(image.resize((400, 400)), (600, 60))
    return {
        "original": ASTRONAUT,
        "rotated": np.asarray(image.rotate(25, resample=Image.BILINEAR, center=CENTRE)),
        "scaled": np.asarray(image.resize((300, 300), Image.BILINEAR)),
        "shifted": np.asarray(Image.fromarray(np.roll(ASTRONAUT, (40, -60), axis=(0, 1)))),
        "mirrored": ASTRONAUT[:, ::-1].copy(),
        "two": np.asarray(two),
    }


def _crop(detector: MTCNNDetector, image: np.ndarray) -> tuple[torch.Tensor, Faces]:
    faces = detector.detect([image])[0]
    tensor = torch.from_numpy(np.array(image))[None].permute(0, 3, 1, 2).float() / 255
    largest = faces.take(int(faces.areas.argmax()))
    return align_faces(tensor, torch.from_numpy(largest.landmarks))[0], faces


def test_one_face_per_face(detector: MTCNNDetector) -> None:
    counts = {
        name: len(faces) for name, faces in zip(_variants(), detector.detect(list(_variants().values())), strict=True)
    }
    assert counts == {"original": 1, "rotated": 1, "scaled": 1, "shifted": 1, "mirrored": 1, "two": 2}
    assert len(detector.detect([np.zeros((200, 200, 3), np.uint8)])[0]) == 0  # no face: an empty result, no crash


def test_alignment_puts_landmarks_on_the_template_and_undoes_transforms(detector: MTCNNDetector) -> None:
    reference, faces = _crop(detector, ASTRONAUT)
    transform = similarity_transform(torch.from_numpy(faces.landmarks), torch.from_numpy(TEMPLATE_112))[0].numpy()
    mapped = faces.landmarks[0] @ transform[:, :2].T + transform[:, 2]
    assert np.abs(mapped - TEMPLATE_112).max() < 8  # pixels of the 112 x 112 crop
    unrelated = torch.from_numpy(np.array(Image.fromarray(skimage_data.coffee()).resize((112, 112)))).permute(2, 0, 1)
    far = (reference - unrelated.float() / 255).abs().mean()
    for name in ("rotated", "scaled", "shifted"):
        crop, _ = _crop(detector, _variants()[name])
        assert (crop - reference).abs().mean() < far / 5, name


def test_similarity_transform_recovers_a_known_one() -> None:
    angle, scale, shift = 0.4, 1.7, torch.tensor([3.0, -2.0])
    rotation = scale * torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = source @ rotation.T.double() + shift.double()
    transform = similarity_transform(source, target)
    torch.testing.assert_close(transform[:, :, :2], rotation.double().expand(2, 2, 2))
    torch.testing.assert_close(transform[:, :, 2], shift.double().expand(2, 2))


def test_batched_alignment_equals_one_by_one() -> None:
    g = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 90, 120, generator=g)
    landmarks = torch.from_numpy(TEMPLATE_112)[None] * 0.6 + torch.rand(4, 1, 2, generator=g) * 30
    index = torch.tensor([0, 2, 2, 1])
    batched = align_faces(images, landmarks, index=index, size=56)
    for k in range(4):
        single = align_faces(images[index[k] : index[k] + 1], landmarks[k : k + 1], size=56)
        torch.testing.assert_close(batched[k : k + 1], single)


def faces(*boxes: tuple[float, float, float, float]) -> Faces:
    """Detections with these boxes (scores 1, landmarks 0)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Faces(b, np.ones(len(b), np.float32), np.zeros((len(b), 5, 2), np.float32))


def test_tracker_keeps_the_face_it_follows() -> None:
    tracker = FaceTracker(max_missed=2)
    assert tracker.update(faces((0, 0, 10, 10), (50, 50, 80, 80))) == 1  # largest first
    assert tracker.update(faces((0, 0, 40, 40), (52, 50, 82, 80))) == 1  # the overlapping one, not the larger
    assert tracker.update(faces()) is None  # missed once
    assert tracker.update(faces((0, 0, 40, 40))) is None  # no overlap: missed twice, still waiting
    assert tracker.update(faces((0, 0, 40, 40))) == 0  # missed more than max_missed: a new track


def test_tracker_follows_a_fast_face_but_not_a_far_one() -> None:
    tracker = FaceTracker()
    assert tracker.update(faces((100, 100, 200, 200))) == 0
    # Moved 60 px, 0.6 of its size: IoU 0.25 < 0.3, but its centre is within max_shift = 1 box size.
    assert tracker.update(faces((500, 0, 520, 20), (160, 100, 260, 200))) == 1
    assert tracker.box.tolist() == [160, 100, 260, 200]
    # Exactly at the limit (100 px = 1.0 box size) still continues; just beyond does not.
    assert tracker.update(faces((260, 100, 360, 200))) == 0
    assert tracker.update(faces((361, 100, 461, 200))) is None
    # max_shift=0: IoU alone, as before.
    strict = FaceTracker(max_shift=0.0)
    strict.update(faces((100, 100, 200, 200)))
    assert strict.update(faces((160, 100, 260, 200))) is None
    for bad, message in (
        ({"iou_threshold": 1.5}, r"iou_threshold must be in \[0, 1\], got 1.5"),
        ({"max_shift": -1}, r"max_shift must be >= 0, got -1"),
        ({"max_missed": -2}, r"max_missed must be >= 0, got -2"),
    ):
        with pytest.raises(ValueError, match=message):
            FaceTracker(**bad)


def _expected(model: smm.SMMEmotionNet, image: np.ndarray, landmarks: np.ndarray) -> tuple[torch.Tensor, ...]:
    """AU probabilities, expression probabilities and VA of one face, computed here: align, round to 8 bits,
    timm's transform of the model's data_config, the model, sigmoid / softmax."""
    frame = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].double()
    crop = align_faces(frame, torch.from_numpy(landmarks[None]).double())[0]
    return model_on_crop(model, crop.round().clamp(0, 255).byte().permute(1, 2, 0).numpy())


def test_predict_images(tmp_path: Path, model: smm.SMMEmotionNet, detector: MTCNNDetector) -> None:
    Image.fromarray(ASTRONAUT).save(tmp_path / "face.png")
    Image.new("RGB", (120, 90)).save(tmp_path / "empty.png")
    two = _variants()["two"]
    result = predict_images(
        model,
        [tmp_path / "face.png", tmp_path / "empty.png", two],
        detector=detector,
        precision="fp32",
        detect_size=None,
    )
    assert result.observed.tolist() == [True, False, True, True]  # every face by default
    assert result.face_id.tolist() == [0, -1, 0, 1]  # by size within a photo
    assert result.reason == ("", "no face found", "", "")
    assert result.frame.tolist() == [1, 1, 1, 1]  # a photo is frame 1 of itself
    assert result.source[0].endswith("face.png")
    assert result.source[1].endswith("empty.png")
    assert result.source[2:] == ("", "")
    found = detector.detect([ASTRONAUT])[0]
    np.testing.assert_allclose(result.box[0].numpy(), found.boxes[0], atol=1e-3)
    au, expr, va = _expected(model, ASTRONAUT, found.landmarks[0])
    torch.testing.assert_close(result.au_prob[0], au, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.expr_prob[0], expr, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.va[0], va, atol=1e-5, rtol=1e-5)
    assert result.au[0].tolist() == (au > 0.5).long().tolist()
    assert torch.isnan(result.au_prob[1]).all()
    assert result.au[1].tolist() == [-1] * 12
    assert torch.isnan(result.box[1]).all()
    two_faces = detector.detect([two])[0]
    order = np.argsort(-two_faces.areas)
    np.testing.assert_allclose(result.box[2:].numpy(), two_faces.boxes[order], atol=1e-3)  # the largest first
    for row, face in zip((2, 3), order, strict=True):
        au, expr, va = _expected(model, two, two_faces.landmarks[face])
        torch.testing.assert_close(result.au_prob[row], au, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(result.va[row], va, atol=1e-5, rtol=1e-5)
    largest = predict_images(model, [two], detector=detector, faces="largest", precision="fp32", detect_size=None)
    assert largest.face_id.tolist() == [0]
    torch.testing.assert_close(largest.au_prob[0], result.au_prob[2])
    with pytest.warns(DeprecationWarning, match=r'all_faces=...\) is deprecated .* use faces="all" or faces="largest"'):
        old = predict_images(model, [two], detector=detector, all_faces=False, precision="fp32", detect_size=None)
    torch.testing.assert_close(old.au_prob, largest.au_prob)
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg does not exist"):
        predict_images(model, [tmp_path / "missing.jpg"], detector=detector)
    with pytest.raises(ValueError, match=r"faces must be one of 'all', 'largest', got 'every'"):
        predict_images(model, [two], detector=detector, faces="every")  # type: ignore[arg-type]


def test_bad_and_tiny_photos_become_rows_with_a_reason(
    tmp_path: Path, model: smm.SMMEmotionNet, detector: MTCNNDetector
) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(ASTRONAUT).save(tmp_path / "face.png")
    tiny = np.zeros((16, 16, 3), np.uint8)
    inputs = [tmp_path / "broken.jpg", tiny, tmp_path / "face.png", tmp_path / "missing.png"]
    result = predict_images(model, inputs, detector=detector, errors="report", precision="fp32")
    assert result.observed.tolist() == [False, False, True, False]
    assert result.reason[0] == f"{tmp_path / 'broken.jpg'}: cannot be read as an image"
    assert result.reason[1] == ("image too small for face detection (16x16 px; the detector's smallest face is 20 px)")
    assert result.reason[2] == ""
    assert result.reason[3] == f"image {tmp_path / 'missing.png'} does not exist"
    alone = predict_images(model, [tmp_path / "face.png"], detector=detector, precision="fp32")
    torch.testing.assert_close(result.au_prob[2], alone.au_prob[0])  # the good one is predicted as alone
    with pytest.raises(ValueError, match=r"broken\.jpg: cannot be read as an image"):
        predict_images(model, inputs, detector=detector)
    with pytest.raises(ValueError, match=r"errors must be 'raise' or 'report', got 'ignore'"):
        predict_images(model, inputs, detector=detector, errors="ignore")


def test_many_faces_in_one_photo_are_all_found(model: smm.SMMEmotionNet, detector: MTCNNDetector) -> None:
    """A group photo made here: five faces of different sizes, at known places."""
    head = Image.fromarray(ASTRONAUT[20:260, 120:340])
    canvas = Image.new("RGB", (900, 400), (120, 110, 100))
    places = [(20, 40, 150), (200, 120, 110), (360, 30, 180), (580, 150, 90), (720, 60, 140)]  # x, y, width
    for x, y, width in places:
        canvas.paste(head.resize((width, int(width * 240 / 220))), (x, y))
    result = predict_images(model, [np.asarray(canvas)], detector=detector, precision="fp32")
    assert result.face_id.tolist() == [0, 1, 2, 3, 4]
    centres = ((result.box[:, 0] + result.box[:, 2]) / 2).tolist()
    expected = [x + width / 2 for x, _, width in sorted(places, key=lambda p: -p[2])]  # the largest first
    assert centres == pytest.approx(expected, abs=15)


def _video(path: Path) -> list[str]:
    """Frames 0-5 the face, moving slightly; 6-9 no face; 10-11 the face and a second, smaller one."""
    av = pytest.importorskip("av")
    image = Image.fromarray(ASTRONAUT).resize((320, 320))
    kinds = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 320, "yuv420p"
        for i in range(12):
            canvas = Image.new("RGB", (640, 320), (90, 90, 90))
            if i < 6 or i >= 10:
                canvas.paste(image, (i * 4 if i < 6 else 20, 0))
                kinds.append("face")
            else:
                kinds.append("none")
            if i >= 10:
                canvas.paste(image.resize((200, 200)), (420, 60))
            frame = av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return kinds


def test_video_to_csv_one_row_per_frame_and_face(
    tmp_path: Path, model: smm.SMMEmotionNet, detector: MTCNNDetector
) -> None:
    kinds = _video(tmp_path / "clip.mp4")
    features = video_features(
        model, tmp_path / "clip.mp4", detector=detector, detect_every=1, batch_size=5, precision="fp32"
    )
    result = features.predictions(model)
    assert result.frame.tolist() == [*range(1, 11), 11, 11, 12, 12]  # frames 11-12 have two faces
    assert result.face_id.tolist() == [0] * 6 + [-1] * 4 + [0, 1, 0, 1]  # the first face keeps its id
    assert result.observed.tolist() == [k == "face" for k in kinds[:10]] + [True] * 4
    assert result.time.tolist() == pytest.approx([i / 10 for i in range(11)] + [1.0, 1.1, 1.1])
    assert (result.box[[10, 12], 0] < 200).all()
    assert (result.box[[11, 13], 0] > 400).all()
    assert torch.isnan(result.va[6:10]).all()  # no face, no values
    assert features.num_frames == 12
    assert features.size == (640, 320)
    path = write_frames_csv(tmp_path / "clip.csv", result)
    with path.open() as file:
        lines = file.read().splitlines()
    header = lines[0].split(",")
    assert header == [
        "source", "frame", "time", "face", "face_id", "x0", "y0", "x1", "y1",
        "left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y", "nose_x", "nose_y",
        "mouth_left_x", "mouth_left_y", "mouth_right_x", "mouth_right_y", "yaw", "pitch", "roll",
        *model.au_names, *model.expression_names, "expression", "valence", "arousal", "reason",
    ]  # fmt: skip
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert len(rows) == 14
    assert (rows[7]["face"], rows[7]["face_id"], rows[7]["frame"], rows[7]["reason"]) == ("0", "", "8", "no face found")
    assert rows[7]["AU12"] == rows[7]["valence"] == rows[7]["x0"] == rows[7]["nose_y"] == rows[7]["yaw"] == ""
    assert [float(rows[3][k]) for k in ("yaw", "pitch", "roll")] == pytest.approx(result.pose[3].tolist(), abs=0.01)
    assert torch.isnan(result.pose[7]).all()  # no face, no pose
    assert (rows[13]["face"], rows[13]["face_id"], rows[13]["frame"], rows[13]["reason"]) == ("1", "1", "12", "")
    assert float(rows[3]["AU12"]) == pytest.approx(float(result.au_prob[3, 6]), abs=1e-6)
    assert float(rows[3]["Fear"]) == pytest.approx(float(result.expr_prob[3, 3]), abs=1e-6)
    assert float(rows[13]["arousal"]) == pytest.approx(float(result.va[13, 1]), abs=1e-6)
    assert float(rows[3]["nose_x"]) == pytest.approx(float(result.landmarks[3, 2, 0]), abs=0.01)
    assert float(rows[3]["y1"]) == pytest.approx(float(result.box[3, 3]), abs=0.01)
    # Each face's values are the model's on that frame's aligned crop.
    import av

    with av.open(str(tmp_path / "clip.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for row, frame in ((3, 3), (11, 10), (13, 11)):
        au, _, va = _expected(model, decoded[frame], result.landmarks[row].numpy())
        torch.testing.assert_close(result.au_prob[row], au, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(result.va[row], va, atol=1e-5, rtol=1e-5)
    # One row per frame and position for the challenge files: two faces meet, so left and right.
    assert features.sides == ["left", "right"]
    left = features.per_frame(model, "left")
    assert left.frame.tolist() == list(range(1, 13))
    assert left.observed.tolist() == [True] * 6 + [False] * 4 + [True] * 2
    torch.testing.assert_close(left.va[6:10], result.va[5].expand(4, 2))  # the published fill
    torch.testing.assert_close(left.va[10:], result.va[[10, 12]])
    right = features.per_frame(model, "right")
    assert right.observed.tolist() == [False] * 10 + [True] * 2
    torch.testing.assert_close(right.va[:11], result.va[11].expand(11, 2))  # before the first: the first
    # Smoothing runs along each face's own track.
    smoothed = features.predictions(model, alpha=2.0)
    from smm.temporal import exponential_smoothing

    track = [0, 1, 2, 3, 4, 5, 10, 12]
    raw_features = features.messages[[0, 1, 2, 3, 4, 5, 6, 8]]
    expected_va = model.message_space.classify(exponential_smoothing(raw_features, 2.0))[1]
    torch.testing.assert_close(smoothed.va[track], expected_va, atol=1e-5, rtol=1e-5)
    largest = predict_video(model, tmp_path / "clip.mp4", detector=detector, detect_every=1, faces="largest")
    assert largest.frame.tolist() == list(range(1, 13))
    assert largest.face_id.tolist() == [0] * 6 + [-1] * 4 + [0, 0]


def test_detection_needs_no_facenet_pytorch() -> None:
    """The detector is our own: with facenet-pytorch (and torchvision) impossible to import, it finds the face."""
    import subprocess

    code = (
        "import sys\n"
        "sys.modules['facenet_pytorch'] = None\n"
        "sys.modules['torchvision'] = None\n"
        "from skimage import data\n"
        "from smm.face import MTCNNDetector\n"
        "faces = MTCNNDetector().detect([data.astronaut()])[0]\n"
        "assert len(faces) == 1, faces\n"
        "import smm.face.mtcnn, smm.face.detector, smm.face.video\n"
        "print(sorted(m for m in sys.modules if m.startswith(('facenet', 'torchvision')) and sys.modules[m]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_cli_predicts_photos_and_videos_to_csv(tmp_path: Path, model: smm.SMMEmotionNet) -> None:
    from smm.cli import main
    from smm.models.checkpoint import save_checkpoint

    save_checkpoint(model, tmp_path / "ckpt")
    _video(tmp_path / "clip.mp4")
    Image.fromarray(ASTRONAUT).save(tmp_path / "face.jpg")
    args = ["predict", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out"), "--quiet"]
    inputs = [str(tmp_path / "clip.mp4"), str(tmp_path / "face.jpg")]
    assert main([*args, "--input", *inputs, "--abaw", "--faces", "largest"]) == 0
    with (tmp_path / "out" / "clip.csv").open() as file:
        assert [row["frame"] for row in csv.DictReader(file)] == [str(n) for n in range(1, 13)]
    with (tmp_path / "out" / "images.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["face"] for row in rows] == ["1"]
    assert rows[0]["x0"].count(".") == 1
    assert len(rows[0]["x0"].split(".")[1]) == 2
    au = (tmp_path / "out" / "AU" / "clip.txt").read_text().splitlines()
    assert len(au) == 13  # header + one line per frame of the video
    # The challenge files are smoothed as published (AU 7, EXPR 9, VA 9); the CSV is per frame.
    loaded = smm.load_checkpoint(tmp_path / "ckpt")
    features = video_features(loaded, tmp_path / "clip.mp4", detector=MTCNNDetector(), faces="largest")
    published = features.per_frame(loaded, alpha={"AU": 7, "EXPR": 9, "VA": 9})
    raw = features.predictions(loaded)
    va = np.loadtxt(tmp_path / "out" / "VA" / "clip.txt", delimiter=",", skiprows=1)
    np.testing.assert_allclose(va, published.va.numpy(), atol=2e-6)
    assert np.abs(va - features.per_frame(loaded).va.numpy()).max() > 2e-5  # and not the unsmoothed values (10x atol)
    au_lines = [[int(v) for v in line.split(",")] for line in au[1:]]
    assert au_lines == published.au.tolist()
    expr = [int(line) for line in (tmp_path / "out" / "EXPR" / "clip.txt").read_text().splitlines()[1:]]
    assert expr == published.expr.tolist()
    with (tmp_path / "out" / "clip.csv").open() as file:
        valence = [float(row["valence"]) for row in csv.DictReader(file) if row["face"] == "1"]
    np.testing.assert_allclose(valence, raw.va[raw.observed, 0].numpy(), atol=2e-6)
    # With every face (the default), the two faces of frames 11-12 give a file per side.
    assert main([*args[:-3], "--out", str(tmp_path / "all"), "--quiet", "--input", *inputs, "--abaw"]) == 0
    assert sorted(p.name for p in (tmp_path / "all" / "AU").iterdir()) == ["clip_left.txt", "clip_right.txt"]
    assert main([*args, "--input", str(tmp_path / "notes.txt")]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_alignment_on_cuda_matches_cpu() -> None:
    g = torch.Generator().manual_seed(2)
    images = torch.rand(2, 3, 90, 120, generator=g)
    landmarks = torch.from_numpy(TEMPLATE_112)[None] * 0.6 + torch.rand(2, 1, 2, generator=g) * 30
    torch.testing.assert_close(
        align_faces(images.cuda(), landmarks).cpu(), align_faces(images, landmarks), atol=1e-5, rtol=1e-5
    )


def test_bf16_predictions_stay_close_to_fp32(model: smm.SMMEmotionNet, detector: MTCNNDetector) -> None:
    fp32 = predict_images(model, [ASTRONAUT], detector=detector, precision="fp32")
    bf16 = predict_images(model, [ASTRONAUT], detector=detector, precision="bf16")
    assert (fp32.au_prob - bf16.au_prob).abs().max() < 0.05
    assert (fp32.expr_prob - bf16.expr_prob).abs().max() < 0.05
    assert not torch.equal(fp32.au_prob, bf16.au_prob)  # the option has an effect
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16', 'fp16', 'auto'\), got 'int8'"):
        predict_images(model, [ASTRONAUT], detector=detector, precision="int8")


def test_faces_of_many_people_are_found_and_non_faces_are_not(detector: MTCNNDetector) -> None:
    """scikit-image's LFW subset: 100 small face crops of different people, then 100 non-face patches."""
    lfw = skimage_data.lfw_subset()

    def upscaled(patch: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray((patch * 255).astype(np.uint8)).convert("RGB").resize((100, 100)))

    faces = [len(found) for found in detector.detect([upscaled(p) for p in lfw[:50]])]
    others = [len(found) for found in detector.detect([upscaled(p) for p in lfw[100:150]])]
    assert sum(count == 1 for count in faces) >= 45  # 48 of 50 when this test was written
    assert sum(count > 0 for count in others) <= 2  # 0 of 50 when this test was written


def test_alignment_matches_scikit_image_on_a_frame_that_is_not_square() -> None:
    """A face placed by a known similarity in a 480 x 300 frame: our crop against scikit-image's warp."""
    from skimage.transform import SimilarityTransform, warp

    frame = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((480, 300)))
    angle, scale, shift = np.deg2rad(12.0), 2.1, np.array([150.0, 40.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (TEMPLATE_112.astype(np.float64) @ rotation.T + shift).astype(np.float32)  # template -> frame
    ours = (
        align_faces(
            torch.from_numpy(frame.copy()).permute(2, 0, 1)[None].double(), torch.from_numpy(landmarks[None]).double()
        )[0]
        .permute(1, 2, 0)
        .numpy()
    )
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26; from the landmarks to the template
        to_template = SimilarityTransform.from_estimate(landmarks, TEMPLATE_112)
    else:
        to_template = SimilarityTransform()
        assert to_template.estimate(landmarks, TEMPLATE_112)
    theirs = warp(frame.astype(np.float64), to_template.inverse, output_shape=(112, 112), order=1, preserve_range=True)
    assert np.abs(ours - theirs).max() <= 1.0  # within a grey level
    assert np.abs(ours - theirs).mean() < 0.05


def test_box_iou_against_counted_pixels() -> None:
    """IoU of integer boxes, by counting the unit cells each covers (written here), for boxes of any shape."""
    from smm.face import box_iou

    rng = np.random.default_rng(5)
    for _ in range(30):
        corners = rng.integers(0, 20, (6, 2, 2))
        boxes = np.concatenate([corners.min(1), corners.max(1) + 1], axis=1).astype(np.float64)  # x0, y0, x1, y1

        def cells(b: np.ndarray) -> set[tuple[int, int]]:
            return {(x, y) for x in range(int(b[0]), int(b[2])) for y in range(int(b[1]), int(b[3]))}

        expected = [len(cells(boxes[0]) & cells(b)) / len(cells(boxes[0]) | cells(b)) for b in boxes[1:]]
        np.testing.assert_allclose(box_iou(boxes[0], boxes[1:]), expected, atol=1e-12)
    assert box_iou(np.array([0.0, 0, 10, 10]), np.array([[20.0, 20, 30, 30]])).tolist() == [0.0]  # apart
    assert box_iou(np.array([0.0, 0, 10, 10]), np.array([[10.0, 0, 20, 10]])).tolist() == [0.0]  # touching
    assert box_iou(np.array([0.0, 0, 0, 0]), np.array([[0.0, 0, 0, 0]])).tolist() == [0.0]  # empty: no NaN


def test_tracker_shift_is_measured_in_the_longer_side_and_misses_count_from_zero() -> None:
    tall = FaceTracker(iou_threshold=1.0)  # IoU never suffices: the centre rule alone
    assert tall.update(faces((100, 100, 120, 200))) == 0  # 20 wide, 100 tall
    assert tall.update(faces((190, 100, 210, 200))) == 0  # moved 90 px: within one longer side (100)
    assert tall.update(faces((301, 100, 321, 200))) is None  # moved 111 px: beyond it
    wide = FaceTracker(iou_threshold=1.0)
    assert wide.update(faces((100, 100, 200, 120))) == 0  # 100 wide, 20 tall
    assert wide.update(faces((100, 190, 200, 210))) == 0  # moved 90 px down: within the longer side
    patient = FaceTracker()  # default: a track survives 30 missed rounds, not 31
    patient.update(faces((0, 0, 10, 10)))
    for _ in range(30):
        assert patient.update(faces()) is None
    assert patient.box is not None
    assert patient.missed == 30
    patient.update(faces())
    assert patient.box is None
    assert patient.missed == 0
    assert patient.update(faces((50, 50, 60, 60))) == 0  # a new track starts with no misses
    assert patient.missed == 0
    for edge in ({"iou_threshold": 0.0}, {"iou_threshold": 1.0}, {"max_missed": 0}, {"max_shift": 0.0}):
        FaceTracker(**edge)  # the ends of each range are allowed
    strict = FaceTracker(max_missed=0)
    strict.update(faces((0, 0, 10, 10)))
    assert strict.update(faces()) is None
    assert strict.box is None  # no miss allowed: dropped at once


def test_tracker_iou_at_exactly_the_threshold_continues() -> None:
    from smm.face import box_iou

    tracker = FaceTracker(iou_threshold=0.5, max_shift=0.0)  # IoU alone decides
    assert tracker.missed == 0
    assert tracker.update(faces((0, 0, 30, 10))) == 0
    assert box_iou(np.array([0.0, 0, 30, 10]), np.array([[10.0, 0, 40, 10]])).tolist() == [0.5]
    assert tracker.update(faces((10, 0, 40, 10))) == 0  # IoU 0.5 = the threshold: the same face
    assert tracker.update(faces((25, 0, 55, 10))) is None  # IoU 0.2
    tiny = np.array([0.0, 0.0, 0.5, 0.5])  # smaller than a pixel: the IoU is still exact
    assert box_iou(tiny, tiny[None]).tolist() == [1.0]
