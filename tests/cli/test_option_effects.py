"""Options whose effect no other test pinned by value, each against the same run without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smm.cli import main
from smm.data import read_annotation_file
from smm.inference import FramePredictions
from tests.media import face_clips, frames_root


def _csv(folder: Path, name: str) -> FramePredictions:
    return FramePredictions.from_csv(folder / f"{name}.csv")


def _variation(series: object) -> float:
    """Total variation over the frames (rows): exponential smoothing makes it smaller unless the series is flat."""
    values = np.asarray(series, dtype=np.float64)
    return float(np.abs(np.diff(values, axis=0)).sum())


def test_published_alpha_alone_smooths_the_csv_of_an_input_video(tmp_path: Path, face_checkpoint: Path) -> None:
    """``--published-alpha`` with ``--input``: the CSV is smoothed as ``--alpha-au 7 --alpha-expr 9 --alpha-va 9``
    (the published table), not left raw; ``--alpha-va`` still overrides its output; ``--alpha-expr`` alone
    smooths the expressions and nothing else."""
    (video,) = face_clips(tmp_path / "clips", 1, frames=6)
    base = ["predict", "--checkpoint", str(face_checkpoint), "--input", str(video), "--quiet", "--precision", "fp32"]
    runs = {
        "raw": [],
        "published": ["--published-alpha"],
        "explicit": ["--alpha-au", "7", "--alpha-expr", "9", "--alpha-va", "9"],
        "va3": ["--published-alpha", "--alpha-va", "3"],
        "expr": ["--alpha-expr", "9"],
    }
    got = {}
    for name, options in runs.items():
        assert main([*base, "--out", str(tmp_path / name), *options]) == 0
        got[name] = _csv(tmp_path / name, video.stem)
    raw, published, explicit, va3, expr = (got[k] for k in runs)
    assert int(raw.observed.sum()) == 6
    for field in ("au_prob", "expr_prob", "va"):
        np.testing.assert_array_equal(getattr(published, field), getattr(explicit, field))
        assert _variation(getattr(published, field)) < _variation(getattr(raw, field)), field  # smoothed
    np.testing.assert_array_equal(va3.au_prob, published.au_prob)  # AU keeps 7
    assert _variation(published.va) < _variation(va3.va) < _variation(raw.va)  # VA at 3: smoothed less than at 9
    np.testing.assert_array_equal(expr.expr_prob, published.expr_prob)
    np.testing.assert_array_equal(expr.au_prob, raw.au_prob)
    np.testing.assert_array_equal(expr.va, raw.va)


def test_alpha_with_frames_root_smooths_the_submission(tmp_path: Path, submission_checkpoint: Path) -> None:
    """``--alpha`` reaches a ``--frames-root`` run (the test lists' videos) as it reaches ``--frames``."""
    root = frames_root(tmp_path / "frames")
    (tmp_path / "va.txt").write_text("vidA\n")
    lists = ["--frames-root", str(root), "--va-list", str(tmp_path / "va.txt")]
    base = ["predict", "--checkpoint", str(submission_checkpoint), "--quiet"]
    labels = {}
    for name, options in {"none": [*lists], "root": [*lists, "--alpha", "9"]}.items():
        assert main([*base, "--out", str(tmp_path / name), *options]) == 0
        labels[name] = read_annotation_file(tmp_path / name / "VA" / "vidA.txt", "VA").labels
    one = ["--frames", str(root / "vidA"), "--tracks", "va", "--alpha", "9", "--num-frames", str(len(labels["none"]))]
    assert main([*base, "--out", str(tmp_path / "one"), *one]) == 0
    alone = read_annotation_file(tmp_path / "one" / "VA" / "vidA.txt", "VA").labels
    np.testing.assert_array_equal(labels["root"], alone)
    assert _variation(labels["root"]) < _variation(labels["none"])


def test_expr_list_writes_the_expression_files_of_its_videos(tmp_path: Path, submission_checkpoint: Path) -> None:
    root = frames_root(tmp_path / "frames")
    (tmp_path / "expr.txt").write_text("vidB_left\n")
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--frames-root", str(root), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--expr-list", str(tmp_path / "expr.txt")]) == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.txt")) == [
        "EXPR/vidB_left.txt"
    ]
    expr = read_annotation_file(tmp_path / "out" / "EXPR" / "vidB_left.txt", "EXPR").labels
    assert len(expr) == 3  # frames 1-3: up to its last image (no count given)


