"""Corpus-scale prediction: shares balanced by frames, a manifest that skips what is done, kills and torchrun."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from smm.cli import main
from smm.runs import RunManifest, share
from tests.media import face_clips, write_video
from tests.processes import child_env, run, run_outputs, torchrun

ROOT = Path(__file__).resolve().parents[2]


def test_shares_are_balanced_by_size_and_the_same_in_every_process() -> None:
    assert share([10, 1, 1, 1, 7, 2], 2) == [[0, 2], [1, 3, 4, 5]]  # loads 11 and 11; ties to the lower rank
    assert share([5, 5, 5], 1) == [[0, 1, 2]]
    assert share([3, 3], 4) == [[0], [1], [], []]
    assert share([], 3) == [[], [], []]
    sizes = list(np.random.default_rng(0).integers(1, 1000, 50))
    shares = share(sizes, 3)
    assert sorted(i for part in shares for i in part) == list(range(50))  # each item once
    loads = [sum(sizes[i] for i in part) for part in shares]
    assert max(loads) - min(loads) <= max(sizes)  # the greedy bound
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"^world must be a positive integer"):
            share([1], bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^sizes must be >= 0, got -2$"):
        share([1, -2], 2)


def test_manifest_records_complete_inputs_and_refuses_other_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"video")
    manifest = RunManifest(out, {"model": "abc", "faces": "all"})
    manifest.claim()
    assert not manifest.complete(source)
    (out / "clip.csv").write_text("a,b\n")
    manifest.record(source, [out / "clip.csv"])
    assert manifest.complete(source)
    assert RunManifest(out, {"faces": "all", "model": "abc"}).complete(source)  # the same run, any key order
    RunManifest(out, {"model": "abc", "faces": "all"}).claim()  # claiming the same run again is fine
    with pytest.raises(ValueError, match="holds a run") as other:
        RunManifest(out, {"model": "abc", "faces": "largest"}).claim()
    assert str(other.value) == (
        f"{out} holds a run with another model or other options (faces); use another output folder, or remove it "
        "to start again"
    )
    assert not RunManifest(out, {"model": "xyz", "faces": "all"}).complete(source)  # another run's record
    (out / "clip.csv").write_text("a,b,c\n")  # an output that changed size
    assert not manifest.complete(source)
    (out / "clip.csv").write_text("a,b\n")
    assert manifest.complete(source)
    (out / "clip.csv").unlink()  # or is gone
    assert not manifest.complete(source)
    (out / "clip.csv").write_text("a,b\n")
    source.write_bytes(b"another video")  # the input changed
    assert not manifest.complete(source)


def test_a_rerun_skips_what_is_complete_and_refuses_other_options(
    tmp_path: Path, face_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = face_clips(tmp_path / "in", 2)
    args = ["predict", "--checkpoint", str(face_checkpoint), "--out", str(tmp_path / "out"), "--quiet", "--abaw"]
    assert main([*args, "--input", *map(str, videos)]) == 0
    first = run_outputs(tmp_path / "out")
    assert sorted(first) == sorted(
        ["summary.json", "clip0.csv", "clip1.csv"] + [f"{t}/clip{k}.txt" for t in ("AU", "EXPR", "VA") for k in (0, 1)]
    )
    assert capsys.readouterr().out.strip() == f"wrote 8 file(s) to {tmp_path / 'out'}"
    summary = json.loads(first["summary.json"])
    assert [item["status"] for item in summary] == ["done", "done"]
    assert summary[0]["outputs"] == ["clip0.csv", "AU/clip0.txt", "EXPR/clip0.txt", "VA/clip0.txt"]
    stamps = {p: (tmp_path / "out" / p).stat().st_mtime_ns for p in first if p != "summary.json"}
    assert main([*args, "--input", *map(str, videos)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote 0 file(s) to {tmp_path / 'out'}; 2 input(s) complete before this run, skipped"
    )
    assert {p: (tmp_path / "out" / p).stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten
    (tmp_path / "out" / "clip1.csv").unlink()  # an output lost: that input is redone
    assert main([*args, "--input", *map(str, videos)]) == 0
    assert capsys.readouterr().out.strip().startswith(f"wrote 4 file(s) to {tmp_path / 'out'}; 1 input(s)")
    assert run_outputs(tmp_path / "out")["clip1.csv"] == first["clip1.csv"]
    assert main([*args, "--input", *map(str, videos), "--faces", "largest"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"smm-emotionnet predict: error: {tmp_path / 'out'} holds a run with another model or other options "
        "(faces); use another output folder, or remove it to start again"
    ]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available here")
def test_two_processes_write_the_same_files_as_one(tmp_path: Path, face_checkpoint: Path) -> None:
    videos = face_clips(tmp_path / "in", 3)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "in" / "blank.jpg")
    inputs = [*map(str, videos), str(tmp_path / "in" / "blank.jpg")]
    tail = ["-m", "smm.cli", "predict", "--checkpoint", str(face_checkpoint), "--abaw", "--input", *inputs]
    one = run([sys.executable, *tail, "--quiet", "--out", str(tmp_path / "one")], child_env())
    assert one.returncode == 0, one.stderr[-2000:]
    two = run([*torchrun(), *tail, "--out", str(tmp_path / "two")], child_env())
    stderr = two.stderr
    assert two.returncode == 0, stderr[-3000:]
    assert run_outputs(tmp_path / "two") == run_outputs(tmp_path / "one")  # byte for byte, the summary too
    assert two.stdout.count("wrote ") == 1  # one process writes the summary
    # Each process says what it did in whole lines tagged with its rank, and no progress line:
    # it rewrites itself with a carriage return, and two processes would write over each other.
    # Shares by frames, largest first to the lighter process: clip2 (6) and the photo (1) to
    # rank 0, clip1 (5) and clip0 (4) to rank 1.
    assert "\r" not in stderr
    assert sorted(line for line in stderr.split("\n") if line.startswith("[rank ")) == [
        "[rank 0] 1 photo(s): 0 face(s) in 0 photo(s)",
        "[rank 0] clip2.mp4: 6 frames, a face in 6, 6 face(s) in 1 track(s)",
        "[rank 1] clip0.mp4: 4 frames, a face in 4, 4 face(s) in 1 track(s)",
        "[rank 1] clip1.mp4: 5 frames, a face in 5, 5 face(s) in 1 track(s)",
    ]
    others = [line for line in stderr.split("\n") if line and not line.startswith("[rank ")]
    assert [line.split(" (")[0] for line in others] == ["engine: eager"]  # said once, by rank 0, for the run


def test_what_one_process_of_several_says(capsys: pytest.CaptureFixture[str]) -> None:
    from smm.runs import RunVoice

    for quiet in (False, True):
        alone, third = RunVoice(quiet, rank=0, world=1), RunVoice(quiet, rank=2, world=3)
        assert (alone.progress, third.progress) == (not quiet, False)
        for voice in (alone, third):
            voice.tell("done")
            voice.say("failed")
        said = capsys.readouterr()
        assert said.out == ""
        if quiet:  # only what failed
            assert said.err == "failed\n[rank 2] failed\n"
        else:
            assert said.err == "done\nfailed\n[rank 2] done\n[rank 2] failed\n"


def test_recorded_frame_counts_need_no_decoding(tmp_path: Path) -> None:
    from smm.data.videos import count_video_frames, recorded_frame_count

    video = write_video(tmp_path / "seven.mp4", [np.full((32, 48, 3), 20 * k, np.uint8) for k in range(7)])
    assert recorded_frame_count(video) == 7
    assert count_video_frames(video) == count_video_frames(video, exact=True) == 7
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    assert recorded_frame_count(tmp_path / "broken.mp4") is None
    assert recorded_frame_count(tmp_path / "missing.mp4") is None
    with pytest.raises(ValueError, match=r"broken\.mp4: cannot be decoded as a video"):
        count_video_frames(tmp_path / "broken.mp4")


def test_manifest_layout_values_and_folder_inputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = RunManifest(out, {"model": "abc", "root": tmp_path / "frames"})  # paths are kept as text
    assert manifest.run == {"model": "abc", "root": str(tmp_path / "frames")}
    manifest.claim()
    stored = json.loads((out / ".smm-run" / "run.json").read_text())
    assert stored == {"key": manifest.key, "run": manifest.run}
    assert len(manifest.key) == 16
    assert (out / ".smm-run" / "inputs").is_dir()
    # The manifest elsewhere: nothing in the output folder.
    aside = RunManifest(tmp_path / "sub", {"model": "abc"}, folder=tmp_path / ".sub.run")
    aside.claim()
    assert (tmp_path / ".sub.run" / "run.json").is_file()
    assert not (tmp_path / "sub").exists()
    # A folder input is complete while its files are unchanged (names, sizes, times), whatever its subfolders.
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "00001.jpg").write_bytes(b"a")
    (out / "part.txt").write_text("x\n")
    manifest.record(frames, [out / "part.txt"])
    record = json.loads(next((out / ".smm-run" / "inputs").iterdir()).read_text())
    assert record["outputs"] == {"part.txt": 2}
    assert manifest.complete(frames)
    (frames / "sub").mkdir()
    assert manifest.complete(frames)  # a subfolder is not a frame
    (frames / "00002.jpg").write_bytes(b"b")
    assert not manifest.complete(frames)  # a frame added
    (frames / "00002.jpg").unlink()
    assert manifest.complete(frames)
    (frames / "00001.jpg").write_bytes(b"ab")
    assert not manifest.complete(frames)  # a frame changed
    # Sizes of zero are work too: an empty input still goes to a process.
    assert share([0, 5], 2) == [[1], [0]]
