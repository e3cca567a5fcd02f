"""Submissions: the checker flags each kind of mistake, and the CLI predicts and checks the test lists."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.cli import main
from smm.data import read_annotation_file, read_multitask_csv, read_multitask_test_list
from smm.formats.abaw_files import write_au_file, write_expr_file, write_multitask_file, write_va_file
from smm.models.checkpoint import save_checkpoint
from smm.submission import Problem, check, check_submission
from tests.media import frames_root

FRAMES = {"vidA": 4, "vidB_left": 3}
MTL_LIST = "image\nvidA/00002.jpg\nvidA/00001.jpg\nvidC/00005.jpg\n"


def _good_submission(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    for video, count in FRAMES.items():
        write_au_file(folder / "AU" / f"{video}.txt", rng.integers(0, 2, (count, 12)))
        write_expr_file(folder / "EXPR" / f"{video}.txt", rng.integers(0, 8, count))
        write_va_file(folder / "VA" / f"{video}.txt", rng.uniform(-1, 1, (count, 2)))
    images = ["vidA/00002.jpg", "vidA/00001.jpg", "vidC/00005.jpg"]
    write_multitask_file(
        folder / "MTL_predictions.txt",
        images,
        rng.uniform(-1, 1, (3, 2)),
        rng.integers(0, 8, 3),
        rng.integers(0, 2, (3, 12)),
    )
    return folder


def _check(folder: Path, tmp_path: Path, **options: object) -> list[Problem]:
    (tmp_path / "mtl_list.txt").write_text(MTL_LIST)
    videos = list(FRAMES)
    return check_submission(
        folder,
        au_videos=videos,
        expr_videos=videos,
        va_videos=videos,
        mtl_list=read_multitask_test_list(tmp_path / "mtl_list.txt"),
        frame_counts=FRAMES,
        **options,
    )


def test_good_submission_passes(tmp_path: Path) -> None:
    assert _check(_good_submission(tmp_path / "sub"), tmp_path) == []


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().split("\n")
    lines[number - 1] = text
    path.write_text("\n".join(lines))


MISTAKES = {
    "missing file": (
        lambda s: (s / "AU" / "vidA.txt").unlink(),
        "AU/vidA.txt: error: missing: vidA is in the AU test list",
    ),
    "extra file": (
        lambda s: (s / "EXPR" / "other.txt").write_text("x"),
        "EXPR/other.txt: error: other is not in the EXPR test list",
    ),
    "missing folder": (
        lambda s: [p.unlink() for p in (s / "VA").iterdir()] and (s / "VA").rmdir(),
        "VA: error: no VA folder",
    ),
    "wrong header": (
        lambda s: _replace_line(s / "AU" / "vidA.txt", 1, "AU1,AU2"),
        "AU/vidA.txt:1: error: header 'AU1,AU2', expected 'AU1,AU2,AU4",
    ),
    "too few lines": (
        lambda s: (s / "EXPR" / "vidA.txt").write_text(
            "\n".join((s / "EXPR" / "vidA.txt").read_text().split("\n")[:-2]) + "\n"
        ),
        "EXPR/vidA.txt: error: 3 prediction line(s), but the video has 4 frames",
    ),
    "AU probability": (
        lambda s: _replace_line(s / "AU" / "vidA.txt", 2, "0.7" + ",0" * 11),
        "AU/vidA.txt:2: error: AU values must be 0 or 1, got '0.7'",
    ),
    "AU count": (
        lambda s: _replace_line(s / "AU" / "vidA.txt", 3, "0,1"),
        "AU/vidA.txt:3: error: expected 12 AU values, got 2",
    ),
    "class 8": (
        lambda s: _replace_line(s / "EXPR" / "vidB_left.txt", 2, "8"),
        "EXPR/vidB_left.txt:2: error: expression must be a class 0..7, got '8'",
    ),
    "class -1": (
        lambda s: _replace_line(s / "EXPR" / "vidB_left.txt", 3, "-1"),
        "EXPR/vidB_left.txt:3: error: expression must be a class 0..7, got '-1'",
    ),
    "VA text": (
        lambda s: _replace_line(s / "VA" / "vidA.txt", 2, "high,0.1"),
        "VA/vidA.txt:2: error: valence/arousal must be numbers",
    ),
    "VA nan": (
        lambda s: _replace_line(s / "VA" / "vidA.txt", 2, "nan,0.1"),
        "VA/vidA.txt:2: error: valence/arousal must be finite",
    ),
    "VA range": (
        lambda s: _replace_line(s / "VA" / "vidA.txt", 3, "1.5,0.1"),
        "VA/vidA.txt:3: warning: valence/arousal outside [-1, 1]",
    ),
    "blank line": (
        lambda s: _replace_line(s / "VA" / "vidA.txt", 3, ""),
        "VA/vidA.txt:3: error: blank line inside the file",
    ),
    "BOM": (
        lambda s: (s / "VA" / "vidA.txt").write_bytes(b"\xef\xbb\xbf" + (s / "VA" / "vidA.txt").read_bytes()),
        "VA/vidA.txt:1: error: starts with a UTF-8 byte-order mark",
    ),
    "CRLF": (
        lambda s: (s / "VA" / "vidA.txt").write_bytes((s / "VA" / "vidA.txt").read_bytes().replace(b"\n", b"\r\n")),
        "VA/vidA.txt: warning: Windows (CRLF) line ends",
    ),
    "MTL header": (
        lambda s: _replace_line(
            s / "MTL_predictions.txt", 1, "image,valence,arousal,expression," + ",".join(smm.ABAW3.au_names)
        ),
        "MTL_predictions.txt:1: error: header 'image,valence,arousal,expression,AU1",
    ),
    "MTL order": (
        lambda s: _replace_line(s / "MTL_predictions.txt", 2, "vidA/00001.jpg,0,0,1" + ",0" * 12),
        "MTL_predictions.txt:2: error: image 'vidA/00001.jpg', but the test list has 'vidA/00002.jpg' here",
    ),
    "MTL rows": (
        lambda s: _replace_line(s / "MTL_predictions.txt", 4, ""),
        "MTL_predictions.txt: error: 2 row(s), but the test list has 3 images",
    ),
    "MTL fields": (
        lambda s: _replace_line(s / "MTL_predictions.txt", 3, "vidA/00001.jpg,0,0,1,0"),
        "MTL_predictions.txt:3: error: expected 16 fields",
    ),
    "MTL AU": (
        lambda s: _replace_line(s / "MTL_predictions.txt", 3, "vidA/00001.jpg,0,0,1,0.2" + ",0" * 11),
        "MTL_predictions.txt:3: error: AU values must be 0 or 1, got '0.2'",
    ),
    "MTL class": (
        lambda s: _replace_line(s / "MTL_predictions.txt", 3, "vidA/00001.jpg,0,0,9" + ",0" * 12),
        "MTL_predictions.txt:3: error: expression must be a class 0..7, got '9'",
    ),
    "MTL missing": (lambda s: (s / "MTL_predictions.txt").unlink(), "MTL_predictions.txt: error: missing"),
    "folder as a file": (
        lambda s: ((s / "EXPR" / "vidA.txt").unlink(), (s / "EXPR" / "vidA.txt").mkdir()),
        "EXPR/vidA.txt: error: a folder where a prediction file should be",
    ),
    "dangling symlink": (
        lambda s: ((s / "VA" / "vidA.txt").unlink(), (s / "VA" / "vidA.txt").symlink_to(s / "nowhere.txt")),
        "VA/vidA.txt: error: a symbolic link (to a missing file)",
    ),
    "symlink": (
        lambda s: (
            (s / "AU" / "vidA.txt").rename(s / "elsewhere.txt"),
            (s / "AU" / "vidA.txt").symlink_to(s / "elsewhere.txt"),
        ),
        "AU/vidA.txt: error: a symbolic link (to another file)",
    ),
    "MTL folder": (
        lambda s: ((s / "MTL_predictions.txt").unlink(), (s / "MTL_predictions.txt").mkdir()),
        "MTL_predictions.txt: error: a folder where a prediction file should be",
    ),
    "not UTF-8": (
        lambda s: (s / "VA" / "vidA.txt").write_bytes(b"valence,arousal\n0.1,0.2\n\xff\xfe,0.1\n"),
        "VA/vidA.txt:3: error: not UTF-8 text",
    ),
    "too large": (
        lambda s: os.truncate(s / "VA" / "vidA.txt", check.MAX_FILE_BYTES + 1),
        "VA/vidA.txt: error: 268435457 bytes, too large to be a prediction file",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_checker_flags_each_mistake(tmp_path: Path, mistake: str) -> None:
    folder = _good_submission(tmp_path / "sub")
    spoil, expected = MISTAKES[mistake]
    spoil(folder)
    lines = [str(p).replace(f"{folder}/", "") for p in _check(folder, tmp_path)]
    assert any(line.startswith(expected) for line in lines), lines


def test_checker_reports_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _good_submission(tmp_path / "sub")
    unreadable = folder / "VA" / "vidA.txt"
    read = Path.read_bytes

    def denied(path: Path) -> bytes:  # as chmod 0 would, for a user other than root (CI runs as root)
        if path == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    lines = [str(p).replace(f"{folder}/", "") for p in _check(folder, tmp_path)]
    assert any(line.startswith("VA/vidA.txt: error: cannot be read (Permission denied)") for line in lines), lines


def test_cli_checker_never_prints_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _good_submission(tmp_path / "sub")
    for spoil, _ in (MISTAKES["folder as a file"], MISTAKES["dangling symlink"]):
        spoil(folder)
    (folder / "AU" / "vidB_left.txt").write_bytes(b"\xff\xfe")
    (tmp_path / "au.txt").write_text("vidA\nvidB_left\n")
    (tmp_path / "expr.txt").write_text("vidA\nvidB_left\n")
    (tmp_path / "va.txt").write_text("vidA\nvidB_left\n")
    lists = ["--au-list", str(tmp_path / "au.txt"), "--expr-list", str(tmp_path / "expr.txt")]
    code = main(["check-submission", str(folder), *lists, "--va-list", str(tmp_path / "va.txt")])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.out + captured.err
    assert "EXPR/vidA.txt: error: a folder where a prediction file should be" in captured.out
    assert "VA/vidA.txt: error: a symbolic link (to a missing file)" in captured.out
    assert "AU/vidB_left.txt:1: error: not UTF-8 text" in captured.out


def test_checker_caps_problems_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    write_va_file(folder / "VA" / "vidA.txt", np.full((4, 2), 3.0))
    problems = check_submission(folder, va_videos=["vidA"], max_per_file=2)
    assert [p.severity for p in problems] == ["warning", "warning", "warning"]
    assert problems[-1].message == "... and 2 more line problem(s) in this file"


def test_checker_needs_a_list(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give at least one test list"):
        check_submission(tmp_path)
    assert [str(p) for p in check_submission(tmp_path / "nowhere", au_videos=["a"])] == [
        f"{tmp_path / 'nowhere'}: error: submission folder does not exist"
    ]


# --- command line -------------------------------------------------------------------


def test_cli_predicts_the_test_lists_and_the_checker_accepts_it(
    tmp_path: Path, submission_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = frames_root(tmp_path / "cropped_aligned")
    (tmp_path / "au.txt").write_text("vidA\nvidB_left\n")
    (tmp_path / "mtl.txt").write_text(MTL_LIST)
    annotations = tmp_path / "annotations" / "AU"
    annotations.mkdir(parents=True)
    for video, count in FRAMES.items():
        (annotations / f"{video}.txt").write_text("AU1\n" + "0\n" * count)
    lists = ["--au-list", str(tmp_path / "au.txt"), "--mtl-list", str(tmp_path / "mtl.txt")]
    out = tmp_path / "submission"
    argv = [
        "predict",
        "--checkpoint",
        str(submission_checkpoint),
        "--frames-root",
        str(root),
        "--out",
        str(out),
        *lists,
    ]
    assert main([*argv, "--annotations", str(tmp_path / "annotations"), "--published-alpha", "--quiet"]) == 0
    assert "wrote 3 file(s)" in capsys.readouterr().out
    assert read_annotation_file(out / "AU" / "vidA.txt", "AU").num_frames == 4
    assert read_annotation_file(out / "AU" / "vidB_left.txt", "AU").num_frames == 3
    assert not (out / "EXPR").exists()
    mtl = read_multitask_csv(out / "MTL_predictions.txt")
    assert mtl.images == ("vidA/00002.jpg", "vidA/00001.jpg", "vidC/00005.jpg")

    check = ["check-submission", str(out), *lists, "--annotations", str(tmp_path / "annotations")]
    assert main(check) == 0
    assert "0 error(s), 0 warning(s) (AU, MTL checked)" in capsys.readouterr().out
    (annotations / "vidA.txt").write_text("AU1\n" + "0\n" * 6)  # the video is longer than the file
    assert main(check) == 1
    assert "vidA.txt: error: 4 prediction line(s), but the video has 6 frames" in capsys.readouterr().out


def test_cli_without_counts_says_so(
    tmp_path: Path, submission_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = frames_root(tmp_path / "frames")
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--frames", str(root / "vidA")]
    assert main([*argv, "--out", str(tmp_path / "o"), "--tracks", "va", "--quiet"]) == 0
    assert "frame count unknown for 1 video(s) (vidA)" in capsys.readouterr().err
    assert read_annotation_file(tmp_path / "o" / "VA" / "vidA.txt", "VA").num_frames == 4  # up to the last image
    counted = [*argv, "--out", str(tmp_path / "o7"), "--tracks", "va", "--num-frames", "7", "--quiet", "--clamp-va"]
    assert main(counted) == 0
    assert "frame count unknown" not in capsys.readouterr().err
    va = read_annotation_file(tmp_path / "o7" / "VA" / "vidA.txt", "VA").labels
    assert va.shape == (7, 2)
    np.testing.assert_array_equal(va[4], va[3])  # frames 5-7 repeat frame 4
    np.testing.assert_array_equal(va[6], va[3])


def test_cli_alpha_options_change_the_output(tmp_path: Path, submission_checkpoint: Path) -> None:
    root = frames_root(tmp_path / "frames")
    base = [
        "predict",
        "--checkpoint",
        str(submission_checkpoint),
        "--frames",
        str(root / "vidA"),
        "--tracks",
        "va",
        "--quiet",
    ]
    outputs = {}
    for name, options in {
        "none": [],
        "all": ["--alpha", "9"],
        "va": ["--alpha-va", "9"],
        "au": ["--alpha-au", "9"],
    }.items():
        assert main([*base, "--out", str(tmp_path / name), *options]) == 0
        outputs[name] = read_annotation_file(tmp_path / name / "VA" / "vidA.txt", "VA").labels
    np.testing.assert_array_equal(outputs["all"], outputs["va"])  # --alpha-va alone smooths VA like --alpha
    np.testing.assert_array_equal(outputs["au"], outputs["none"])  # --alpha-au leaves VA alone
    assert not np.array_equal(outputs["va"], outputs["none"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --input (photos, videos), --frames (cropped-aligned video folders) or --frames-root"),
        (["--frames-root", "."], "--frames-root needs at least one test list"),
        (["--frames", "a", "b", "--num-frames", "3"], "--num-frames goes with a single --frames folder"),
    ],
)
def test_cli_predict_argument_errors(
    tmp_path: Path, submission_checkpoint: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "00001.jpg")
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--out", str(tmp_path / "o")]
    extra = [str(tmp_path / e) if e in ("a", "b") else e for e in extra]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


def test_frame_counts_from_video_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    av = pytest.importorskip("av")
    from smm.data.videos import count_video_frames, video_file

    videos = tmp_path / "videos" / "batch1"
    videos.mkdir(parents=True)
    with av.open(str(videos / "vidB.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(11):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    path = video_file(tmp_path / "videos", "vidB_left")
    assert path == videos / "vidB.mp4"
    assert count_video_frames(path, exact=True) == 11
    assert count_video_frames(path) == 11
    with pytest.raises(FileNotFoundError, match=r"no video file named vidZ"):
        video_file(tmp_path / "videos", "vidZ_right")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"broken\.mp4: cannot be decoded"):
        count_video_frames(tmp_path / "broken.mp4")
    sub = tmp_path / "sub"
    write_va_file(sub / "VA" / "vidB_left.txt", np.zeros((3, 2)))
    (tmp_path / "list.txt").write_text("vidB_left\n")
    args = ["check-submission", str(sub), "--va-list", str(tmp_path / "list.txt"), "--videos", str(tmp_path / "videos")]
    assert main(args) == 1
    assert "3 prediction line(s), but the video has 11 frames" in capsys.readouterr().out
    assert main([*args, "--frame-offset", "-8"]) == 0


def test_cli_threshold_clamp_and_tracks_have_their_effect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    model = smm.SMMEmotionNet("resnet18", num_regions=13, num_labelled=12, dim=8, nhead=2, dim_feedforward=16)
    with torch.no_grad():
        model.message_space.va.bias.fill_(3.0)  # VA far above 1
    save_checkpoint(model.eval(), tmp_path / "ckpt")
    root = frames_root(tmp_path / "frames")
    base = ["predict", "--checkpoint", str(tmp_path / "ckpt" / "model.safetensors"), "--frames", str(root / "vidA")]
    base += ["--quiet", "--batch-size", "2"]

    def run(name: str, *options: str) -> Path:
        assert main([*base, "--out", str(tmp_path / name), *options]) == 0
        return tmp_path / name

    raw = np.loadtxt(run("raw", "--tracks", "va") / "VA" / "vidA.txt", delimiter=",", skiprows=1)
    clamped = np.loadtxt(run("clamped", "--tracks", "va", "--clamp-va") / "VA" / "vidA.txt", delimiter=",", skiprows=1)
    assert raw.min() > 1
    np.testing.assert_array_equal(clamped, np.ones_like(raw))
    assert not (tmp_path / "raw" / "AU").exists()
    assert not (tmp_path / "raw" / "MTL_predictions.txt").exists()
    low = read_annotation_file(run("low", "--tracks", "au", "--threshold", "0") / "AU" / "vidA.txt", "AU").labels
    high = read_annotation_file(run("high", "--tracks", "au", "--threshold", "1") / "AU" / "vidA.txt", "AU").labels
    assert (low == 1).all()
    assert (high == 0).all()
    assert not (tmp_path / "low" / "VA").exists()


def test_check_submission_mtl_file_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _good_submission(tmp_path / "sub")
    (folder / "MTL_predictions.txt").rename(folder / "mtl.txt")
    (tmp_path / "mtl_list.txt").write_text(MTL_LIST)
    args = ["check-submission", str(folder), "--mtl-list", str(tmp_path / "mtl_list.txt")]
    assert main(args) == 1
    assert "MTL_predictions.txt: error: missing" in capsys.readouterr().out
    assert main([*args, "--mtl-file", "mtl.txt"]) == 0


def test_write_submission_errors_name_the_video_and_leave_the_folder_as_it_was(
    tmp_path: Path, submission_checkpoint: Path
) -> None:
    from smm.submission import write_submission

    model = smm.load_checkpoint(submission_checkpoint)
    root = frames_root(tmp_path / "cropped_aligned")
    out = tmp_path / "submission"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    # vidA is fine and comes first; vidB_left's count is smaller than its last image (frame 3).
    with pytest.raises(ValueError, match=r"frame_counts\['vidB_left'\]=2, but .*vidB_left has an image of frame 3"):
        write_submission(model, root, out, au_videos=["vidA", "vidB_left"], frame_counts={"vidA": 4, "vidB_left": 2})
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written, nothing left
    with pytest.raises(ValueError, match=r"frame_counts\['vidA'\] must be a positive integer, got 4.5"):
        write_submission(model, root, out, au_videos=["vidA"], frame_counts={"vidA": 4.5})
    report = write_submission(model, root, out, au_videos=["vidA"], frame_counts={"vidA": 6.0})  # OpenCV's float
    assert report.frames == {"vidA": 6}
    assert report.files == [out / "AU" / "vidA.txt"]
    assert read_annotation_file(out / "AU" / "vidA.txt", "AU").num_frames == 6
    assert (out / "notes.txt").read_text() == "mine\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_multitask_file_values_follow_the_list_order(tmp_path: Path, submission_checkpoint: Path) -> None:
    """Each row holds the prediction of the image it names, also when the list is out of frame order."""
    import timm.data

    from smm.submission import write_submission

    model = smm.load_checkpoint(submission_checkpoint)
    root = frames_root(tmp_path / "cropped_aligned")
    (tmp_path / "mtl.txt").write_text("image\nvidA/00004.jpg\nvidB_left/00002.jpg\nvidA/00001.jpg\nvidA/00002.jpg\n")
    test_list = read_multitask_test_list(tmp_path / "mtl.txt")
    write_submission(model, root, tmp_path / "sub", mtl_list=test_list, precision="fp32")
    written = read_multitask_csv(tmp_path / "sub" / "MTL_predictions.txt")
    assert written.images == test_list.images
    transform = timm.data.create_transform(**model.data_config)
    for row, image in enumerate(test_list.images):
        with Image.open(root / image) as opened, torch.no_grad():
            out = model(transform(opened.convert("RGB"))[None])  # this image alone, computed here
        np.testing.assert_allclose(written.va[row], out.va[0].numpy(), atol=2e-6)
        assert written.expr[row] == int(out.expr[0].argmax())
        np.testing.assert_array_equal(written.au[row], (torch.sigmoid(out.au[0]) > 0.5).long().numpy())


def _lines(folder: Path, tmp_path: Path, **options: object) -> list[str]:
    problems = _check(folder, tmp_path, **options)
    return [str(p).replace(f"{folder}/", "").replace(str(folder), ".") for p in problems]


def test_checker_reports_each_problem_whole(tmp_path: Path) -> None:
    """Every problem's file, line and message, written out: nothing more, nothing less."""
    folder = _good_submission(tmp_path / "sub")
    (folder / "AU" / "notes.md").write_text("mine")
    (folder / "AU" / ".DS_Store").write_text("hidden files are ignored")
    (folder / "EXPR" / "vidA.txt").write_bytes(b"\xff")  # unreadable as text: the next video is still checked
    _replace_line(folder / "EXPR" / "vidB_left.txt", 2, "1,2")
    _replace_line(folder / "VA" / "vidA.txt", 3, "0.1")
    (folder / "VA" / "vidB_left.txt").write_text("")
    _replace_line(folder / "AU" / "vidA.txt", 2, "0,0.5" + ",0" * 10)  # the bad value is not the first
    _replace_line(folder / "MTL_predictions.txt", 2, "vidA/00009.jpg,0,0,1" + ",0" * 12)  # wrong image: row skipped
    _replace_line(folder / "MTL_predictions.txt", 3, "vidA/00001.jpg,nan,0,1" + ",0" * 12)  # and the next is checked
    _replace_line(folder / "MTL_predictions.txt", 4, "vidC/00005.jpg,0,0,1,2" + ",0" * 11)
    assert _lines(folder, tmp_path) == [
        "AU: error: files other than <video>.txt: notes.md",
        "AU/vidA.txt:2: error: AU values must be 0 or 1, got '0.5'",
        "EXPR/vidA.txt:1: error: not UTF-8 text",
        "EXPR/vidB_left.txt:2: error: expected one expression class, got 2 fields",
        "VA/vidA.txt:3: error: expected valence and arousal, got 1 fields",
        "VA/vidB_left.txt: error: empty file, expected the header 'valence,arousal'",
        "MTL_predictions.txt:2: error: image 'vidA/00009.jpg', but the test list has 'vidA/00002.jpg' here",
        "MTL_predictions.txt:3: error: valence/arousal must be finite, got 'nan,0'",
        "MTL_predictions.txt:4: error: AU values must be 0 or 1, got '2'",
    ]


