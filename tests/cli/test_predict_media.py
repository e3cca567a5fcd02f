"""The command line on a practitioner's media: two people, same-named files, tiny and broken inputs, aligned crops."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.cli import main
from tests.media import write_video
from tests.tiny import tiny_emotionnet

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")
av = pytest.importorskip("av", reason='the video extra: pip install "smm-emotionnet[video]"')

HEAD = np.asarray(Image.fromarray(skimage_data.astronaut()[20:260, 120:340]).resize((130, 142)))


def two_people(path: Path, frames: int = 8) -> Path:
    """A dyadic video: one face on the left throughout, one on the right from frame 3."""
    out = []
    for t in range(frames):
        canvas = Image.new("RGB", (640, 320), (90, 90, 90))
        canvas.paste(Image.fromarray(HEAD), (60 + 2 * t, 80))
        if t >= 2:
            canvas.paste(Image.fromarray(HEAD[:, ::-1].copy()), (430, 90))
        out.append(np.asarray(canvas))
    return write_video(path, out)


def predict(face_checkpoint: Path, out: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> int:
    args = ["predict", "--checkpoint", str(face_checkpoint), "--out", str(out), "--detect-every", "2", *extra]
    return main([*args, "--input", *map(str, inputs)])


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as file:
        return list(csv.DictReader(file))


def test_a_two_person_video_gives_a_track_and_a_challenge_file_per_side(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = two_people(tmp_path / "dyad.mp4")
    assert predict(face_checkpoint, tmp_path / "all", video, extra=("--abaw",)) == 0
    table = rows(tmp_path / "all" / "dyad.csv")
    assert [(r["frame"], r["face_id"]) for r in table] == [("1", "0"), ("2", "0")] + [
        (str(t), face) for t in range(3, 9) for face in ("0", "1")
    ]
    assert all(float(r["x0"]) < 320 for r in table if r["face_id"] == "0")
    assert all(float(r["x0"]) > 320 for r in table if r["face_id"] == "1")
    err = capsys.readouterr().err
    assert "dyad.mp4: 8 frames, a face in 8, 14 face(s) in 2 track(s)" in err
    assert "frames/s" in err
    left = (tmp_path / "all" / "AU" / "dyad_left.txt").read_text().splitlines()
    right = (tmp_path / "all" / "AU" / "dyad_right.txt").read_text().splitlines()
    assert len(left) == len(right) == 9  # header + one line per frame
    assert not (tmp_path / "all" / "AU" / "dyad.txt").exists()
    # The left file holds the left face's (published-smoothed) decisions, the right file the right face's.
    model = smm.load_checkpoint(face_checkpoint)
    features = smm.inference.video_features(model, video, detect_every=2)
    for side, lines in (("left", left), ("right", right)):
        expected = features.per_frame(model, side, alpha="published").au.tolist()
        assert [[int(v) for v in line.split(",")] for line in lines[1:]] == expected
    assert predict(face_checkpoint, tmp_path / "largest", video, extra=("--abaw", "--faces", "largest")) == 0
    assert [r["face_id"] for r in rows(tmp_path / "largest" / "dyad.csv")] == ["0"] * 8
    assert len((tmp_path / "largest" / "AU" / "dyad.txt").read_text().splitlines()) == 9
    assert not (tmp_path / "largest" / "AU" / "dyad_left.txt").exists()


def test_a_group_photo_gives_every_face_and_says_so(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canvas = Image.new("RGB", (800, 300), (120, 110, 100))
    for k, x in enumerate((20, 280, 540)):
        canvas.paste(Image.fromarray(HEAD).resize((130 - 20 * k, 142 - 22 * k)), (x, 60))
    canvas.save(tmp_path / "group.jpg")
    assert predict(face_checkpoint, tmp_path / "out", tmp_path / "group.jpg") == 0
    assert [r["face_id"] for r in rows(tmp_path / "out" / "images.csv")] == ["0", "1", "2"]
    assert "1 photo(s): 3 face(s) in 1 photo(s)" in capsys.readouterr().err
    assert predict(face_checkpoint, tmp_path / "one", tmp_path / "group.jpg", extra=("--faces", "largest")) == 0
    assert [r["face_id"] for r in rows(tmp_path / "one" / "images.csv")] == ["0"]


def test_same_named_inputs_are_refused_before_anything_is_written(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        two_people(tmp_path / folder / "clip.mp4", frames=2)
    assert predict(face_checkpoint, tmp_path / "out", tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"smm-emotionnet predict: error: --input: {tmp_path / 'a' / 'clip.mp4'} and {tmp_path / 'b' / 'clip.mp4'} "
        "would both write clip.csv; rename one or predict them in separate runs"
    ]
    assert not (tmp_path / "out").exists()
    two_people(tmp_path / "images.mp4", frames=2)
    Image.fromarray(HEAD).save(tmp_path / "face.jpg")
    assert predict(face_checkpoint, tmp_path / "out", tmp_path / "images.mp4", tmp_path / "face.jpg") == 2
    assert "would both write images.csv" in capsys.readouterr().err


def test_bad_inputs_are_reported_and_the_good_ones_written(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rule: each input stands alone; a bad one is one line on stderr and exit status 1, the rest are written."""
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    two_people(tmp_path / "good.mp4", frames=3)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    Image.fromarray(HEAD).save(tmp_path / "face.jpg")
    inputs = ("broken.mp4", "good.mp4", "tiny.png", "broken.jpg", "face.jpg")
    code = predict(face_checkpoint, tmp_path / "out", *(tmp_path / name for name in inputs), extra=("--quiet",))
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith(f"skipped {tmp_path / 'broken.mp4'}: cannot be read as a video (")
    assert all(line.count(str(tmp_path)) == 1 for line in lines)  # each line names its file once
    assert "Errno" not in lines[0]
    assert "Traceback" not in captured.err
    assert lines[1:] == [f"skipped {tmp_path / 'broken.jpg'}: cannot be read as an image"]
    assert captured.out.strip() == f"wrote 2 file(s) to {tmp_path / 'out'}; 2 input(s) failed"
    assert [r["frame"] for r in rows(tmp_path / "out" / "good.csv")] == ["1", "2", "3", "3"]
    photos = {Path(r["source"]).name: r for r in rows(tmp_path / "out" / "images.csv")}
    assert photos["tiny.png"]["face"] == "0"
    assert photos["tiny.png"]["reason"] == (
        "image too small for face detection (16x16 px; the detector's smallest face is 20 px)"
    )
    assert photos["broken.jpg"]["reason"] == f"{tmp_path / 'broken.jpg'}: cannot be read as an image"
    assert photos["face.jpg"]["face"] == "1"
    assert not (tmp_path / "out" / "broken.csv").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_device_is_one_line_and_leaves_nothing(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.fromarray(HEAD).save(tmp_path / "face.jpg")
    code = predict(face_checkpoint, tmp_path / "out", tmp_path / "face.jpg", extra=("--device", "cuda"))
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "smm-emotionnet predict: error: --device cuda: CUDA is not available here "
        f"({'a CPU-only torch build' if torch.version.cuda is None else 'no CUDA device is visible'}); use cpu"
    ]
    assert not (tmp_path / "out").exists()
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--device", "cuda:1", "--steps", "1"]) == 2
    assert "error: --device cuda:1: CUDA is not available here" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--recipe", "abaw3"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"smm-emotionnet train: error: data folder {tmp_path / 'nowhere'} does not exist"
    )
    assert not (tmp_path / "runs").exists()  # a run that failed before it started leaves nothing
    assert (
        main(["predict", "--checkpoint", str(face_checkpoint), "--out", "o", "--device", "gpu", "--input", "x.jpg"])
        == 2
    )
    assert "--device gpu: device must be auto, cpu, cuda, cuda:N or another torch device" in capsys.readouterr().err


