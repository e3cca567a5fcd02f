"""``smm-emotionnet predict``: photos and videos to per-frame CSVs, or frame folders to a challenge submission.

The options are parsed and checked here; the run is :func:`smm.runs.predict_inputs` or
:func:`smm.runs.predict_submission`, whose report this module turns into the last lines.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smm.cli import common
from smm.defaults import BATCH_SIZE, DEFAULT_FACES, DETECT_EVERY, DETECT_SIZE, ENGINE_ENV, ENGINES, FACES, THRESHOLD
from smm.formats.codes import MULTITASK_FILE
from smm.models.config import PUBLISHED_ALPHA

#: --tracks' choices: the single-task files and the multi-task file.
TRACKS = ("au", "expr", "va", "mtl")


def add_parser(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="predict every face of photos and videos (--input), or write ABAW prediction files for frame folders",
        description=(
            "Predict action units, expressions and valence/arousal for every face of your photos and videos: "
            "--input takes photos, videos and folders of photos and writes OUT/<video>.csv per video and "
            "OUT/images.csv for the photos, one row per frame (or photo) and face. For the ABAW challenge, "
            "--frames (folders of cropped-aligned frames) or --frames-root with the official test lists write "
            "AU/, EXPR/, VA/<video>.txt and the multi-task file."
        ),
    )
    predict.add_argument(
        "--input",
        nargs="+",
        type=Path,
        help="photos, videos and folders of photos: faces are detected, tracked and aligned (needs the face extra); "
        "photos and videos are read upright as a viewer shows them (EXIF orientation, display rotation). Writes "
        "OUT/<video>.csv per video and OUT/images.csv, one row per frame or photo and face",
    )
    predict.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        help="model.safetensors (config.json beside it) or a published-code .ckpt",
    )
    predict.add_argument("--out", required=True, type=Path, help="output (submission) folder")
    predict.add_argument(
        "--abaw",
        action="store_true",
        help="with --input videos, also write AU/, EXPR/, VA/<video>.txt, smoothed as published (AU 7, EXPR 9, "
        "VA 9) unless --alpha* say otherwise; the CSV stays unsmoothed unless --alpha* are given",
    )
    predict.add_argument(
        "--overlay",
        action="store_true",
        help="with --input videos, also write OUT/<video>.overlay.mp4: the video with each face's box (a colour per "
        "face_id), id, landmarks, expression, active AUs and a valence/arousal marker drawn on every frame",
    )
    predict.add_argument(
        "--detect-every",
        type=int,
        default=DETECT_EVERY,
        help="with --input videos, full face detection every N frames and on every cut; tracked faces are "
        f"re-located on every frame in between (default: {DETECT_EVERY})",
    )
    predict.add_argument(
        "--detect-size",
        type=common.size_or_full,
        default=DETECT_SIZE,
        help="with --input, full detection on photos and frames scaled to this shorter side, landmarks refined at "
        f"full resolution (default: {DETECT_SIZE}; 'full' for none). Faces smaller than 20 px at that scale are not "
        "found",
    )
    predict.add_argument(
        "--faces",
        choices=FACES,
        default=DEFAULT_FACES,
        help="with --input: every face, each with its own face_id (default; a face is never dropped silently), "
        "or only the largest (in videos: followed while it is found). With all, a video where two faces meet gets "
        "<video>_left and <video>_right challenge files",
    )
    common.add_precision_option(
        predict, "the model's autocast dtype (default: auto = bf16 on CPUs and GPUs with bf16 units, else fp32)"
    )
    predict.add_argument(
        "--engine",
        choices=ENGINES,
        default=os.environ.get(ENGINE_ENV, ENGINES[0]),
        help="what runs the model: eager PyTorch, ONNX Runtime (fp32, CPU; exported once per model into the "
        "cache and checked against eager), or its int8 quantisation (calibrated on real aligned faces, used only "
        "where its decisions agree with fp32's on faces it was not calibrated on). Default auto: the fastest "
        "accepted of them on this machine, timed once per model and machine and cached (runs of a few images "
        f"are not timed: eager PyTorch). ${ENGINE_ENV} sets the default",
    )
    predict.add_argument(
        "--frames",
        nargs="+",
        type=Path,
        help="one folder of cropped-aligned frames (00001.jpg, ...) per video; the folder name is the video name",
    )
    predict.add_argument(
        "--tracks",
        nargs="+",
        choices=TRACKS,
        default=list(TRACKS),
        help="with --frames, the files to write: au/expr/va -> OUT/<TRACK>/<video>.txt, "
        f"mtl -> OUT/{MULTITASK_FILE} (default: all)",
    )
    predict.add_argument(
        "--frames-root", type=Path, help="cropped-aligned folder holding <video>/00001.jpg, for the test lists"
    )
    common.add_list_options(predict, "predict the videos (or images) it lists")
    common.add_count_options(predict)
    predict.add_argument(
        "--num-frames", type=int, help="frames of the video, with a single --frames folder (one line per frame)"
    )
    predict.add_argument(
        "--alpha", type=float, default=None, help="temporal smoothing strength of every output (default: none)"
    )
    for output in ("au", "expr", "va"):
        predict.add_argument(
            f"--alpha-{output}",
            type=float,
            default=None,
            help=f"smoothing strength of the {output.upper()} output, overriding --alpha "
            f"(published: {PUBLISHED_ALPHA[output.upper()]:g})",
        )
    predict.add_argument(
        "--published-alpha",
        action="store_true",
        help="the published smoothing: AU 7, EXPR 9, VA 9 (--alpha-* still override)",
    )
    predict.add_argument(
        "--clamp-va", action="store_true", help="clamp valence/arousal to [-1, 1] (default: raw, as published)"
    )
    predict.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help=f"frames per forward pass (default: {BATCH_SIZE})"
    )
    predict.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help=f"AU decision: probability > threshold (default: {THRESHOLD:g})",
    )
    predict.add_argument(
        "--device",
        default="auto",
        help="torch device, e.g. cpu, cuda, cuda:1 (default: auto = cuda if available, else cpu)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress output")
    predict.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the options' combination, then run the photos and videos, or the submission."""
    lists = common.test_lists(args)
    if args.input is not None:
        if args.frames is not None or args.frames_root is not None or lists:
            raise ValueError("--input (raw photos and videos) goes alone, without --frames, --frames-root or lists")
        return _inputs(args)
    if args.overlay:
        raise ValueError("--overlay goes with --input videos (frame folders are already cropped)")
    if (args.frames is None) == (args.frames_root is None):
        raise ValueError(
            "give --input (photos, videos), --frames (cropped-aligned video folders) or --frames-root with test lists"
        )
    if args.frames_root is not None:
        if not lists:
            raise ValueError(
                "--frames-root needs at least one test list: --au-list, --expr-list, --va-list, --mtl-list"
            )
        if not args.frames_root.is_dir():
            raise FileNotFoundError(f"--frames-root folder {args.frames_root} does not exist")
    elif lists:
        raise ValueError("test lists (--au-list, ...) go with --frames-root, not --frames")
    if args.frames is not None and len({folder.name for folder in args.frames}) != len(args.frames):
        raise ValueError("--frames folders must have different names (the folder name is the video name)")
    if args.num_frames is not None and (args.frames is None or len(args.frames) != 1):
        raise ValueError("--num-frames goes with a single --frames folder; use --videos or --annotations")
    return _submission(args, lists)