def test_checker_line_counts_caps_and_bom_whole(tmp_path: Path) -> None:
    folder = _good_submission(tmp_path / "sub")
    (folder / "VA" / "vidA.txt").write_text("valence,arousal\n" + "3,0\n" * 3)  # 3 lines, 4 frames; all warnings
    bom = folder / "AU" / "vidB_left.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + bom.read_bytes())  # the header after the mark is still read whole
    _replace_line(folder / "EXPR" / "vidA.txt", 2, "x")
    for n in range(3, 6):
        _replace_line(folder / "EXPR" / "vidA.txt", n, "9")
    expected_va = [
        "VA/vidA.txt: error: 3 prediction line(s), but the video has 4 frames (one line per frame after the header)",
        *(f"VA/vidA.txt:{n}: warning: valence/arousal outside [-1, 1]: 3,0" for n in (2, 3, 4)),
    ]
    assert _lines(folder, tmp_path) == [
        "AU/vidB_left.txt:1: error: starts with a UTF-8 byte-order mark",
        "EXPR/vidA.txt:2: error: expression must be a class 0..7, got 'x'",
        *(f"EXPR/vidA.txt:{n}: error: expression must be a class 0..7, got '9'" for n in (3, 4, 5)),
        *expected_va,
    ]
    capped = _lines(folder, tmp_path, max_per_file=2)
    assert capped[-4:] == [
        expected_va[0],
        *expected_va[1:3],
        "VA/vidA.txt: warning: ... and 1 more line problem(s) in this file",
    ]
    assert "EXPR/vidA.txt: error: ... and 2 more line problem(s) in this file" in capped
    header = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n"
    (folder / "EXPR" / "vidA.txt").write_text(header + "8\n" * 7)  # 7 bad lines: the default cap is 5
    many = [line for line in _lines(folder, tmp_path) if line.startswith("EXPR/vidA.txt")]
    assert many[-1] == "EXPR/vidA.txt: error: ... and 2 more line problem(s) in this file"
    assert len(many) == 1 + 5 + 1  # the line count, the first 5, the summary