def test_predict_warns_about_a_model_trained_on_synthetic_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_emotionnet(seed=0)
    model.save_pretrained(tmp_path / "demo", training_data="synthetic", synthetic_data=True)
    Image.fromarray(HEAD).save(tmp_path / "face.jpg")
    assert predict(tmp_path / "demo", tmp_path / "out", tmp_path / "face.jpg", extra=("--quiet",)) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        f"warning: {tmp_path / 'demo'} was trained on synthetic data (the demo): its predictions on real faces "
        "mean nothing. For the published model: smm-emotionnet convert --help"
    ]
    model.save_pretrained(tmp_path / "real", training_data="Aff-Wild2")
    assert predict(tmp_path / "real", tmp_path / "out2", tmp_path / "face.jpg", extra=("--quiet",)) == 0
    assert capsys.readouterr().err == ""
    # The same warning from a challenge run over frame folders.
    (tmp_path / "frames" / "vid").mkdir(parents=True)
    Image.fromarray(HEAD).resize((64, 64)).save(tmp_path / "frames" / "vid" / "00001.jpg")
    (tmp_path / "va.txt").write_text("vid\n")
    for name, warned in (("demo", True), ("real", False)):
        argv = ["predict", "--checkpoint", str(tmp_path / name), "--frames-root", str(tmp_path / "frames")]
        assert (
            main([*argv, "--va-list", str(tmp_path / "va.txt"), "--out", str(tmp_path / f"sub_{name}"), "--quiet"]) == 0
        )
        assert ("was trained on synthetic data" in capsys.readouterr().err) is warned


