"""smm.runs from Python: the loop the command line runs, in one process or several (gloo), killed and resumed,
giving the command line's files byte for byte; and its report by value."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import smm
from smm.runs import RunReport, predict_inputs, predict_submission
from smm.submission.parts import plan_submission
from tests.media import face_clips, frames_root
from tests.processes import child_env, kill_when, run, run_outputs, torchrun

ROOT = Path(__file__).resolve().parents[2]

#: A user's own script: many processes from Python, each its share of the inputs or of a submission.
SCRIPT = """
import sys
from pathlib import Path

import smm
from smm.runs import Processes, predict_inputs, predict_submission
from smm.submission.parts import plan_submission

kind, face_checkpoint, out, *inputs = sys.argv[1:]
processes = Processes("cpu")
model = smm.load_checkpoint(face_checkpoint).to(processes.device)
if kind == "inputs":
    report = predict_inputs(model, inputs, out, abaw=True, processes=processes, engine="eager", quiet=True)
else:
    plan = plan_submission(inputs[0], va_videos=inputs[1:], au_videos=inputs[1:2])
    report = predict_submission(model, plan, out, processes=processes, engine="eager", quiet=True)
if report is not None:
    print(f"rank {processes.rank}: {len(report.written)} written")
processes.close()
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "my_run.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available here")
def test_python_with_two_processes_writes_what_the_command_line_writes(
    tmp_path: Path,
    face_checkpoint: Path,
    script: Path,
) -> None:
    inputs = [str(v) for v in face_clips(tmp_path / "in", 3)]
    cli = [sys.executable, "-m", "smm.cli", "predict", "--checkpoint", str(face_checkpoint), "--abaw", "--quiet"]
    one = run([*cli, "--out", str(tmp_path / "cli1"), "--input", *inputs], child_env())
    assert one.returncode == 0, one.stderr[-2000:]
    two = run([*torchrun(), *cli[1:], "--out", str(tmp_path / "cli2"), "--input", *inputs], child_env())
    assert two.returncode == 0, two.stderr[-2000:]
    python = run(
        [*torchrun(), str(script), "inputs", str(face_checkpoint), str(tmp_path / "py2"), *inputs], child_env()
    )
    assert python.returncode == 0, python.stderr[-3000:]
    assert python.stdout.strip() == "rank 0: 12 written"  # one report, rank 0's: 3 CSVs and 3 x 3 challenge files
    expected = run_outputs(tmp_path / "cli1")
    assert sorted(expected) == sorted(
        ["summary.json"]
        + [f"clip{k}.csv" for k in range(3)]
        + [f"{t}/clip{k}.txt" for t in ("AU", "EXPR", "VA") for k in range(3)]
    )
    assert run_outputs(tmp_path / "cli2") == expected  # byte for byte, the summary too
    assert run_outputs(tmp_path / "py2") == expected
    # A submission from Python in two processes: the command line's files.
    root = frames_root(tmp_path / "frames")
    (tmp_path / "va.txt").write_text("vidA\nvidB_left\n")
    (tmp_path / "au.txt").write_text("vidA\n")
    lists = ["--va-list", str(tmp_path / "va.txt"), "--au-list", str(tmp_path / "au.txt")]
    tail = ["--checkpoint", str(face_checkpoint), "--frames-root", str(root), "--quiet", *lists]
    cli_sub = run([*cli[:4], *tail, "--out", str(tmp_path / "sub-cli")], child_env())
    assert cli_sub.returncode == 0, cli_sub.stderr[-2000:]
    py_sub = run([*torchrun(), str(script), "submission", str(face_checkpoint), str(tmp_path / "sub-py"), str(root),
                  "vidA", "vidB_left"], child_env())  # fmt: skip
    assert py_sub.returncode == 0, py_sub.stderr[-3000:]
    assert sorted(run_outputs(tmp_path / "sub-cli")) == ["AU/vidA.txt", "VA/vidA.txt", "VA/vidB_left.txt"]
    assert run_outputs(tmp_path / "sub-py") == run_outputs(tmp_path / "sub-cli")