def test_videos_and_frame_offset_set_the_number_of_lines(tmp_path: Path, submission_checkpoint: Path) -> None:
    """``predict --videos``: one line per frame of the raw video; ``--frame-offset N`` adds N lines."""
    pytest.importorskip("av")
    from tests.media import write_video

    root = frames_root(tmp_path / "frames")
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "vidA.mp4", [np.full((32, 32, 3), 10 * k, np.uint8) for k in range(9)])
    (tmp_path / "va.txt").write_text("vidA\n")
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--frames-root", str(root), "--quiet"]
    argv += ["--va-list", str(tmp_path / "va.txt")]
    lines = {}
    for name, options in {
        "images": [],
        "videos": ["--videos", str(tmp_path / "videos")],
        "offset": ["--videos", str(tmp_path / "videos"), "--frame-offset", "2"],
    }.items():
        assert main([*argv, "--out", str(tmp_path / name), *options]) == 0
        lines[name] = read_annotation_file(tmp_path / name / "VA" / "vidA.txt", "VA").num_frames
    assert lines == {"images": 4, "videos": 9, "offset": 11}


def test_align_device_reaches_the_detector_and_a_missing_one_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    import smm.face

    (video,) = face_clips(tmp_path / "clips", 1, frames=2)
    devices: list[str] = []
    real = smm.face.default_detector

    def recording(device: str = "cpu") -> object:
        devices.append(str(device))
        return real(device)

    monkeypatch.setattr(smm.face, "default_detector", recording)
    assert main(["align", str(video), "--out", str(tmp_path / "a"), "--device", "cpu", "--quiet"]) == 0
    assert devices == ["cpu"]
    assert len(list((tmp_path / "a" / video.stem).glob("*.jpg"))) == 2
    if not torch.cuda.is_available():
        assert main(["align", str(video), "--out", str(tmp_path / "b"), "--device", "cuda", "--quiet"]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            "smm-emotionnet align: error: --device cuda: CUDA is not available here "
            f"({'a CPU-only torch build' if torch.version.cuda is None else 'no CUDA device is visible'}); use cpu"
        ]
        assert not (tmp_path / "b").exists()


def test_quiet_silences_the_progress_and_changes_no_file(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (video,) = face_clips(tmp_path / "clips", 1, frames=3)
    base = ["predict", "--checkpoint", str(face_checkpoint), "--input", str(video), "--precision", "fp32"]
    assert main([*base, "--out", str(tmp_path / "told")]) == 0
    told = capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert f"{video.name}: 3 frames" in told.err  # the per-video summary ...
    assert "frames" not in quiet.err  # ... is what --quiet leaves out
    assert len(quiet.err) < len(told.err)
    assert quiet.out == told.out.replace(str(tmp_path / "told"), str(tmp_path / "quiet"))
    written = {p.name: p.read_bytes() for p in (tmp_path / "told").iterdir() if p.suffix == ".csv"}
    assert written
    assert written == {p.name: p.read_bytes() for p in (tmp_path / "quiet").iterdir() if p.suffix == ".csv"}


@pytest.mark.parametrize("name", ["smm_resnet18", "smm_abaw3"])
def test_info_model_describes_that_model(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    import smm

    config = smm.create_model(name).config
    assert main(["info", "--model", name]) == 0
    said = capsys.readouterr().out
    assert f"model: {name} (registry;" in said
    assert f"backbone {config.backbone}," in said
    assert f"input {tuple(config.data_config['input_size'])}" in said