def test_checker_file_size_limit_and_special_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _good_submission(tmp_path / "sub")
    size = (folder / "VA" / "vidA.txt").stat().st_size
    monkeypatch.setattr(check, "MAX_FILE_BYTES", size)
    assert not any(line.startswith("VA/vidA.txt") for line in _lines(folder, tmp_path))  # exactly the limit: read
    monkeypatch.setattr(check, "MAX_FILE_BYTES", size - 1)
    assert f"VA/vidA.txt: error: {size} bytes, too large to be a prediction file (at most {size - 1})" in _lines(
        folder, tmp_path
    )
    monkeypatch.undo()
    (folder / "EXPR" / "vidA.txt").unlink()
    os.mkfifo(folder / "EXPR" / "vidA.txt")
    assert "EXPR/vidA.txt: error: not a regular file" in _lines(folder, tmp_path)
    with pytest.raises(
        ValueError, match=r"^give at least one test list: au_videos, expr_videos, va_videos or mtl_list$"
    ):
        check_submission(folder)


def test_write_submission_counts_logs_and_tracks(tmp_path: Path, submission_checkpoint: Path) -> None:
    from smm.inference import predict_frames
    from smm.submission import write_submission, write_video_files

    model = smm.load_checkpoint(submission_checkpoint)
    root = frames_root(tmp_path / "cropped_aligned")  # vidA has images of frames 1, 2, 4
    (tmp_path / "mtl.txt").write_text("image\nvidA/00006.jpg\nvidC/00005.jpg\n")  # vidA listed past its last image
    lines: list[str] = []
    report = write_submission(
        model,
        root,
        tmp_path / "sub",
        expr_videos=["vidA"],
        mtl_list=read_multitask_test_list(tmp_path / "mtl.txt"),
        log=lines.append,
        precision="fp32",
    )
    # Without a count, vidA's file reaches the last frame the multi-task list names (6), not only its last image.
    assert report.uncounted == ["vidA"]
    assert report.frames == {"vidA": 6}
    assert lines == ["vidA: 3 images, 6 frames", "vidC: 1 images, 5 frames"]  # vidC: up to its listed frame
    expected = predict_frames(model, root / "vidA", num_frames=6, precision="fp32")
    written = read_annotation_file(tmp_path / "sub" / "EXPR" / "vidA.txt", "EXPR").labels[:, 0]
    np.testing.assert_array_equal(written, expected.expr.numpy())
    with pytest.raises(ValueError, match=r"^frame_counts\['vidA'\] must be a positive integer, got True$"):
        write_submission(model, root, tmp_path / "other", au_videos=["vidA"], frame_counts={"vidA": True})
    with pytest.raises(ValueError, match=r"^tracks must be among \('AU', 'EXPR', 'VA'\), got \['MTL'\]$"):
        write_video_files(tmp_path / "v", "vidA", expected, model, tracks=["AU", "MTL"])
    nothing = expected._replace(observed=torch.zeros(6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^vidA: no face was found in any frame; the ABAW files need at least one"):
        write_video_files(tmp_path / "v", "vidA", nothing, model)
    assert not (tmp_path / "v").exists()
    assert write_video_files(tmp_path / "v", "vidA", expected, model, tracks=["VA"]) == [
        tmp_path / "v" / "VA" / "vidA.txt"
    ]


def test_checker_messages_whole_at_the_edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each message in full where a slip would change it: joined names and fields, the first bad AU, VA at
    exactly +-1, rows after a wrong image, the capped line's file, an OS error without its own words."""
    folder = _good_submission(tmp_path / "sub")
    (folder / "AU" / "notes.md").write_text("x")
    (folder / "AU" / "extra.csv").write_text("x")
    mtl = folder / "MTL_predictions.txt"
    lines = mtl.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    wrong = rows[0].split(",")
    wrong[0] = "vidA/00009.jpg"
    edge = rows[1].split(",")
    edge[1:3] = ["1", "-1"]  # exactly at the ends of the range: fine
    bad = rows[2].split(",")
    bad[1:3] = ["x", "y"]
    bad[4:6] = ["1", "2"]
    mtl.write_text("\n".join([header, ",".join(wrong), ",".join(edge), ",".join(bad)]) + "\n")
    found = [(p.line, p.message) for p in _check(folder, tmp_path) if p.path.endswith(("MTL_predictions.txt", "AU"))]
    assert (None, "files other than <video>.txt: extra.csv, notes.md") in found
    assert (2, "image 'vidA/00009.jpg', but the test list has 'vidA/00002.jpg' here") in found
    assert (4, "valence/arousal must be numbers, got 'x,y'") in found  # the row after a wrong image is checked
    assert not [message for line, message in found if line == 3]
    assert any(line == 4 and message.endswith("got '2'") for line, message in found), found  # the first bad AU
    write_va_file(tmp_path / "capped" / "VA" / "vidA.txt", np.full((3, 2), 3.0))
    capped = check_submission(tmp_path / "capped", va_videos=["vidA"], max_per_file=1)
    assert capped[-1].path == str(tmp_path / "capped" / "VA" / "vidA.txt")
    read = Path.read_bytes

    def broken(path: Path) -> bytes:
        if path.name == "vidA.txt" and path.parent.name == "EXPR":
            raise OSError("disk on fire")  # no errno, no strerror
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", broken)
    messages = [p.message for p in _check(_good_submission(tmp_path / "other"), tmp_path)]
    assert "cannot be read (disk on fire)" in messages


def test_write_submission_defaults_and_options_by_value(tmp_path: Path, submission_checkpoint: Path) -> None:
    """Raw VA by default (a model whose valence is far outside [-1, 1]), smoothing and clamping when asked,
    folders named by their task, a mapping of frame folders, a nested output, no staging left behind."""
    from smm.inference import predict_frames
    from smm.submission import write_submission

    model = smm.load_checkpoint(submission_checkpoint)
    with torch.no_grad():
        model.message_space.va.bias[0] += 5.0  # valence about 5: clamping would show
    root = frames_root(tmp_path / "cropped_aligned")
    out = tmp_path / "deep" / "er" / "sub"
    report = write_submission(
        model, {"vidA": root / "vidA"}, out, au_videos=["vidA"], va_videos=["vidA"], frame_counts={"vidA": 4}
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == ["AU/vidA.txt", "VA/vidA.txt"]
    assert report.frames == {"vidA": 4}
    written = np.loadtxt(out / "VA" / "vidA.txt", delimiter=",", skiprows=1)
    raw = predict_frames(model, root / "vidA", num_frames=4)
    np.testing.assert_allclose(written, raw.va.numpy(), atol=2e-6)
    assert written[:, 0].min() > 2  # raw, not clamped
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]  # the staging went away
    clamped = write_submission(
        model, root, tmp_path / "clamped", va_videos=["vidA"], frame_counts={"vidA": 4}, clamp_va=True
    )
    assert clamped.frames == {"vidA": 4}
    assert np.loadtxt(tmp_path / "clamped" / "VA" / "vidA.txt", delimiter=",", skiprows=1)[:, 0].max() == 1.0
    write_submission(model, root, tmp_path / "smooth", va_videos=["vidA"], frame_counts={"vidA": 4}, alpha=2.0)
    smoothed = np.loadtxt(tmp_path / "smooth" / "VA" / "vidA.txt", delimiter=",", skiprows=1)
    expected = predict_frames(model, root / "vidA", num_frames=4, alpha=2.0)
    np.testing.assert_allclose(smoothed, expected.va.numpy(), atol=2e-6)
    assert np.abs(smoothed - written).max() > 2e-5  # 10x the tolerance above
    one = write_submission(model, root, tmp_path / "one", va_videos=["vidA"], frame_counts={"vidA": 4.0})
    assert one.frames == {"vidA": 4}  # an integral float count, as OpenCV gives
    with pytest.raises(ValueError, match=r"^frame_counts\['vidA'\] must be a positive integer, got 0$"):
        write_submission(model, root, tmp_path / "zero", va_videos=["vidA"], frame_counts={"vidA": 0})
    with pytest.raises(
        ValueError, match=r"^give at least one test list: au_videos, expr_videos, va_videos or mtl_list$"
    ):
        write_submission(model, root, tmp_path / "none")
