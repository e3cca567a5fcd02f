"""Every option of every command has a row: what it changes, and the tests that pin that by value.

A new option fails :func:`test_every_option_of_every_command_has_a_row` until it has a row here,
and each row's tests must exist and run the command with the option (their source names both),
so the table cannot point at a test that was renamed, removed or never used the option.
"""

from __future__ import annotations

import argparse
import ast
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

from smm.cli.main import build_parser

TESTS = Path(__file__).resolve().parents[1]


class Row(NamedTuple):
    effect: str
    tests: tuple[str, ...]  # "path/under/tests.py::test_name"


PREDICT_MEDIA = "cli/test_predict_media.py"
SUBMISSION = "submission/test_submission.py"
PARTS = "submission/test_parts.py"
EFFECTS = "cli/test_option_effects.py"
RECIPE = "training/test_recipe.py::test_cli_train_passes_every_option_to_the_trainer"

ROWS: dict[tuple[str, str], Row] = {
    # predict: photos and videos
    ("predict", "--input"): Row(
        "photos and videos in, a CSV of every face each",
        ("inference/test_real_faces.py::test_cli_predicts_photos_and_videos_to_csv",),
    ),
    ("predict", "--checkpoint"): Row(
        "the model that predicts; another shape refused",
        ("inference/test_frames.py::test_cli_rejects_checkpoint_of_another_shape",),
    ),
    ("predict", "--out"): Row(
        "where the files go; nothing there after a failed start",
        (f"{PREDICT_MEDIA}::test_a_missing_device_is_one_line_and_leaves_nothing",),
    ),
    ("predict", "--abaw"): Row(
        "challenge files per side, smoothed as published", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("predict", "--overlay"): Row(
        "the annotated video beside the CSV",
        ("viz/test_seeing_runs.py::test_predict_overlay_writes_the_annotated_video",),
    ),
    ("predict", "--detect-every"): Row(
        "how often full detection runs", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("predict", "--detect-size"): Row(
        "the detection copy's shorter side, 'full' for none",
        (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",),
    ),
    ("predict", "--faces"): Row(
        "every face or the largest", (f"{PREDICT_MEDIA}::test_photo_options_reach_the_face_path",)
    ),
    ("predict", "--precision"): Row(
        "the engine's precision", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("predict", "--engine"): Row(
        "what runs the model", ("inference/test_engines.py::test_cli_engine_option_runs_onnxruntime",)
    ),
    ("predict", "--frames"): Row(
        "cropped-aligned folders in, challenge files out", (f"{SUBMISSION}::test_cli_without_counts_says_so",)
    ),
    ("predict", "--tracks"): Row(
        "which challenge files are written", (f"{SUBMISSION}::test_cli_threshold_clamp_and_tracks_have_their_effect",)
    ),
    ("predict", "--frames-root"): Row(
        "the test lists' videos from one root",
        (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",),
    ),
    ("predict", "--au-list"): Row(
        "AU files of the listed videos", (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",)
    ),
    ("predict", "--expr-list"): Row(
        "EXPR files of the listed videos only",
        (f"{EFFECTS}::test_expr_list_writes_the_expression_files_of_its_videos",),
    ),
    ("predict", "--va-list"): Row(
        "VA files of the listed videos", (f"{EFFECTS}::test_alpha_with_frames_root_smooths_the_submission",)
    ),
    ("predict", "--mtl-list"): Row(
        "the multi-task file in the list's order",
        (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",),
    ),
    ("predict", "--videos"): Row(
        "one line per frame of the raw video", (f"{EFFECTS}::test_videos_and_frame_offset_set_the_number_of_lines",)
    ),
    ("predict", "--annotations"): Row(
        "frame counts from the annotation files",
        (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",),
    ),
    ("predict", "--frame-offset"): Row(
        "lines added to every count from --videos",
        (f"{EFFECTS}::test_videos_and_frame_offset_set_the_number_of_lines",),
    ),
    ("predict", "--num-frames"): Row(
        "the line count of a single --frames folder", (f"{SUBMISSION}::test_cli_without_counts_says_so",)
    ),
    ("predict", "--alpha"): Row(
        "smoothing of every output", (f"{SUBMISSION}::test_cli_alpha_options_change_the_output",)
    ),
    ("predict", "--alpha-au"): Row(
        "smoothing of the AUs alone", (f"{SUBMISSION}::test_cli_alpha_options_change_the_output",)
    ),
    ("predict", "--alpha-expr"): Row(
        "smoothing of the expressions alone",
        (f"{EFFECTS}::test_published_alpha_alone_smooths_the_csv_of_an_input_video",),
    ),
    ("predict", "--alpha-va"): Row(
        "smoothing of VA alone", (f"{SUBMISSION}::test_cli_alpha_options_change_the_output",)
    ),
    ("predict", "--published-alpha"): Row(
        "the published table (AU 7, EXPR 9, VA 9)",
        (f"{EFFECTS}::test_published_alpha_alone_smooths_the_csv_of_an_input_video",),
    ),
    ("predict", "--clamp-va"): Row(
        "VA clamped to [-1, 1]", (f"{SUBMISSION}::test_cli_threshold_clamp_and_tracks_have_their_effect",)
    ),
    ("predict", "--batch-size"): Row(
        "images per model call (no value changes)", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("predict", "--threshold"): Row(
        "the AU decision threshold", (f"{SUBMISSION}::test_cli_threshold_clamp_and_tracks_have_their_effect",)
    ),
    ("predict", "--device"): Row(
        "where the model runs; a missing GPU is one line",
        (f"{PREDICT_MEDIA}::test_a_missing_device_is_one_line_and_leaves_nothing",),
    ),
    ("predict", "--quiet"): Row(
        "no progress output, the same files",
        (f"{EFFECTS}::test_quiet_silences_the_progress_and_changes_no_file",),
    ),
    # plot
    ("plot", "csv"): Row("the CSV drawn", ("viz/test_seeing_runs.py::test_plot_writes_the_figure",)),
    ("plot", "--out"): Row("the figure's file and format", ("viz/test_seeing_runs.py::test_plot_writes_the_figure",)),
    ("plot", "--dpi"): Row("a PNG's pixels", ("viz/test_seeing_runs.py::test_plot_writes_the_figure",)),
    # align
    ("align", "videos"): Row(
        "one frame folder per video (per side)",
        (f"{PREDICT_MEDIA}::test_align_writes_the_affwild2_layout_that_prediction_reads",),
    ),
    ("align", "--out"): Row(
        "the cropped_aligned folder", (f"{PREDICT_MEDIA}::test_align_writes_the_affwild2_layout_that_prediction_reads",)
    ),
    ("align", "--detect-every"): Row(
        "how often full detection runs", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("align", "--detect-size"): Row(
        "the detection copy's shorter side", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("align", "--faces"): Row(
        "every face (sides) or the largest", (f"{PREDICT_MEDIA}::test_video_options_reach_the_face_path",)
    ),
    ("align", "--ext"): Row(
        "jpg or lossless png", (f"{PREDICT_MEDIA}::test_align_writes_the_affwild2_layout_that_prediction_reads",)
    ),
    ("align", "--quality"): Row(
        "JPEG quality; out of range refused", (f"{PREDICT_MEDIA}::test_align_refuses_bad_options_in_one_line",)
    ),
    ("align", "--device"): Row(
        "the detector's device; a missing GPU is one line",
        (f"{EFFECTS}::test_align_device_reaches_the_detector_and_a_missing_one_is_one_line",),
    ),
    ("align", "--quiet"): Row(
        "no per-video summary", (f"{PREDICT_MEDIA}::test_align_writes_the_affwild2_layout_that_prediction_reads",)
    ),
    # check-submission
    ("check-submission", "folder"): Row(
        "the submission checked; exit 1 on errors only",
        (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",),
    ),
    ("check-submission", "--au-list"): Row(
        "AU files checked against the list",
        (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",),
    ),
    ("check-submission", "--expr-list"): Row(
        "EXPR files checked", (f"{SUBMISSION}::test_cli_checker_never_prints_a_traceback",)
    ),
    ("check-submission", "--va-list"): Row(
        "VA files checked against the list",
        (f"{SUBMISSION}::test_frame_counts_from_video_files",),
    ),
    ("check-submission", "--mtl-list"): Row(
        "the multi-task file checked", (f"{SUBMISSION}::test_check_submission_mtl_file_option",)
    ),
    ("check-submission", "--videos"): Row(
        "frame counts from the raw videos", (f"{SUBMISSION}::test_frame_counts_from_video_files",)
    ),
    ("check-submission", "--annotations"): Row(
        "frame counts from the annotation files",
        (f"{SUBMISSION}::test_cli_predicts_the_test_lists_and_the_checker_accepts_it",),
    ),
    ("check-submission", "--frame-offset"): Row(
        "added to every count from --videos", (f"{SUBMISSION}::test_frame_counts_from_video_files",)
    ),
    ("check-submission", "--mtl-file"): Row(
        "the multi-task file's name", (f"{SUBMISSION}::test_check_submission_mtl_file_option",)
    ),
    # train: every option is passed to the trainer as the field it names (a recording trainer)
    **{
        ("train", option): Row(f"the recipe field or argument {option} names", (RECIPE,))
        for option in (
            "--recipe",
            "--data",
            "--out",
            "--resume",
            "--model",
            "--steps",
            "--batch-size",
            "--image-size",
            "--lr",
            "--schedule",
            "--forward",
            "--val-every",
            "--save-every",
            "--device",
            "--precision",
            "--workers",
            "--seed",
        )
    },
    # convert, info
    ("convert", "--checkpoint"): Row(
        "the published checkpoint read", ("inference/test_frames.py::test_cli_convert_published_checkpoint",)
    ),
    ("convert", "--out"): Row(
        "where model.safetensors goes", ("inference/test_frames.py::test_cli_convert_published_checkpoint",)
    ),
    ("convert", "--install"): Row(
        "installed where pretrained=True looks",
        ("inference/test_frames.py::test_cli_convert_installs_the_published_checkpoint_where_pretrained_looks",),
    ),
    ("info", "--checkpoint"): Row(
        "the checkpoint described", ("inference/test_frames.py::test_cli_predict_convert_info",)
    ),
    ("info", "--model"): Row("the registered model described", (f"{EFFECTS}::test_info_model_describes_that_model",)),
}

#: Options that work together, each pair by value in its test.
TOGETHER: dict[tuple[str, ...], Row] = {
    ("predict", "--published-alpha", "--input"): Row(
        "the CSV smoothed as published", (f"{EFFECTS}::test_published_alpha_alone_smooths_the_csv_of_an_input_video",)
    ),
    ("predict", "--alpha", "--frames-root"): Row(
        "the submission smoothed as with --frames", (f"{EFFECTS}::test_alpha_with_frames_root_smooths_the_submission",)
    ),
    ("predict", "--videos", "--frame-offset"): Row(
        "counts from the videos plus the offset", (f"{EFFECTS}::test_videos_and_frame_offset_set_the_number_of_lines",)
    ),
    ("predict", "--published-alpha", "--alpha-va"): Row(
        "the published table with VA overridden",
        (f"{EFFECTS}::test_published_alpha_alone_smooths_the_csv_of_an_input_video",),
    ),
}


def _options() -> set[tuple[str, str]]:
    """Every (command, option) of the parser; a positional argument by its name."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = set()
    for name, command in commands.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            found.add((name, action.option_strings[-1] if action.option_strings else action.dest))
    return found


@cache
def _test_sources(path: str) -> dict[str, str]:
    """The source of each top-level test function of ``tests/<path>``, its decorators included."""
    text = (TESTS / path).read_text()
    lines = text.splitlines()
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            out[node.name] = "\n".join(lines[start - 1 : node.end_lineno])
    return out


def test_every_option_of_every_command_has_a_row() -> None:
    options = _options()
    assert sorted(options - set(ROWS)) == [], "options without a row: add what each changes and its tests"
    assert sorted(set(ROWS) - options) == [], "rows of options the command line no longer has"


@pytest.mark.parametrize(
    ("words", "row"), [*ROWS.items(), *TOGETHER.items()], ids=[" ".join(k) for k in [*ROWS, *TOGETHER]]
)
def test_each_row_names_tests_that_run_the_command_with_its_options(words: tuple[str, ...], row: Row) -> None:
    command, *options = words
    assert row.tests
    assert row.effect
    for reference in row.tests:
        path, name = reference.split("::")
        sources = _test_sources(path)
        assert name in sources, f"{reference} does not exist"
        source = sources[name]
        assert f'"{command}"' in source, f"{reference} does not run {command}"
        for option in options:
            if option.startswith("--"):  # a positional argument is given by value, not by name
                assert f'"{option}"' in source, f"{reference} does not give {option}"
