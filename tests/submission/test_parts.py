"""A submission in parts: the plan by value, parts merged in any order, and the sharded, resumable CLI run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.cli import main
from smm.data import read_multitask_csv, read_multitask_test_list
from smm.inference.options import PredictOptions, build_engine
from smm.submission import write_submission
from smm.submission.parts import VideoJob, merge_parts, part_files, plan_submission, predict_part
from tests.media import frames_root
from tests.processes import child_env, run, run_outputs, torchrun
from tests.tiny import RecordingEngine

ROOT = Path(__file__).resolve().parents[2]
# Frame images on disk: vidA 1, 2, 4; vidB_left 2, 3; vidC 5 (tests.test_submission._frames_root).
MTL = "image\nvidA/00004.jpg\nvidC/00005.jpg\nvidA/00001.jpg\nvidB_left/00003.jpg\n"


def _part(model: smm.SMMEmotionNet, job: VideoJob, parts: Path, **options: Any) -> list[Path]:
    """:func:`predict_part` with a run's options and engine built from ``options``, as the runs build them."""
    chosen = PredictOptions(**options)
    return predict_part(model, job, parts, chosen, build_engine(model, chosen, job.images, calibrate=False))


def test_the_plan_says_what_each_video_needs(tmp_path: Path) -> None:
    root = frames_root(tmp_path / "frames")
    (tmp_path / "mtl.txt").write_text(MTL)
    mtl = read_multitask_test_list(tmp_path / "mtl.txt")
    plan = plan_submission(
        root, au_videos=["vidB_left"], va_videos=["vidA", "vidB_left"], mtl_list=mtl, frame_counts={"vidB_left": 9.0}
    )
    jobs = {job.video: job for job in plan.jobs}
    assert [job.video for job in plan.jobs] == ["vidB_left", "vidA", "vidC"]  # single-task lists first, then MTL
    assert jobs["vidB_left"].tracks == ("AU", "VA")
    assert (jobs["vidB_left"].num_frames, jobs["vidB_left"].counted) == (9, True)
    assert jobs["vidB_left"].include is None
    assert jobs["vidB_left"].listed == (3,)
    # vidA: no count, so its files reach the later of its last image (4) and its last listed frame (4).
    assert (jobs["vidA"].tracks, jobs["vidA"].num_frames, jobs["vidA"].counted) == (("VA",), 4, False)
    assert jobs["vidA"].listed == (4, 1)  # in the list's order
    # vidC is only in the multi-task list: only its listed frames are used, up to the last of them.
    assert (jobs["vidC"].tracks, jobs["vidC"].include, jobs["vidC"].num_frames) == ((), (5,), 5)
    assert [job.images for job in plan.jobs] == [2, 3, 1]
    assert part_files(jobs["vidB_left"], tmp_path / "p") == [
        tmp_path / "p" / "AU" / "vidB_left.txt",
        tmp_path / "p" / "VA" / "vidB_left.txt",
        tmp_path / "p" / "MTL" / "vidB_left.npz",
    ]
    assert part_files(jobs["vidC"], tmp_path / "p") == [tmp_path / "p" / "MTL" / "vidC.npz"]
    (tmp_path / "swapped.txt").write_text(
        MTL.replace("vidA/00004.jpg\nvidC/00005.jpg", "vidC/00005.jpg\nvidA/00004.jpg")
    )
    fingerprints = {
        plan.fingerprint(),
        plan_submission(root, au_videos=["vidB_left"], va_videos=["vidA", "vidB_left"], mtl_list=mtl).fingerprint(),
        plan_submission(
            root,
            au_videos=["vidB_left"],
            va_videos=["vidA", "vidB_left"],
            mtl_list=read_multitask_test_list(tmp_path / "swapped.txt"),
            frame_counts={"vidB_left": 9},
        ).fingerprint(),
    }
    assert len(fingerprints) == 3  # the count and the list's order each change the files
    again = plan_submission(
        root, au_videos=["vidB_left"], va_videos=["vidA", "vidB_left"], mtl_list=mtl, frame_counts={"vidB_left": 9}
    )
    assert again.fingerprint() == plan.fingerprint()  # 9.0 and 9 are one count
    with pytest.raises(FileNotFoundError, match=r"frames folder .*vidZ does not exist"):
        plan_submission(root, au_videos=["vidA", "vidZ"])  # before anything is predicted
    with pytest.raises(ValueError, match=r"^frame_counts\['vidA'\]=3, but .*vidA has an image of frame 4"):
        plan_submission(root, au_videos=["vidA"], frame_counts={"vidA": 3})


