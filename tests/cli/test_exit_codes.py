"""Every command's exit statuses, each with a case: 0 done, 1 done but something failed (the commands that can
half-succeed), 2 could not run (one line), 130 interrupted (Ctrl-C inside the library call the command makes)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import smm
from smm.cli import main
from smm.cli.main import build_parser
from smm.formats.abaw_files import write_va_file
from smm.inference.core import predictions
from tests.media import write_video

#: The commands that can finish with some inputs failed (exit 1); the others finish or do not run.
HALF_SUCCEED = {"predict", "align", "check-submission"}
#: Each command's library call, by module and name: what Ctrl-C interrupts in the 130 cases.
CALLS = {
    "predict": ("smm.runs", "predict_inputs"),
    "plot": ("smm.viz.timeline", "plot_timeline"),
    "align": ("smm.face.crops", "align_videos"),
    "check-submission": ("smm.submission", "check_submission"),
    "train": ("smm.training", "train"),
    "convert": ("smm.models.builder", "convert_checkpoint"),
    "info": ("smm.models.summary", "model_summary"),
}


def _commands() -> set[str]:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    return set(subparsers.choices)


def test_every_command_has_its_cases_here() -> None:
    assert set(CALLS) == _commands()
    assert HALF_SUCCEED <= _commands()


@pytest.fixture
def inputs(tmp_path: Path, face_checkpoint: Path) -> dict[str, Any]:
    """Small real inputs for every command: a photo without a face, a video, a broken video, a CSV, a submission."""
    pytest.importorskip("matplotlib")
    Image.new("RGB", (96, 80), (90, 90, 90)).save(tmp_path / "wall.jpg")
    write_video(tmp_path / "grey.mp4", [np.full((48, 64, 3), 90, np.uint8)] * 3)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    model = smm.load_checkpoint(face_checkpoint)
    dim, labelled = model.config.dim, model.config.num_labelled
    rows = predictions(model, torch.zeros(2, labelled, dim), torch.zeros(2, dim), np.array([1, 2]))
    rows._replace(face_id=torch.zeros(2, dtype=torch.int64), time=torch.tensor([0.0, 0.04])).to_csv(
        tmp_path / "run.csv"
    )
    (tmp_path / "va.txt").write_text("vidA\n")
    write_va_file(tmp_path / "warned" / "VA" / "vidA.txt", np.array([[1.5, 0.0], [0.2, 0.1]]))  # out of [-1, 1]
    (tmp_path / "empty").mkdir()
    return {"tmp": tmp_path, "checkpoint": str(face_checkpoint)}


def _argv(command: str, code: int, given: dict[str, Any]) -> list[str]:
    tmp, checkpoint = given["tmp"], given["checkpoint"]
    out = str(tmp / f"out-{command}-{code}")
    predict = ["predict", "--checkpoint", checkpoint, "--out", out, "--quiet", "--engine", "eager"]
    cases: dict[tuple[str, int], list[str]] = {
        ("predict", 0): [*predict, "--input", str(tmp / "wall.jpg")],  # no face: a row, not a failure
        ("predict", 1): [*predict, "--input", str(tmp / "wall.jpg"), str(tmp / "broken.mp4")],
        ("predict", 2): [
            "predict",
            "--checkpoint",
            str(tmp / "missing"),
            "--out",
            out,
            "--input",
            str(tmp / "wall.jpg"),
        ],
        ("plot", 0): ["plot", str(tmp / "run.csv"), "--out", str(tmp / "run.png")],
        ("plot", 2): ["plot", str(tmp / "missing.csv")],
        ("align", 0): ["align", str(tmp / "grey.mp4"), "--out", out],
        ("align", 1): ["align", str(tmp / "grey.mp4"), str(tmp / "broken.mp4"), "--out", out],
        ("align", 2): ["align", str(tmp / "grey.mp4"), "--out", out, "--quality", "200"],
        ("check-submission", 0): ["check-submission", str(tmp / "warned"), "--va-list", str(tmp / "va.txt")],
        ("check-submission", 1): ["check-submission", str(tmp / "empty"), "--va-list", str(tmp / "va.txt")],
        ("check-submission", 2): ["check-submission", str(tmp / "warned")],  # no test list
        ("train", 2): ["train", "--data", str(tmp / "missing"), "--out", out],
        ("convert", 2): ["convert", "--checkpoint", str(tmp / "missing.ckpt"), "--out", out],
        ("info", 0): ["info", "--model", "smm_resnet18"],
        ("info", 2): ["info", "--checkpoint", str(tmp / "missing")],
    }
    return cases[(command, code)]


CASES = [
    ("predict", 0), ("predict", 1), ("predict", 2),
    ("plot", 0), ("plot", 2),
    ("align", 0), ("align", 1), ("align", 2),
    ("check-submission", 0), ("check-submission", 1), ("check-submission", 2),
    ("train", 2), ("convert", 2),
    ("info", 0), ("info", 2),
]  # fmt: skip


@pytest.mark.parametrize(("command", "code"), CASES)
def test_the_exit_status(command: str, code: int, inputs: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(command, code, inputs)) == code
    err = capsys.readouterr().err
    if code == 2:  # one line, naming the command
        assert err.count(f"smm-emotionnet {command}: error: ") == 1, err


def test_the_cases_cover_every_status_a_command_can_end_with() -> None:
    """0 and 2 for every command (train's and convert's 0 run for minutes or need the published weights: their
    tests are tests/training/test_recipe.py and tests/inference/test_frames.py), 1 for exactly those that can
    half-succeed, 130 for all below."""
    covered = {(command, code) for command, code in CASES}
    for command in _commands():
        assert (command, 2) in covered
        assert ((command, 1) in covered) == (command in HALF_SUCCEED)
        assert (command, 0) in covered or command in {"train", "convert"}


@pytest.mark.parametrize("command", sorted(CALLS))
def test_ctrl_c_inside_any_command_exits_130_in_one_line(
    command: str, inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module, name = CALLS[command]
    called: list[str] = []

    def interrupted(*args: object, **kwargs: object) -> None:
        called.append(name)
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module), name, interrupted)
    tmp = inputs["tmp"]
    argv = {
        "predict": [
            "predict",
            "--checkpoint",
            inputs["checkpoint"],
            "--out",
            str(tmp / "o"),
            "--input",
            str(tmp / "wall.jpg"),
        ],
        "plot": ["plot", str(tmp / "run.csv"), "--out", str(tmp / "run.png")],
        "align": ["align", str(tmp / "grey.mp4"), "--out", str(tmp / "o")],
        "check-submission": ["check-submission", str(tmp / "warned"), "--va-list", str(tmp / "va.txt")],
        "train": ["train", "--out", str(tmp / "o")],
        "convert": ["convert", "--checkpoint", str(tmp / "wall.jpg"), "--out", str(tmp / "o")],
        "info": ["info", "--model", "smm_resnet18"],
    }[command]
    assert main(argv) == 130
    assert called == [name]  # stopped inside the library call, which the command did not swallow
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted"


def test_a_run_interrupted_says_how_far_it_got(
    inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import smm.runs
    from smm.runs.runner import RunInterrupted

    def stopped(*args: object, **kwargs: object) -> None:
        raise RunInterrupted(1, 3)

    monkeypatch.setattr(smm.runs, "predict_inputs", stopped)
    tmp = inputs["tmp"]
    argv = ["predict", "--checkpoint", inputs["checkpoint"], "--out", str(tmp / "o"), "--input", str(tmp / "wall.jpg")]
    assert main(argv) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "interrupted: 1 of 3 inputs complete; rerun the same command to continue"
    )