def _with_model(args: argparse.Namespace, run: Callable[..., Any]) -> Any:
    """``run(model, **options)`` in this process among those of torchrun, the --checkpoint's model on its device."""
    from smm.runs import Processes

    common.device(args.device)  # a missing device is one line, before any process group starts
    processes = Processes(args.device)
    try:
        model = common.load_model(args.checkpoint, str(processes.device), quiet=not processes.main)
        options = {"engine": args.engine, "precision": args.precision, "batch_size": args.batch_size}
        return run(model, **options, processes=processes, quiet=args.quiet, log=common.err)
    finally:
        processes.close()


def _inputs(args: argparse.Namespace) -> int:
    """Photos and videos: a CSV per video and one for the photos (:func:`smm.runs.predict_inputs`)."""
    from smm.runs import predict_inputs
    from smm.runs.inputs import plan_inputs

    try:
        plan = plan_inputs(args.input, abaw=args.abaw)
    except ValueError as error:  # the library names its argument ("inputs: ..."); the command line its option
        message = str(error)
        raise ValueError(f"--input{message[len('inputs') :]}" if message.startswith("inputs") else message) from None
    report = _with_model(
        args,
        lambda model, **options: predict_inputs(
            model,
            plan,
            args.out,
            faces=args.faces,
            detect_every=args.detect_every,
            detect_size=args.detect_size,
            alpha=common.alpha(args) if common.alpha_given(args) else None,
            threshold=args.threshold,
            clamp_va=args.clamp_va,
            abaw=args.abaw,
            overlay=args.overlay,
            **options,
        ),
    )
    if report is None:
        return 0
    parts = [f"wrote {len(report.written)} file(s) to {args.out}"]
    if report.skipped:
        parts.append(f"{report.skipped} input(s) complete before this run, skipped")
    if report.failed:
        parts.append(f"{len(report.failed)} input(s) failed")
    common.out("; ".join(parts))
    return 1 if report.failed else 0


def _submission(args: argparse.Namespace, lists: dict[str, Any]) -> int:
    """The test lists' (or --frames') videos, each into its part; the folder once all are done."""
    from smm.runs import predict_submission
    from smm.submission.parts import plan_folders, plan_submission

    def planned(model: Any, **options: Any) -> Any:
        # Every folder and count is checked before anything is predicted.
        if args.frames is not None:
            videos = [folder.name for folder in args.frames]
            counts = {videos[0]: args.num_frames} if args.num_frames is not None else common.frame_counts(args, videos)
            plan = plan_folders(args.frames, tracks=[t.upper() for t in args.tracks], frame_counts=counts)
        else:
            whole = [v for key, videos in lists.items() if key != "mtl_list" for v in videos]
            counts = common.frame_counts(args, list(dict.fromkeys(whole)))
            plan = plan_submission(args.frames_root, frame_counts=counts, **lists)
        alpha = common.alpha(args)
        return predict_submission(
            model, plan, args.out, alpha=alpha, threshold=args.threshold, clamp_va=args.clamp_va, **options
        )

    report = _with_model(args, planned)
    if report is None:
        return 0
    if report.failed:
        common.out(
            f"{len(report.failed)} video(s) failed ({common.listed(report.failed)}); {args.out} is left as it was. "
            f"The {len(report.items) - len(report.failed)} other(s) are kept in {report.state}: "
            "run the same command again to redo only the failed"
        )
        return 1
    if report.uncounted:
        common.err(
            f"note: frame count unknown for {len(report.uncounted)} video(s) ({common.listed(report.uncounted)}): "
            "their files end at the last frame with an image; pass --videos or --annotations for one line per "
            "video frame"
        )
    skipped = f"; {report.skipped} video(s) complete before this run, skipped" if report.skipped else ""
    common.out(f"wrote {len(report.written)} file(s) to {args.out}{skipped}")
    return 0