def test_parts_merged_in_any_order_are_the_one_call_submission(tmp_path: Path, submission_checkpoint: Path) -> None:
    model = smm.load_checkpoint(submission_checkpoint)
    root = frames_root(tmp_path / "frames")
    (tmp_path / "mtl.txt").write_text(MTL)
    lists = {"au_videos": ["vidA"], "expr_videos": ["vidA", "vidB_left"], "va_videos": ["vidB_left"]}
    mtl = read_multitask_test_list(tmp_path / "mtl.txt")
    counts = {"vidA": 6, "vidB_left": 3}
    whole = write_submission(model, root, tmp_path / "whole", **lists, mtl_list=mtl, frame_counts=counts)
    plan = plan_submission(root, **lists, mtl_list=mtl, frame_counts=counts)
    for job in reversed(plan.jobs):  # another order, as processes would finish
        _part(model, job, tmp_path / "parts")
    written = merge_parts(plan, tmp_path / "parts", tmp_path / "merged")
    assert run_outputs(tmp_path / "merged") == run_outputs(tmp_path / "whole")
    assert sorted(p.relative_to(tmp_path / "merged") for p in written) == sorted(
        p.relative_to(tmp_path / "whole") for p in whole.files
    )
    assert len(written) == 5  # AU vidA, EXPR vidA and vidB_left, VA vidB_left, the multi-task file
    with pytest.raises(FileNotFoundError, match=r"^vidA: its part .*AU/vidA\.txt is missing \(7 file\(s\) in all\)"):
        merge_parts(plan, tmp_path / "empty", tmp_path / "never")
    (tmp_path / "parts" / "MTL" / "vidC.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"^vidC: its part .*MTL/vidC\.npz is missing \(1 file\(s\) in all\)"):
        merge_parts(plan, tmp_path / "parts", tmp_path / "never")
    assert not (tmp_path / "never").exists()
    # The multi-task rows are the parts' rows in the list's order: check one against its own part.
    rows = read_multitask_csv(tmp_path / "merged" / "MTL_predictions.txt")
    with np.load(tmp_path / "parts" / "MTL" / "vidA.npz") as part:
        assert part["va"].shape == (2, 2)  # frames 4 and 1, in the list's order
        np.testing.assert_array_equal(rows.expr[[0, 2]], part["expr"])
        np.testing.assert_array_equal(rows.au[[0, 2]], part["au"])
        np.testing.assert_allclose(rows.va[[0, 2]], part["va"], atol=5e-7)
    assert whole.uncounted == []
    assert whole.frames == {"vidA": 6, "vidB_left": 3}


def test_cli_a_failed_video_leaves_the_folder_as_it_was_and_a_rerun_redoes_only_it(
    tmp_path: Path,
    submission_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import smm.submission.parts as parts

    root = frames_root(tmp_path / "frames")
    (tmp_path / "au.txt").write_text("vidA\nvidB_left\n")
    (tmp_path / "mtl.txt").write_text(MTL)
    lists = ["--au-list", str(tmp_path / "au.txt"), "--mtl-list", str(tmp_path / "mtl.txt")]
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--frames-root", str(root), "--quiet", *lists]
    assert main([*argv, "--out", str(tmp_path / "clean")]) == 0
    capsys.readouterr()
    real = parts.frame_predictions
    predicted: list[str] = []
    broken = {"vidB_left"}

    def failing(model: object, folder: Path, *args: object, **options: object) -> object:
        predicted.append(Path(folder).name)
        if Path(folder).name in broken:
            raise OSError(f"{folder}/00003.jpg: cannot be read")
        return real(model, folder, *args, **options)

    monkeypatch.setattr(parts, "frame_predictions", failing)
    out = tmp_path / "sub"
    state = tmp_path / ".sub.smm-run"
    assert main([*argv, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"skipped vidB_left: {root}/vidB_left/00003.jpg: cannot be read"]
    assert captured.out.strip() == (
        f"1 video(s) failed (vidB_left); {out} is left as it was. The 2 other(s) are kept in {state}: "
        "run the same command again to redo only the failed"
    )
    assert not out.exists()
    assert sorted(predicted) == ["vidA", "vidB_left", "vidC"]
    predicted.clear()
    broken.clear()
    assert main([*argv, "--out", str(out)]) == 0
    assert predicted == ["vidB_left"]  # only the failed video is predicted again
    assert capsys.readouterr().out.strip() == f"wrote 3 file(s) to {out}; 2 video(s) complete before this run, skipped"
    assert run_outputs(out) == run_outputs(tmp_path / "clean")  # the challenge's files only, as a clean run wrote them
    assert json.loads((state / "summary.json").read_text()) == [
        {"video": "vidA", "status": "complete before this run"},
        {"video": "vidB_left", "status": "done", "parts": ["parts/AU/vidB_left.txt", "parts/MTL/vidB_left.npz"]},
        {"video": "vidC", "status": "complete before this run"},
    ]
    # A frame image that changed makes its video's part stale: it is predicted again.
    predicted.clear()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(root / "vidA" / "00002.jpg")
    assert main([*argv, "--out", str(out)]) == 0
    assert predicted == ["vidA"]
    # Other options into the same folder: refused in one line.
    assert main([*argv, "--out", str(out), "--threshold", "0.7"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"smm-emotionnet predict: error: {out}: {state} holds a run with another model or other options "
        "(threshold); use another output folder, or remove it to start again"
    )


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available here")
def test_cli_two_processes_write_the_same_submission_as_one(tmp_path: Path, submission_checkpoint: Path) -> None:
    root = frames_root(tmp_path / "frames")
    (tmp_path / "va.txt").write_text("vidA\nvidB_left\nvidC\n")
    (tmp_path / "mtl.txt").write_text(MTL)
    lists = ["--va-list", str(tmp_path / "va.txt"), "--mtl-list", str(tmp_path / "mtl.txt")]
    tail = ["-m", "smm.cli", "predict", "--checkpoint", str(submission_checkpoint), "--frames-root", str(root), *lists]
    env = child_env()
    one = run([sys.executable, *tail, "--out", str(tmp_path / "one")], env)
    assert one.returncode == 0, one.stderr[-2000:]
    two = run([*torchrun(), *tail, "--out", str(tmp_path / "two")], env)
    assert two.returncode == 0, two.stderr[-3000:]
    assert run_outputs(tmp_path / "two") == run_outputs(tmp_path / "one")  # byte for byte
    assert sorted(run_outputs(tmp_path / "one")) == [
        "MTL_predictions.txt",
        "VA/vidA.txt",
        "VA/vidB_left.txt",
        "VA/vidC.txt",
    ]
    assert two.stdout.count("wrote 4 file(s)") == 1  # one process merges
    # Each process predicted its share: vidA (3 images) alone, vidB_left (2) and vidC (1) together,
    # and said so in whole lines tagged with its rank. The progress line, which rewrites itself
    # with a carriage return, is for one process alone: two would write over each other.
    logged = [line for line in two.stderr.split("\n") if " images, " in line]
    assert sorted(logged) == [
        "[rank 0] vidA: 3 images, 4 frames",  # frames up to its last image, 4
        "[rank 1] vidB_left: 2 images, 3 frames",
        "[rank 1] vidC: 1 images, 5 frames",  # up to its listed frame, 5
    ]
    assert "\r" not in two.stderr
    alone = [line for line in one.stderr.split("\n") if " images, " in line]
    assert alone == ["vidA: 3 images, 4 frames", "vidB_left: 2 images, 3 frames", "vidC: 1 images, 5 frames"]
    assert "\n\r3/3 frames\nvidA: " in one.stderr  # one process shows its progress line (one batch)


def test_the_plan_at_its_edges(tmp_path: Path) -> None:
    root = frames_root(tmp_path / "frames")
    (root / "vidD").mkdir()
    Image.new("RGB", (8, 8)).save(root / "vidD" / "00001.jpg")
    (tmp_path / "mtl.txt").write_text("image\nvidC/00005.jpg\n")
    mtl = read_multitask_test_list(tmp_path / "mtl.txt")
    plan = plan_submission(
        root, va_videos=["vidD"], mtl_list=mtl, frame_counts={"vidD": 1, "vidC": 8}, mtl_file="m.txt"
    )
    jobs = {job.video: job for job in plan.jobs}
    assert jobs["vidD"].num_frames == 1  # a count of one frame is a count
    assert (jobs["vidC"].num_frames, jobs["vidC"].counted) == (8, True)  # a count holds for list-only videos too
    assert plan.mtl_file == "m.txt"
    with pytest.raises(ValueError, match="the count is too small") as small:
        plan_submission(root, au_videos=["vidA"], frame_counts={"vidA": 3})
    assert str(small.value) == (
        f"frame_counts['vidA']=3, but {root / 'vidA'} has an image of frame 4; "
        "the count is too small (from another video, or off by one?)"
    )
    # The same names in another frames folder are another plan (the run's files come from other images).
    other = frames_root(tmp_path / "other")
    assert (
        plan_submission(other, au_videos=["vidA"]).fingerprint()
        != plan_submission(root, au_videos=["vidA"]).fingerprint()
    )


def test_a_part_is_its_files_predicted_with_the_options_given(
    tmp_path: Path,
    submission_checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from smm.inference import predict_frames

    model = smm.load_checkpoint(submission_checkpoint)
    with torch.no_grad():
        model.message_space.va.bias[0] += 5.0  # valence about 5: clamping would show
    root = frames_root(tmp_path / "frames")
    (tmp_path / "mtl.txt").write_text(MTL)
    plan = plan_submission(root, au_videos=["vidA"], mtl_list=read_multitask_test_list(tmp_path / "mtl.txt"))
    job = plan.jobs[0]
    recording = RecordingEngine(model)
    written = _part(model, job, tmp_path / "parts", batch_size=2, engine=recording)
    assert (
        written
        == part_files(job, tmp_path / "parts")
        == [
            tmp_path / "parts" / "AU" / "vidA.txt",
            tmp_path / "parts" / "MTL" / "vidA.npz",
        ]
    )
    assert sorted(p.relative_to(tmp_path / "parts").as_posix() for p in (tmp_path / "parts").rglob("*.*")) == [
        "AU/vidA.txt",
        "MTL/vidA.npz",
    ]  # only the tracks that list it
    assert recording.sizes == [2, 1]  # its three images, two at a time, through the engine given
    assert capsys.readouterr().err == ""  # no progress unless asked
    # Defaults: raw valence, not clamped, the default engine (for three images, eager at this machine's
    # precision); fp32 and bf16 when asked give other numbers.
    _part(model, job, tmp_path / "raw")
    with np.load(tmp_path / "raw" / "MTL" / "vidA.npz") as part:
        raw = part["va"]
    assert raw[:, 0].min() > 2
    expected = predict_frames(model, root / "vidA", num_frames=4, engine="eager", precision="auto").rows([4, 1])
    np.testing.assert_allclose(raw, expected.va.numpy(), atol=2e-6)
    _part(model, job, tmp_path / "fp32", precision="fp32")
    with np.load(tmp_path / "fp32" / "MTL" / "vidA.npz") as part:
        raw = part["va"]
    expected = predict_frames(model, root / "vidA", num_frames=4, engine="eager", precision="fp32").rows([4, 1])
    np.testing.assert_allclose(raw, expected.va.numpy(), atol=2e-6)
    _part(model, job, tmp_path / "clamped", clamp_va=True, precision="bf16", progress=True)
    assert capsys.readouterr().err == "\r3/3 frames\n"  # the progress line: vidA's three images
    with np.load(tmp_path / "clamped" / "MTL" / "vidA.npz") as part:
        assert part["va"][:, 0].max() == 1.0
        assert not np.array_equal(part["va"][:, 1], raw[:, 1])  # bf16, not fp32


def test_merging_refuses_parts_that_hold_objects(tmp_path: Path, submission_checkpoint: Path) -> None:
    """A part is read without unpickling: one holding Python objects is refused, not run."""
    model = smm.load_checkpoint(submission_checkpoint)
    root = frames_root(tmp_path / "frames")
    (tmp_path / "mtl.txt").write_text("image\nvidC/00005.jpg\n")
    plan = plan_submission(root, mtl_list=read_multitask_test_list(tmp_path / "mtl.txt"))
    _part(model, plan.jobs[0], tmp_path / "parts")
    np.savez(tmp_path / "parts" / "MTL" / "vidC.npz", va=np.array([object()]), expr=np.zeros(1), au=np.zeros((1, 12)))
    with pytest.raises(ValueError, match="allow_pickle"):
        merge_parts(plan, tmp_path / "parts", tmp_path / "out")


def test_video_files_carry_the_models_label_names(tmp_path: Path) -> None:
    from smm.inference import predict_frames
    from smm.submission import write_video_files

    torch.manual_seed(0)
    names = tuple(f"AU{k}" for k in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26))  # not ABAW3's twelve
    expressions = ("calm", "joy", "anger", "fear", "surprise", "sadness", "disgust", "other")
    model = smm.SMMEmotionNet(
        "resnet18", region_names=names, num_regions=12, num_labelled=12, expression_names=expressions,
        dim=8, nhead=2, dim_feedforward=16,
    ).eval()  # fmt: skip
    root = frames_root(tmp_path / "frames")
    result = predict_frames(model, root / "vidA")
    au, expr, _ = write_video_files(tmp_path / "out", "vidA", result, model)
    assert au.read_text().splitlines()[0] == ",".join(names)
    assert expr.read_text().splitlines()[0] == ",".join(expressions)


def _four_videos(root: Path) -> Path:
    """The frame folders of ``_frames_root`` and vidD, frames 1 and 2."""
    frames_root(root)
    (root / "vidD").mkdir()
    for n in (1, 2):
        Image.new("RGB", (32, 32), (9 * n, 0, 0)).save(root / "vidD" / f"{n:05d}.jpg")
    return root


def test_cli_frames_root_says_what_it_did_and_records_it(
    tmp_path: Path,
    submission_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import smm.submission.parts as parts

    root = _four_videos(tmp_path / "frames")
    real, options = parts.frame_predictions, []

    def recording(model: Any, folder: Path, chosen: Any, engine: Any, **given: Any) -> Any:
        options.append({**vars(chosen), "engine": engine})
        return real(model, folder, chosen, engine, **given)

    monkeypatch.setattr(parts, "frame_predictions", recording)
    out, state = tmp_path / "sub", tmp_path / ".sub.smm-run"
    (tmp_path / "va.txt").write_text("vidA\nvidB_left\nvidC\nvidD\n")
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--frames-root", str(root)]
    argv += ["--va-list", str(tmp_path / "va.txt")]
    given = ["--precision", "fp32", "--batch-size", "2", "--threshold", "0.7", "--clamp-va", "--alpha-va", "3"]
    assert main([*argv, "--out", str(out), *given]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote 4 file(s) to {out}\n"
    alpha = {"AU": None, "EXPR": None, "VA": 3.0}
    assert [{k: o[k] for k in ("batch_size", "progress", "threshold", "clamp_va", "alpha")} for o in options] == [
        {"batch_size": 2, "progress": True, "threshold": 0.7, "clamp_va": True, "alpha": alpha}
    ] * 4
    assert all(type(o["engine"]).__name__ == "EagerEngine" for o in options)  # the --engine made once, passed on
    assert [o["engine"].setup.name for o in options] == ["fp32"] * 4  # --precision reaches it
    lines = captured.err.split("\n")
    assert lines[0].startswith("engine: ")
    # Alone, a process counts each video's frames batch by batch (2 images a batch), then says what it did.
    assert lines[1:] == [
        "\r2/3 frames\r3/3 frames",
        "vidA: 3 images, 4 frames",
        "\r2/2 frames",
        "vidB_left: 2 images, 3 frames",
        "\r1/1 frames",
        "vidC: 1 images, 5 frames",
        "\r2/2 frames",
        "vidD: 2 images, 2 frames",
        "note: frame count unknown for 4 video(s) (vidA, vidB_left, vidC, ...): their files end at the last frame "
        "with an image; pass --videos or --annotations for one line per video frame",
        "",
    ]
    assert json.loads((state / "summary.json").read_text()) == [
        {"video": video, "status": "done", "parts": [f"parts/VA/{video}.txt"]}
        for video in ("vidA", "vidB_left", "vidC", "vidD")
    ]
    # The run's record, beside the output folder: what a rerun must match.
    from smm.inference.engines import model_fingerprint

    run = json.loads((state / "run.json").read_text())["run"]
    assert run.pop("engine").startswith("eager (fp32")
    assert run.pop("model") == model_fingerprint(smm.load_checkpoint(submission_checkpoint))
    assert len(run.pop("plan")) == 16
    assert run == {"threshold": 0.7, "clamp_va": True, "batch_size": 2, "alpha": alpha}
    assert sorted(p.name for p in state.iterdir()) == ["inputs", "parts", "run.json", "summary.json"]
    # Three without a count are all named (vidD, only in the multi-task list, has no file of its
    # own to count); --quiet says nothing but the note.
    (tmp_path / "va3.txt").write_text("vidA\nvidB_left\nvidC\n")
    (tmp_path / "mtl.txt").write_text("image\nvidD/00002.jpg\n")
    argv[-1] = str(tmp_path / "va3.txt")
    argv += ["--mtl-list", str(tmp_path / "mtl.txt")]
    assert main([*argv, "--out", str(tmp_path / "sub3"), "--quiet"]) == 0
    assert capsys.readouterr().err == (
        "note: frame count unknown for 3 video(s) (vidA, vidB_left, vidC): their files end at the last frame "
        "with an image; pass --videos or --annotations for one line per video frame\n"
    )
    assert [o["progress"] for o in options[4:]] == [False] * 4


@pytest.mark.parametrize("videos", [3, 4])
def test_cli_failed_videos_are_named_up_to_three(
    videos: int,
    tmp_path: Path,
    submission_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import smm.submission.parts as parts

    root = _four_videos(tmp_path / "frames")

    def failing(model: object, folder: Path, *given: object, **named: object) -> object:
        raise ValueError(f"{Path(folder).name} cannot be read")

    monkeypatch.setattr(parts, "frame_predictions", failing)
    names = ["vidA", "vidB_left", "vidC", "vidD"][:videos]
    (tmp_path / "va.txt").write_text("\n".join(names) + "\n")
    out, state = tmp_path / "sub", tmp_path / ".sub.smm-run"
    argv = ["predict", "--checkpoint", str(submission_checkpoint), "--frames-root", str(root)]
    argv += ["--va-list", str(tmp_path / "va.txt")]
    assert main([*argv, "--out", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"skipped {name}: {name} cannot be read" for name in names]
    shown = "vidA, vidB_left, vidC" + (", ..." if videos > 3 else "")
    assert captured.out == (
        f"{videos} video(s) failed ({shown}); {out} is left as it was. The 0 other(s) are kept in {state}: "
        "run the same command again to redo only the failed\n"
    )
    assert json.loads((state / "summary.json").read_text()) == [
        {"video": name, "status": "failed", "failed": f"{name} cannot be read"} for name in names
    ]
