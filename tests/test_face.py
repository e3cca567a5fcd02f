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
pytest.importorskip("facenet_pytorch", reason='the face extra: pip install "smm-emotionnet[face]"')

from smm.face import (  # noqa: E402
    TEMPLATE_112,
    Faces,
    FaceTracker,
    MTCNNDetector,
    abaw_rows,
    align_faces,
    csv_columns,
    predict_images,
    predict_video,
    similarity_transform,
    write_frames_csv,
)

ASTRONAUT = skimage_data.astronaut()  # 512 x 512, one face
CENTRE = (224, 117)  # near the face


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


@pytest.fixture(scope="module")
def model() -> smm.SMMEmotionNet:
    torch.manual_seed(0)
    return smm.SMMEmotionNet("resnet18", dim=8, nhead=2, dim_feedforward=16, image_size=64).eval()


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


def test_predict_images(tmp_path: Path, model: smm.SMMEmotionNet, detector: MTCNNDetector) -> None:
    Image.fromarray(ASTRONAUT).save(tmp_path / "face.jpg")
    Image.new("RGB", (120, 90)).save(tmp_path / "empty.png")
    results = predict_images(
        model, [tmp_path / "face.jpg", tmp_path / "empty.png", _variants()["two"]], detector=detector
    )
    assert [r.face for r in results] == [True, False, True]
    first = results[0]
    assert first.au.shape == (12,)
    assert ((first.au > 0) & (first.au < 1)).all()
    assert first.expr.sum() == pytest.approx(1, abs=1e-5)
    assert first.source.endswith("face.jpg")
    assert len(predict_images(model, [_variants()["two"]], detector=detector, all_faces=True)) == 2
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg does not exist"):
        predict_images(model, [tmp_path / "missing.jpg"], detector=detector)


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


def test_video_to_csv_one_row_per_frame(tmp_path: Path, model: smm.SMMEmotionNet, detector: MTCNNDetector) -> None:
    kinds = _video(tmp_path / "clip.mp4")
    results = list(predict_video(model, tmp_path / "clip.mp4", detector=detector, detect_every=1, batch_size=5))
    assert [r.index for r in results] == list(range(12))
    assert [r.face for r in results] == [k == "face" for k in kinds]
    times = [r.time for r in results]
    assert times == sorted(times)
    assert times[1] == pytest.approx(0.1)
    tracked = results[5].box
    for r in results[10:]:  # two faces: the one that continues the track, not the new one
        assert r.box[0] < 200
        assert abs(r.box[0] - tracked[0]) < 40
    path = write_frames_csv(tmp_path / "clip.csv", results, model)
    with path.open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == csv_columns(model)
    assert len(rows) == 12
    assert rows[7]["face"] == "0"
    assert rows[7]["AU12"] == rows[7]["valence"] == rows[7]["x0"] == ""
    assert rows[0]["face"] == "1"
    assert float(rows[0]["AU12"]) == pytest.approx(float(results[0].au[6]), abs=1e-6)
    assert rows[0]["expression"] in model.expression_names
    sparse = list(predict_video(model, tmp_path / "clip.mp4", detector=detector, detect_every=4, batch_size=3))
    assert len(sparse) == 12
    assert sparse[1].face
    assert np.array_equal(sparse[1].landmarks, sparse[0].landmarks)  # reused between detections
    abaw = abaw_rows(results)
    assert abaw["au"].shape == (12, 12)
    np.testing.assert_array_equal(abaw["va"][7], results[5].va)  # frames without a face repeat the last one


def test_without_the_face_extra_the_library_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    with pytest.raises(ImportError, match=r'pip install "smm-emotionnet\[face\]"'):
        MTCNNDetector()


def test_cli_predicts_photos_and_videos_to_csv(tmp_path: Path, model: smm.SMMEmotionNet) -> None:
    from smm.checkpoint import save_checkpoint
    from smm.cli import main

    save_checkpoint(model, tmp_path / "ckpt")
    _video(tmp_path / "clip.mp4")
    Image.fromarray(ASTRONAUT).save(tmp_path / "face.jpg")
    args = ["predict", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out"), "--quiet"]
    assert main([*args, "--input", str(tmp_path / "clip.mp4"), str(tmp_path / "face.jpg"), "--abaw"]) == 0
    with (tmp_path / "out" / "clip.csv").open() as file:
        assert len(list(csv.DictReader(file))) == 12
    with (tmp_path / "out" / "images.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["face"] for row in rows] == ["1"]
    assert rows[0]["x0"].count(".") == 1
    assert len(rows[0]["x0"].split(".")[1]) == 2
    au = (tmp_path / "out" / "AU" / "clip.txt").read_text().splitlines()
    assert len(au) == 13  # header + one line per frame of the video
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
    fp32 = predict_images(model, [ASTRONAUT], detector=detector, precision="fp32")[0]
    bf16 = predict_images(model, [ASTRONAUT], detector=detector, precision="bf16")[0]
    assert np.abs(fp32.au - bf16.au).max() < 0.05
    assert np.abs(fp32.expr - bf16.expr).max() < 0.05
    assert not np.array_equal(fp32.au, bf16.au)  # the option has an effect
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
