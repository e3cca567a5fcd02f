"""What the commands share (``smm.cli.common``), each helper by value: the options' parsing, the smoothing they
ask for, the frame counts and lists they read, the device and the model they load, and the lines they write."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from smm.cli import common
from tests.media import write_video
from tests.tiny import tiny_emotionnet

_ALPHAS = {"published_alpha": False, "alpha": None, "alpha_au": None, "alpha_expr": None, "alpha_va": None}


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{**_ALPHAS, **given})


def test_detect_size_is_pixels_or_full() -> None:
    assert common.size_or_full("full") is None
    assert common.size_or_full("480") == 480
    assert common.size_or_full("1") == 1
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a positive number of pixels, got 0$"):
        common.size_or_full("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a positive number of pixels, got -3$"):
        common.size_or_full("-3")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a number of pixels or 'full', got 'Full'$"):
        common.size_or_full("Full")


@pytest.mark.parametrize("name", ["published_alpha", "alpha", "alpha_au", "alpha_expr", "alpha_va"])
def test_any_one_smoothing_option_counts_as_given_even_zero(name: str) -> None:
    assert not common.alpha_given(_args())
    assert common.alpha_given(_args(**{name: True if name == "published_alpha" else 0.0}))


def test_the_smoothing_asked_for() -> None:
    assert common.alpha(_args()) == {"AU": None, "EXPR": None, "VA": None}
    assert common.alpha(_args(published_alpha=True)) == {"AU": 7, "EXPR": 9, "VA": 9}
    assert common.alpha(_args(alpha=3.0)) == {"AU": 3.0, "EXPR": 3.0, "VA": 3.0}
    # Each output's own option overrides the shared one, zero included.
    assert common.alpha(_args(published_alpha=True, alpha_va=0.0)) == {"AU": 7, "EXPR": 9, "VA": 0.0}
    assert common.alpha(_args(alpha=3.0, alpha_au=1.0)) == {"AU": 1.0, "EXPR": 3.0, "VA": 3.0}
    assert common.alpha(_args(alpha_expr=5.0)) == {"AU": None, "EXPR": 5.0, "VA": None}


def test_lists_names_the_first_three_and_elides_the_rest() -> None:
    assert common.listed(["a", "b", "c"]) == "a, b, c"
    assert common.listed(["a", "b", "c", "d"]) == "a, b, c, ..."
    assert common.listed(["a", "b"], most=1) == "a, ..."
    assert common.listed([]) == ""


def test_frame_counts_from_annotations_and_the_errors(tmp_path: Path) -> None:
    counts = _args(videos=None, annotations=None, frame_offset=0)
    assert common.frame_counts(counts, ["v"]) == {}
    (tmp_path / "v.txt").write_text("header\n" + "1\n" * 7)
    counts.annotations = tmp_path
    assert common.frame_counts(counts, ["v"]) == {"v": 7}
    counts.videos = tmp_path
    with pytest.raises(ValueError, match=r"^give at most one of --videos and --annotations$"):
        common.frame_counts(counts, ["v"])
    pytest.importorskip("av", reason='the video extra: pip install "smm-emotionnet[video]"')
    write_video(tmp_path / "clip.mp4", [np.zeros((16, 16, 3), np.uint8)] * 5)
    from_videos = _args(videos=tmp_path, annotations=None, frame_offset=0)
    assert common.frame_counts(from_videos, ["clip", "clip_left"]) == {"clip": 5, "clip_left": 5}
    from_videos.frame_offset = 1  # the published tester's count + 1
    assert common.frame_counts(from_videos, ["clip"]) == {"clip": 6}
    for option in ("videos", "annotations"):
        missing = _args(**{"videos": None, "annotations": None, "frame_offset": 0, option: tmp_path / "gone"})
        with pytest.raises(FileNotFoundError, match=rf"^--{option} folder {tmp_path / 'gone'} does not exist$"):
            common.frame_counts(missing, ["v"])


def test_test_lists_are_read_as_the_submission_writer_takes_them(tmp_path: Path) -> None:
    (tmp_path / "au.txt").write_text("a\nb\n")
    (tmp_path / "va.txt").write_text("c\n")
    (tmp_path / "mtl.txt").write_text("image,AU1\nd/00001.jpg\nd/00002.jpg\n")
    args = argparse.Namespace(au_list=tmp_path / "au.txt", expr_list=None, va_list=tmp_path / "va.txt", mtl_list=None)
    assert common.test_lists(args) == {"au_videos": ("a", "b"), "va_videos": ("c",)}
    args.mtl_list = tmp_path / "mtl.txt"
    lists = common.test_lists(args)
    assert set(lists) == {"au_videos", "va_videos", "mtl_list"}
    assert lists["mtl_list"].images == ("d/00001.jpg", "d/00002.jpg")
    assert common.test_lists(argparse.Namespace(au_list=None, expr_list=None, va_list=None, mtl_list=None)) == {}


def test_device_is_checked_in_one_line() -> None:
    assert common.device("cpu") == "cpu"
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    # resolve_device's reason, without its own "device 'cuda:0': " prefix: the option names the device once.
    with pytest.raises(
        ValueError, match=r"^--device cuda:0: CUDA is not available here \(no CUDA device is visible\); use cpu$"
    ):
        common.device("cuda:0")
    with pytest.raises(ValueError, match=r"^--device mps: MPS is not available here; use cpu$"):
        common.device("mps")


def test_a_model_trained_on_synthetic_data_is_loaded_with_a_warning_unless_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_emotionnet()
    model.save_pretrained(tmp_path / "demo", synthetic_data=True)
    model.save_pretrained(tmp_path / "real")
    loaded = common.load_model(tmp_path / "demo", "cpu")
    assert loaded.config == model.config
    assert next(loaded.parameters()).device.type == "cpu"
    warning = capsys.readouterr().err
    assert warning == (
        f"warning: {tmp_path / 'demo'} was trained on synthetic data (the demo): its predictions on real faces mean "
        "nothing. For the published model: smm-emotionnet convert --help\n"
    )
    assert next(common.load_model(tmp_path / "real", "meta").parameters()).device.type == "meta"  # on that device
    common.load_model(tmp_path / "demo", "cpu", quiet=True)
    common.load_model(tmp_path / "real", "cpu")
    assert capsys.readouterr().err == ""


def test_results_go_to_stdout_and_notes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    common.out("result")
    common.err("note")
    assert capsys.readouterr() == ("result\n", "note\n")