def test_align_writes_the_affwild2_layout_that_prediction_reads(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = two_people(tmp_path / "dyad.mp4", frames=6)
    old = os.umask(0o027)
    try:
        code = main(["align", str(video), "--out", str(tmp_path / "cropped"), "--detect-every", "2", "--ext", "png"])
    finally:
        os.umask(old)
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "cropped").iterdir()) == ["dyad_left", "dyad_right"]
    left = sorted(p.name for p in (tmp_path / "cropped" / "dyad_left").iterdir())
    right = sorted(p.name for p in (tmp_path / "cropped" / "dyad_right").iterdir())
    assert left == [f"{n:05d}.png" for n in range(1, 7)]  # 1-based, like the download
    assert right == [f"{n:05d}.png" for n in range(3, 7)]  # no image where no face was found
    assert "dyad.mp4: 6 frames, 10 face(s) in 2 track(s) -> dyad_left/ (6), dyad_right/ (4)" in capsys.readouterr().err
    image = tmp_path / "cropped" / "dyad_left" / "00001.png"
    assert image.stat().st_mode & 0o777 == 0o640  # the umask is respected
    assert (tmp_path / "cropped" / "dyad_left").stat().st_mode & 0o777 == 0o750
    # The crops are the prediction pipeline's own, bit for bit.
    from smm.face import FaceFollower, MTCNNDetector, open_video

    follower = FaceFollower(MTCNNDetector(), detect_every=2)
    with open_video(video) as (frames, _):
        found = follower.chunk(list(frames))
    crops = found.crops[torch.from_numpy(found.face_id[found.face_id >= 0] == 0)]
    written = np.stack([np.asarray(Image.open(tmp_path / "cropped" / "dyad_left" / name)) for name in left])
    np.testing.assert_array_equal(written, crops.numpy())
    # JPEG (the default) is the same crops through PIL's encoder at --quality.
    assert main(["align", str(video), "--out", str(tmp_path / "jpg"), "--detect-every", "2", "--quality", "90"]) == 0
    encoded = tmp_path / "again.jpg"
    Image.fromarray(crops[0].numpy()).save(encoded, format="JPEG", quality=90)
    assert (tmp_path / "jpg" / "dyad_left" / "00001.jpg").read_bytes() == encoded.read_bytes()
    # The trainer's dataset reads them as they are: frame n is the image of frame n.
    from smm.data import AffWild2Frames

    (tmp_path / "expr").mkdir()
    codes = ["Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other", *"0123450"[:6]]
    (tmp_path / "expr" / "dyad_left.txt").write_text("\n".join(codes) + "\n")
    dataset = AffWild2Frames(tmp_path / "jpg", expr_dir=tmp_path / "expr", transform=np.asarray)
    assert [dataset[k]["frame"] for k in range(len(dataset))] == [1, 2, 3, 4, 5, 6]
    assert [int(dataset[k]["expr"]) for k in range(len(dataset))] == [0, 1, 2, 3, 4, 5]
    first = np.asarray(dataset[0]["image"])
    np.testing.assert_array_equal(first, np.asarray(Image.open(tmp_path / "jpg" / "dyad_left" / "00001.jpg")))
    # predict --frames reads the folders as they are: one line per frame of each side.
    args = ["predict", "--checkpoint", str(face_checkpoint), "--out", str(tmp_path / "sub"), "--quiet"]
    folders = [str(tmp_path / "cropped" / "dyad_left"), str(tmp_path / "cropped" / "dyad_right")]
    assert main([*args, "--frames", *folders, "--tracks", "au"]) == 0
    assert len((tmp_path / "sub" / "AU" / "dyad_left.txt").read_text().splitlines()) == 7
    # An existing folder is never overwritten; --faces largest writes one folder.
    assert main(["align", str(video), "--out", str(tmp_path / "cropped"), "--quiet"]) == 1
    assert f"{tmp_path / 'cropped' / 'dyad_left'} already exists" in capsys.readouterr().err
    assert main(["align", str(video), "--out", str(tmp_path / "one"), "--faces", "largest", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["dyad"]
    assert not any(p.name.startswith(".") for p in (tmp_path / "one").iterdir())  # no staging left


def test_align_refuses_bad_options_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = two_people(tmp_path / "clip.mp4", frames=2)
    (tmp_path / "other").mkdir()
    two_people(tmp_path / "other" / "clip.mp4", frames=2)
    assert main(["align", str(video), str(tmp_path / "other" / "clip.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "would both write clip/" in capsys.readouterr().err
    assert main(["align", str(video), "--out", str(tmp_path / "o"), "--quality", "96"]) == 2
    assert "--quality must be in [1, 95], got 96" in capsys.readouterr().err
    assert main(["align", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.mp4 does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_command_line_detects_as_often_as_the_library() -> None:
    """The CLI writes its defaults out (its --help imports no torch): they must be the library's."""
    from smm.cli.main import build_parser
    from smm.defaults import DETECT_EVERY, DETECT_SIZE

    predict = build_parser().parse_args(["predict", "--checkpoint", "c", "--out", "o", "--input", "x.mp4"])
    align = build_parser().parse_args(["align", "x.mp4", "--out", "o"])
    assert predict.detect_every == align.detect_every == DETECT_EVERY
    assert predict.detect_size == align.detect_size == DETECT_SIZE


def test_video_options_reach_the_face_path(
    tmp_path: Path, face_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """predict --input and align pass --detect-every, --detect-size (pixels or 'full'), --faces and their own
    options on as given (the library's functions recorded); bad sizes are refused by the parser."""
    import smm.face
    import smm.face.crops
    import smm.runs.runner
    from smm.inference.engines import precision_setup

    video = two_people(tmp_path / "dyad.mp4", frames=2)
    seen: list[dict[str, object]] = []

    def recording(model: Any, path: Path, options: Any, engine: Any, detector: Any) -> None:
        seen.append({**vars(options), "engine": engine, "detector": detector})
        raise ValueError("recorded")

    monkeypatch.setattr(smm.runs.runner, "video_run", recording)
    for k, options in enumerate(
        ([], ["--detect-every", "3", "--detect-size", "full", "--faces", "largest", "--batch-size", "5"],
         ["--detect-size", "240", "--precision", "fp32", "--quiet"])
    ):  # fmt: skip
        out = str(tmp_path / f"o{k}")  # a folder per set of options: one folder holds one run's
        assert (
            main(["predict", "--checkpoint", str(face_checkpoint), "--out", out, "--input", str(video), *options]) == 1
        )
    picked = [{k: o[k] for k in ("detect_every", "detect_size", "faces", "batch_size", "progress")} for o in seen]
    assert picked == [
        {"detect_every": 10, "detect_size": 480, "faces": "all", "batch_size": 32, "progress": True},
        {"detect_every": 3, "detect_size": None, "faces": "largest", "batch_size": 5, "progress": True},
        {"detect_every": 10, "detect_size": 240, "faces": "all", "batch_size": 32, "progress": False},
    ]
    assert all(type(o["detector"]).__name__ == "MTCNNDetector" for o in seen)
    assert all(type(o["engine"]).__name__ == "EagerEngine" for o in seen)  # the --engine made once, passed on
    # --precision reaches the engine (not passed beside it: a made engine runs at its own).
    auto = precision_setup("auto", "cpu").name
    assert [o["engine"].setup.name for o in seen] == [auto, auto, "fp32"]
    assert [o["precision"] for o in seen] == ["auto", "auto", "fp32"]  # as asked; the engine is what runs it
    assert f"skipped {video}: recorded" in capsys.readouterr().err
    # The CSV's rows are smoothed only when an --alpha option is given; the challenge files (--abaw)
    # as published unless one is. The decisions' options reach both.
    video = two_people(tmp_path / "dyad4.mp4", frames=4)  # the second person from frame 3
    features = smm.inference.video_features(
        smm.load_checkpoint(face_checkpoint),
        video,
        detector=smm.face.MTCNNDetector("cpu"),
        detect_every=1,
        progress=False,
    )
    calls: list[tuple[str, dict[str, object]]] = []

    class Recorded:
        sides = features.sides

        def __getattr__(self, name: str) -> object:
            return getattr(features, name)

        def predictions(self, model: object, **options: object) -> object:
            calls.append(("predictions", options))
            return features.predictions(model, **options)

        def per_frame(self, model: object, side: str, **options: object) -> object:
            calls.append((f"per_frame {side}", options))
            return features.per_frame(model, side, **options)

    monkeypatch.setattr(smm.runs.runner, "video_run", lambda *args, **options: Recorded())
    common = ["predict", "--checkpoint", str(face_checkpoint), "--input", str(video), "--quiet", "--abaw"]
    assert main([*common, "--out", str(tmp_path / "p0")]) == 0
    assert main([*common, "--out", str(tmp_path / "p1"), "--alpha-va", "4", "--threshold", "0.7", "--clamp-va"]) == 0
    given = {"AU": None, "EXPR": None, "VA": 4}
    default, changed = {"threshold": 0.5, "clamp_va": False}, {"threshold": 0.7, "clamp_va": True}
    assert features.sides == ["left", "right"]  # two people: a challenge file each
    assert calls == [
        ("predictions", {"alpha": None, **default}),
        ("per_frame left", {"alpha": "published", **default}),
        ("per_frame right", {"alpha": "published", **default}),
        ("predictions", {"alpha": given, **changed}),
        ("per_frame left", {"alpha": given, **changed}),
        ("per_frame right", {"alpha": given, **changed}),
    ]
    aligned: list[dict[str, object]] = []

    def writing(path: Path, out: Path, detector: object, **options: object) -> None:
        aligned.append(options)
        raise ValueError("recorded")

    monkeypatch.setattr(smm.face.crops, "write_aligned_frames", writing)
    assert main(["align", str(video), "--out", str(tmp_path / "a")]) == 1
    assert main(
        ["align", str(video), "--out", str(tmp_path / "a"), "--detect-every", "4", "--detect-size", "full",
         "--faces", "largest", "--ext", "png", "--quality", "80"]
    ) == 1  # fmt: skip
    assert aligned == [
        {"detect_every": 10, "detect_size": 480, "faces": "all", "ext": "jpg", "quality": 95},
        {"detect_every": 4, "detect_size": None, "faces": "largest", "ext": "png", "quality": 80},
    ]
    for bad, words in (("0", "expected a positive number of pixels, got 0"), ("big", "expected a number of pixels "
                       "or 'full', got 'big'")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main(["align", str(video), "--out", str(tmp_path / "a"), "--detect-size", bad])
        assert exit_.value.code == 2
        assert f"argument --detect-size: {words}" in capsys.readouterr().err


def test_photo_options_reach_the_face_path(
    tmp_path: Path, face_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """predict --input on photos passes its options to predict_images (recorded), and a photo without
    a face is a row, not a failure."""
    import smm.runs.runner
    from smm.inference.engines import precision_setup
    from smm.inference.photos import photo_predictions

    seen: list[dict[str, object]] = []

    def recording(model: Any, photos: Any, options: Any, engine: Any, detector: Any, **keywords: Any) -> Any:
        seen.append({**vars(options), **keywords, "engine": engine, "detector": detector})
        return photo_predictions(model, photos, options, engine, detector, **keywords)

    monkeypatch.setattr(smm.runs.runner, "photo_predictions", recording)
    Image.new("RGB", (160, 120), (90, 90, 90)).save(tmp_path / "wall.jpg")  # no face
    given = ["--batch-size", "3", "--precision", "fp32", "--threshold", "0.7", "--clamp-va", "--faces", "largest"]
    for k, options in enumerate(([], given)):
        argv = ["predict", "--checkpoint", str(face_checkpoint), "--out", str(tmp_path / f"o{k}")]
        assert main([*argv, "--input", str(tmp_path / "wall.jpg"), *options]) == 0
        captured = capsys.readouterr()
        assert captured.out == f"wrote 1 file(s) to {tmp_path / f'o{k}'}\n"
        assert captured.err.splitlines()[1:] == ["1 photo(s): 0 face(s) in 0 photo(s)"]  # after the engine line
    picked = [{k: o[k] for k in ("faces", "batch_size", "threshold", "clamp_va", "errors")} for o in seen]
    assert picked == [
        {"faces": "all", "batch_size": 32, "threshold": 0.5, "clamp_va": False, "errors": "report"},
        {"faces": "largest", "batch_size": 3, "threshold": 0.7, "clamp_va": True, "errors": "report"},
    ]
    # --precision reaches the engine made for the run (not passed beside it).
    assert [o["engine"].setup.name for o in seen] == [precision_setup("auto", "cpu").name, "fp32"]
    assert [o["precision"] for o in seen] == ["auto", "fp32"]
    assert all(type(o["engine"]).__name__ == "EagerEngine" for o in seen)
    with (tmp_path / "o0" / "images.csv").open() as file:
        (row,) = csv.DictReader(file)
    assert (row["face"], row["reason"]) == ("0", "no face found")