@pytest.mark.parametrize("entry", ["cli", "python"])
def test_a_killed_run_redoes_only_the_unfinished_inputs(
    tmp_path: Path, face_checkpoint: Path, script: Path, entry: str
) -> None:
    """Killed (SIGKILL) once its first input is recorded, then run again: the command line and a user's script
    each redo only what was not complete and end with the files of a run never killed, byte for byte."""
    inputs = [str(v) for v in face_clips(tmp_path / "in", 4, frames=6)]
    if entry == "cli":
        base = [sys.executable, "-m", "smm.cli", "predict", "--checkpoint", str(face_checkpoint), "--quiet"]

        def command(out: Path) -> list[str]:
            return [*base, "--out", str(out), "--input", *inputs]
    else:

        def command(out: Path) -> list[str]:
            return [sys.executable, str(script), "inputs", str(face_checkpoint), str(out), *inputs]

    clean = run(command(tmp_path / "clean"), child_env())
    assert clean.returncode == 0, clean.stderr[-2000:]
    records = tmp_path / "run" / ".smm-run" / "inputs"
    kill_when(command(tmp_path / "run"), child_env(), records)
    done = len(list(records.iterdir()))
    assert 1 <= done < 4
    assert not [p for p in (tmp_path / "run").rglob("*") if p.name.startswith(".") and p.suffix == ".tmp"]
    again = run(command(tmp_path / "run"), child_env())
    assert again.returncode == 0, again.stderr[-2000:]
    if entry == "cli":
        assert f"{done} input(s) complete before this run, skipped" in again.stdout
    statuses = [item["status"] for item in json.loads((tmp_path / "run" / "summary.json").read_text())]
    assert statuses.count("complete before this run") == done
    assert statuses.count("done") == 4 - done
    assert run_outputs(tmp_path / "run") == run_outputs(tmp_path / "clean") | {
        "summary.json": run_outputs(tmp_path / "run")["summary.json"]
    }


def test_the_reports_say_what_was_done_by_value(
    tmp_path: Path,
    face_checkpoint: Path,
) -> None:
    from PIL import Image

    model = smm.load_checkpoint(face_checkpoint)
    video = face_clips(tmp_path / "in", 1)[0]
    Image.new("RGB", (64, 64), (90, 90, 90)).save(tmp_path / "in" / "wall.jpg")
    (tmp_path / "in" / "broken.mp4").write_bytes(b"not a video")
    said: list[str] = []
    inputs = [video, tmp_path / "in" / "broken.mp4", tmp_path / "in" / "wall.jpg"]
    report = predict_inputs(model, inputs, tmp_path / "out", engine="eager", log=said.append)
    assert isinstance(report, RunReport)
    assert report.written == [tmp_path / "out" / "clip0.csv", tmp_path / "out" / "images.csv"]
    assert report.failed == [f"{tmp_path / 'in' / 'broken.mp4'}: cannot be read as a "
                             "video (Invalid data found when processing input)"]  # fmt: skip
    assert report.skipped == 0
    assert report.state == tmp_path / "out" / ".smm-run"
    assert [item["status"] for item in report.items] == ["done", "failed", "done"]
    assert report.items[2] == {"input": "1 photo(s)", "status": "done", "outputs": ["images.csv"], "failed": []}
    assert said[0].startswith("engine: eager (")
    assert said[1:] == [
        "clip0.mp4: 4 frames, a face in 4, 4 face(s) in 1 track(s)",
        f"skipped {tmp_path / 'in' / 'broken.mp4'}: {report.failed[0].split(': ', 1)[1]}",
        "1 photo(s): 0 face(s) in 0 photo(s)",
    ]
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == report.items
    again = predict_inputs(model, inputs, tmp_path / "out", engine="eager", quiet=True, log=said.append)
    assert again.skipped == 2  # the video and the photos; the broken video is tried again
    assert again.written == []
    with pytest.raises(ValueError, match=r"^inputs were planned with abaw=False, but abaw=True"):
        predict_inputs(model, smm.runs.inputs.plan_inputs(inputs), tmp_path / "o", abaw=True)
    # A submission: its parts beside the folder, the folder once all are done.
    root = frames_root(tmp_path / "frames")
    plan = plan_submission(root, va_videos=["vidA", "vidB_left"])
    sub = predict_submission(model, plan, tmp_path / "sub", engine="eager", quiet=True)
    assert sub.written == [tmp_path / "sub" / "VA" / "vidA.txt", tmp_path / "sub" / "VA" / "vidB_left.txt"]
    assert sub.state == tmp_path / ".sub.smm-run"
    assert sub.uncounted == ["vidA", "vidB_left"]
    assert [item["status"] for item in sub.items] == ["done", "done"]
