"""The ``smm-emotionnet`` command line: train, predict, align, check-submission, convert, info.

Exit status: 0 done; 1 done, but some inputs failed (each reported in one line) or the checked
submission has errors; 2 the command could not run (one line says why; nothing is written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smm._version import __version__
from smm.formats.codes import MULTITASK_FILE
from smm.presets import PUBLISHED_ALPHA
from smm.registry import list_models
from smm.runtime import PRECISIONS
from smm.training.recipes import RECIPES

TRACKS = ("au", "expr", "va", "mtl")
FACES = ("all", "largest")  # smm.face.video.FACES, without importing torch for --help
ENGINES = ("auto", "eager", "onnxruntime", "onnxruntime-int8")  # smm.inference.engine.ENGINES, likewise
ENGINE_ENV = "SMM_EMOTIONNET_ENGINE"
#: --precision's choices, "auto" first (the default).
PRECISION_CHOICES = ("auto", *(p for p in PRECISIONS if p != "auto"))


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


class _Voice:
    """What one process of a prediction run says on stderr.

    Alone, it says everything as it is. One of several shares its terminal with the others:
    each line starts with ``[rank R]``, and the per-batch progress line, which rewrites
    itself with a carriage return, is left out (the processes would write over each other).
    """

    def __init__(self, quiet: bool, rank: int, world: int) -> None:
        self.quiet, self.rank, self.world = quiet, rank, world

    @property
    def progress(self) -> bool:
        """Whether the per-batch progress line is shown."""
        return not self.quiet and self.world == 1

    def say(self, text: str) -> None:
        """A line said even with --quiet (what failed)."""
        _err(text if self.world == 1 else f"[rank {self.rank}] {text}")

    def tell(self, text: str) -> None:
        """A line said unless --quiet (what was done)."""
        if not self.quiet:
            self.say(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smm-emotionnet",
        description="SMM-EmotionNet: action units, expressions and valence/arousal from face videos.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser(
        "predict",
        help="write ABAW prediction files for folders of video frames or the official test lists",
        description=(
            "Predict every frame of each video and write ABAW3 prediction files: AU/, EXPR/, VA/<video>.txt with "
            "one line per video frame (frames without an image repeat the previous frame's prediction, as the "
            "published tester did) and the multi-task file. Give video folders with --frames, or the official "
            "test lists with --frames-root."
        ),
    )
    predict.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        help="model.safetensors (config.json beside it) or a published-code .ckpt",
    )
    predict.add_argument("--out", required=True, type=Path, help="output (submission) folder")
    predict.add_argument(
        "--input",
        nargs="+",
        type=Path,
        help="raw photos, videos or folders of photos: faces are detected and aligned (needs the face extra); "
        "writes OUT/<video>.csv per video and OUT/images.csv, one row per frame or photo",
    )
    predict.add_argument(
        "--abaw",
        action="store_true",
        help="with --input videos, also write AU/, EXPR/, VA/<video>.txt, smoothed as published (AU 7, EXPR 9, "
        "VA 9) unless --alpha* say otherwise; the CSV stays unsmoothed unless --alpha* are given",
    )
    predict.add_argument(
        "--detect-every",
        type=int,
        default=10,  # smm.face.video.DETECT_EVERY, written out so that --help imports no torch
        help="with --input videos, full face detection every N frames and on every cut; tracked faces are "
        "re-located on every frame in between (default: 10)",
    )
    predict.add_argument(
        "--detect-size",
        type=_size_or_full,
        default=480,
        help="with --input videos, full detection on frames scaled to this shorter side, landmarks refined at full "
        "resolution (default: 480; 'full' for none). Faces smaller than 20 px at that scale are not found",
    )
    predict.add_argument(
        "--faces",
        choices=FACES,
        default="all",
        help="with --input: every face, each with its own face_id (default; a face is never dropped silently), "
        "or only the largest (in videos: followed while it is found). With all, a video where two faces meet gets "
        "<video>_left and <video>_right challenge files",
    )
    predict.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="the model's autocast dtype (default: auto = bf16 on CPUs and GPUs with bf16 units, else fp32)",
    )
    predict.add_argument(
        "--engine",
        choices=ENGINES,
        default=os.environ.get(ENGINE_ENV, "auto"),
        help="what runs the model: eager PyTorch, or ONNX Runtime (fp32, CPU; exported once per model into the "
        "cache and checked against eager), or its int8 quantisation (calibrated on real aligned faces, used only "
        "where its decisions agree with fp32's). Default auto: ONNX Runtime fp32 on CPUs without bf16 units when "
        f"the export extra is installed, else eager; auto never picks int8 (${ENGINE_ENV} sets the default)",
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
    _add_list_options(predict, "predict the videos (or images) it lists")
    _add_count_options(predict)
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
    predict.add_argument("--batch-size", type=int, default=32, help="frames per forward pass (default: 32)")
    predict.add_argument(
        "--threshold", type=float, default=0.5, help="AU decision: probability > threshold (default: 0.5)"
    )
    predict.add_argument(
        "--device",
        default="auto",
        help="torch device, e.g. cpu, cuda, cuda:1 (default: auto = cuda if available, else cpu)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress output")

    align = commands.add_parser(
        "align",
        help="write Aff-Wild2-style 112x112 aligned face crops from raw videos",
        description=(
            "Detect, track and align the faces of each video and write OUT/<video>/00001.jpg, ... (frames numbered "
            "from 1, no image where no face was found), the layout of Aff-Wild2's cropped_aligned download, which "
            "predict --frames-root and train --data read as they are. A video where two faces meet is split by "
            "position into <video>_left and <video>_right."
        ),
    )
    align.add_argument("videos", nargs="+", type=Path, help="video files")
    align.add_argument("--out", required=True, type=Path, help="the cropped_aligned folder to write into")
    align.add_argument(
        "--detect-every", type=int, default=10, help="full face detection every N frames and on every cut (default: 10)"
    )
    align.add_argument(
        "--detect-size",
        type=_size_or_full,
        default=480,
        help="full detection on frames scaled to this shorter side (default: 480; 'full' for none)",
    )
    align.add_argument(
        "--faces", choices=FACES, default="all", help="all faces (split left/right where two meet) or the largest"
    )
    align.add_argument(
        "--ext", choices=("jpg", "png"), default="jpg", help="image format (default: jpg; png: lossless)"
    )
    align.add_argument("--quality", type=int, default=95, help="JPEG quality, 1-95 (default: 95)")
    align.add_argument("--device", default="auto", help="torch device of the detector (default: auto)")
    align.add_argument("--quiet", action="store_true", help="no per-video summary")

    check = commands.add_parser(
        "check-submission",
        help="check a folder of prediction files against the test lists",
        description=(
            "Check file names, headers, line counts, value ranges, class codes and the multi-task image order; "
            "print one line per problem. Exit code 0: no error; 1: errors found; 2: the check could not run."
        ),
    )
    check.add_argument("folder", type=Path, help="the submission folder (AU/, EXPR/, VA/, the multi-task file)")
    _add_list_options(check, "check the files it requires")
    _add_count_options(check)
    check.add_argument(
        "--mtl-file", default=MULTITASK_FILE, help=f"name of the multi-task file (default: {MULTITASK_FILE})"
    )

    train = commands.add_parser(
        "train",
        help="train with a recipe: the published ABAW3 setup, or a one-minute demo on synthetic data",
        description=(
            "Train SMM-EmotionNet with one batch per task and step, validate with the ABAW3 measures, keep the "
            "best model and a resume state. With no --data the demo recipe runs on generated data."
        ),
    )
    train.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="demo",
        help=f"training recipe: {', '.join(sorted(RECIPES))} (default: demo; abaw3 is the published one)",
    )
    train.add_argument("--data", type=Path, help="Aff-Wild2 folder: cropped_aligned/ and the *_Challenge annotations")
    train.add_argument("--out", type=Path, help="output folder (default: runs/<recipe>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its resume.pt")
    train.add_argument("--model", help=f"registered model, overriding the recipe's ({', '.join(list_models())})")
    train.add_argument("--steps", type=int, help="optimiser steps (demo 150, abaw3 600000)")
    train.add_argument("--batch-size", type=int, help="images per task and step (demo 16, abaw3 24)")
    train.add_argument("--image-size", type=int, help="input side (demo 64, abaw3 299)")
    train.add_argument("--lr", type=float, help="SGD learning rate (demo 0.02, abaw3 0.001)")
    train.add_argument(
        "--schedule", choices=("published", "cosine"), help="published: CosineAnnealingLR(T_max=1e4) per step"
    )
    train.add_argument(
        "--forward", choices=("per-task", "concatenated"), help="one forward pass per task (published) or one for all"
    )
    train.add_argument("--val-every", type=int, help="validate every N steps (and at the end)")
    train.add_argument("--save-every", type=int, help="save the resume state every N steps (and at the end)")
    train.add_argument("--device", default="auto", help="torch device (default: auto = cuda if available, else cpu)")
    train.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="autocast dtype (default: auto = bf16 and channels_last on CPUs and GPUs with bf16 units, else fp32; "
        "fp32 = the published arithmetic)",
    )
    train.add_argument("--workers", type=int, default=0, help="data loading processes (default: 0)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")

    convert = commands.add_parser(
        "convert",
        help="convert a published-code checkpoint to model.safetensors + config.json",
        description="Read a checkpoint of the published implementation (weights_only) and save it for SMMEmotionNet.",
    )
    convert.add_argument("--checkpoint", required=True, type=Path, help="published-code .ckpt or .pt")
    convert.add_argument("--out", type=Path, help="output folder")
    convert.add_argument(
        "--install",
        action="store_true",
        help="write into the cache folder where create_model('smm_abaw3', pretrained=True) looks "
        "($SMM_EMOTIONNET_CACHE/smm_abaw3, default ~/.cache/smm-emotionnet/smm_abaw3)",
    )

    info = commands.add_parser(
        "info",
        help="version, a model's configuration, preprocessing and parameter counts",
        description="Describe a checkpoint's model or a registered model (default: smm_abaw3).",
    )
    info.add_argument("--checkpoint", type=Path, help="a checkpoint folder or file (what the trainer printed)")
    info.add_argument("--model", choices=list_models(), help="a registered model name (default: smm_abaw3)")
    return parser


def _size_or_full(text: str) -> int | None:
    """--detect-size: a positive number of pixels, or 'full'."""
    if text == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'full', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of pixels, got {value}")
    return value


def _add_list_options(parser: argparse.ArgumentParser, action: str) -> None:
    for track, what in (("au", "AU"), ("expr", "EXPR"), ("va", "VA")):
        parser.add_argument(
            f"--{track}-list", type=Path, help=f"official {what} test list (one video name per line): {action}"
        )
    parser.add_argument(
        "--mtl-list", type=Path, help=f"official multi-task test list (header, then video/00001.jpg lines): {action}"
    )


def _add_count_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--videos",
        type=Path,
        help="folder of the raw videos (<name>.mp4/.avi, searched recursively; <name>_left/_right use <name>): "
        'frame counts from the video files (needs pip install "smm-emotionnet[video]")',
    )
    parser.add_argument(
        "--annotations",
        type=Path,
        help="folder of per-video annotation files (<video>.txt, searched recursively): frame counts from their lines",
    )
    parser.add_argument(
        "--frame-offset",
        type=int,
        default=0,
        help="added to every count from --videos (the published tester wrote OpenCV's count + 1 lines; default: 0)",
    )


def _frame_counts(args: argparse.Namespace, videos: Sequence[str]) -> dict[str, int]:
    from smm.data.videos import annotation_frame_count, count_video_frames, video_file

    if args.videos is not None and args.annotations is not None:
        raise ValueError("give at most one of --videos and --annotations")
    if args.videos is not None:
        if not args.videos.is_dir():
            raise FileNotFoundError(f"--videos folder {args.videos} does not exist")
        return {v: count_video_frames(video_file(args.videos, v)) + args.frame_offset for v in videos}
    if args.annotations is not None:
        if not args.annotations.is_dir():
            raise FileNotFoundError(f"--annotations folder {args.annotations} does not exist")
        files = {p.stem: p for p in sorted(args.annotations.rglob("*.txt"))}
        missing = [v for v in videos if v not in files]
        if missing:
            raise FileNotFoundError(f"no annotation file {missing[0]}.txt under {args.annotations}")
        return {v: annotation_frame_count(files[v]) for v in videos}
    return {}


def _test_lists(args: argparse.Namespace) -> dict[str, object]:
    from smm.data import read_multitask_test_list, read_video_list

    lists: dict[str, object] = {
        f"{track}_videos": read_video_list(path)
        for track in ("au", "expr", "va")
        if (path := getattr(args, f"{track}_list")) is not None
    }
    if args.mtl_list is not None:
        lists["mtl_list"] = read_multitask_test_list(args.mtl_list)
    return lists


def _alpha_given(args: argparse.Namespace) -> bool:
    """Whether any smoothing option was given."""
    return args.published_alpha or any(
        getattr(args, name) is not None for name in ("alpha", "alpha_au", "alpha_expr", "alpha_va")
    )


def _alpha(args: argparse.Namespace) -> dict[str, float | None]:
    base = dict(PUBLISHED_ALPHA) if args.published_alpha else dict.fromkeys(PUBLISHED_ALPHA, args.alpha)
    for output in base:
        if (value := getattr(args, f"alpha_{output.lower()}")) is not None:
            base[output] = value
    return base


def _device(name: str) -> str:
    """The device ``--device`` names, checked: a missing GPU is one line, not a traceback."""
    from smm.runtime import resolve_device

    try:
        return str(resolve_device(name))
    except ValueError as error:
        raise ValueError(f"--device {name}: {str(error).split(': ', 1)[-1]}") from None


def _load_model(args: argparse.Namespace, device: str | None = None, quiet: bool = False) -> Any:
    """The --checkpoint's model on --device, warning when it was trained on synthetic data."""
    from smm.factory import load_checkpoint

    model = load_checkpoint(args.checkpoint).to(device or _device(args.device))
    if model.card.get("synthetic_data") and not quiet:
        _err(
            f"warning: {args.checkpoint} was trained on synthetic data (the demo): its predictions on real faces "
            "mean nothing. For the published model: smm-emotionnet convert --help"
        )
    return model


def _predict(args: argparse.Namespace) -> int:
    lists = _test_lists(args)
    if args.input is not None:
        if args.frames is not None or args.frames_root is not None or lists:
            raise ValueError("--input (raw photos and videos) goes alone, without --frames, --frames-root or lists")
        return _predict_raw(args)
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
    _device(args.device)  # a missing device is one line, before any process group starts
    from smm.training.distributed import Processes

    procs = Processes(args.device)
    try:
        return _predict_parts(args, procs, lambda: _submission_plan(args, lists))
    finally:
        procs.close()


def _submission_plan(args: argparse.Namespace, lists: dict[str, Any]) -> Any:
    """What each video of ``--frames-root`` and its lists (or of ``--frames`` and ``--tracks``) needs."""
    import numpy as np

    from smm.data.frames import list_frames
    from smm.data.test_lists import MultiTaskTestList
    from smm.submission.parts import plan_submission

    frames: Path | dict[str, Path] = args.frames_root
    if args.frames is not None:
        frames = {folder.name: folder for folder in args.frames}
        videos = list(frames)
        lists = {f"{track}_videos": videos for track in ("au", "expr", "va") if track in args.tracks}
        if "mtl" in args.tracks:
            images = [f"{video}/{p.name}" for video, folder in frames.items() for p in list_frames(folder)]
            lists["mtl_list"] = MultiTaskTestList(
                tuple(images),
                tuple(i.rsplit("/", 1)[0] for i in images),
                np.asarray([int(Path(i).stem) for i in images], dtype=np.int64),
            )
    whole = [v for key, videos in lists.items() if key != "mtl_list" for v in videos]
    counts = _frame_counts(args, list(dict.fromkeys(whole)))
    if args.num_frames is not None:
        counts = {args.frames[0].name: args.num_frames}
    return plan_submission(frames, frame_counts=counts, **lists)


def _predict_parts(args: argparse.Namespace, procs: Any, make_plan: Callable[[], Any]) -> int:
    """The test lists' videos, shared between processes, each into its part; rank 0 merges the submission.

    The run's state (manifest, parts, summary) lives beside the submission folder, in
    ``.<name>.smm-run``, so the folder holds only the challenge's files, and only once every
    video is done: a failed video leaves it as it was, and a rerun redoes only what is missing.
    """
    from smm.corpus import RunManifest, share
    from smm.inference.engine import model_fingerprint
    from smm.submission.parts import merge_parts, predict_part

    model = _load_model(args, device=str(procs.device), quiet=not procs.main)
    plan = make_plan()  # every folder and count checked before anything is predicted
    engine = _engine(args, model, quiet=args.quiet or not procs.main)
    out = args.out.resolve()
    state = out.with_name(f".{out.name}.smm-run")
    run = {
        "model": model_fingerprint(model),
        "engine": engine.name,
        "plan": plan.fingerprint(),
        "threshold": args.threshold,
        "clamp_va": args.clamp_va,
        "batch_size": args.batch_size,
        "alpha": _alpha(args),
    }
    manifest = RunManifest(state, run, folder=state)
    problem = None
    if procs.main:
        try:
            manifest.claim()
        except ValueError as error:
            problem = f"{args.out}: {error}"
    problem = procs.broadcast(problem)
    if problem:
        raise ValueError(problem)
    options = {"alpha": _alpha(args), "threshold": args.threshold, "clamp_va": args.clamp_va}
    voice = _Voice(args.quiet, procs.rank, procs.world)
    done: dict[int, dict[str, Any]] = {}
    for index in share([job.images for job in plan.jobs], procs.world)[procs.rank]:
        job = plan.jobs[index]
        if manifest.complete(job.folder):
            done[index] = {"video": job.video, "status": "complete before this run"}
            continue
        try:
            files = predict_part(
                model,
                job,
                state / "parts",
                **options,
                batch_size=args.batch_size,
                precision=args.precision,
                progress=voice.progress,
                engine=engine,
                log=voice.tell,
            )
        except (OSError, ValueError) as error:
            message = " ".join(str(error).split())
            voice.say(f"skipped {job.video}: {message}")
            done[index] = {"video": job.video, "status": "failed", "failed": message}
            continue
        manifest.record(job.folder, files)
        done[index] = {"video": job.video, "status": "done", "parts": [str(f.relative_to(state)) for f in files]}
    summary = _gather_summary(procs, done, state)
    if summary is None:
        return 0
    skipped = sum(item["status"] == "complete before this run" for item in summary)
    failed = [item["video"] for item in summary if item["status"] == "failed"]
    if failed:
        _out(
            f"{len(failed)} video(s) failed ({', '.join(failed[:3])}{', ...' if len(failed) > 3 else ''}); "
            f"{args.out} is left as it was. The {len(summary) - len(failed)} other(s) are kept in {state}: "
            "run the same command again to redo only the failed"
        )
        return 1
    files = merge_parts(plan, state / "parts", out)
    uncounted = [job.video for job in plan.jobs if job.tracks and not job.counted]
    if uncounted:
        _err(
            f"note: frame count unknown for {len(uncounted)} video(s) ({', '.join(uncounted[:3])}"
            f"{', ...' if len(uncounted) > 3 else ''}): their files end at the last frame with an image; "
            "pass --videos or --annotations for one line per video frame"
        )
    skipped_text = f"; {skipped} video(s) complete before this run, skipped" if skipped else ""
    _out(f"wrote {len(files)} file(s) to {args.out}{skipped_text}")
    return 0


VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _engine(args: argparse.Namespace, model: Any, quiet: bool | None = None) -> Any:
    """The --engine for ``model``, made once; which one ran is said unless --quiet."""
    from smm.inference.engine import make_engine

    engine = make_engine(model, args.engine, precision=args.precision, log=_err)
    if not (args.quiet if quiet is None else quiet):
        _err(f"engine: {engine.name}{' (auto)' if args.engine == 'auto' else ''}")
    return engine


def _raw_inputs(inputs: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The photos and videos of ``--input``: files by suffix, folders' photos sorted by name."""
    photos, videos = [], []
    for path in inputs:
        if path.is_dir():
            photos += sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            videos.append(path)
        elif path.suffix.lower() in PHOTO_SUFFIXES:
            photos.append(path)
        elif not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        else:
            raise ValueError(
                f"{path}: not a photo ({', '.join(PHOTO_SUFFIXES)}) or video ({', '.join(VIDEO_SUFFIXES)})"
            )
    if not photos and not videos:
        raise ValueError("--input holds no photo or video")
    return photos, videos


def _output_names(videos: Sequence[Path], photos: bool, *, abaw: bool) -> None:
    """Refuse, in one line, inputs that would write the same output file."""
    names: dict[str, list[str]] = {}
    for video in videos:
        outputs = [f"{video.stem}.csv"]
        if abaw:
            outputs += [f"{video.stem}{side}.txt" for side in ("", "_left", "_right")]
        for output in outputs:
            names.setdefault(output, []).append(str(video))
    if photos:
        names.setdefault("images.csv", []).append("the photos")
    clashes = {name: sources for name, sources in names.items() if len(sources) > 1}
    if clashes:
        name, sources = next(iter(clashes.items()))
        raise ValueError(
            f"--input: {' and '.join(sources)} would both write {name}; rename one or predict them in separate runs"
        )


def _predict_raw(args: argparse.Namespace) -> int:
    """Photos and videos: detect, track, align, predict; a CSV per video and one for the photos.

    Each input stands alone: one that cannot be read is reported in one line and has no output
    (a photo gets a row with face=0 and its reason), the others are written, and the exit
    status is 1. Under torchrun each process takes a share of the inputs (:mod:`smm.corpus`);
    a rerun skips the inputs whose outputs are complete.
    """
    photos, videos = _raw_inputs(args.input)
    _output_names(videos, bool(photos), abaw=args.abaw)
    _device(args.device)  # a missing device is one line, before any process group starts
    from smm.training.distributed import Processes

    procs = Processes(args.device)
    try:
        return _predict_shared(args, procs, photos, videos)
    finally:
        procs.close()


def _predict_shared(args: argparse.Namespace, procs: Any, photos: list[Path], videos: list[Path]) -> int:
    from smm.corpus import RunManifest, share
    from smm.face import MTCNNDetector
    from smm.inference.engine import model_fingerprint

    model = _load_model(args, device=str(procs.device), quiet=not procs.main)  # warnings even with --quiet
    engine = _engine(args, model, quiet=args.quiet or not procs.main)
    run = {
        "model": model_fingerprint(model),
        "engine": engine.name,
        **{
            name: getattr(args, name)
            for name in ("faces", "detect_every", "detect_size", "threshold", "clamp_va", "abaw")
        },
        "batch_size": args.batch_size,
        "alpha": _alpha(args) if _alpha_given(args) else None,
    }
    manifest = RunManifest(args.out, run)
    problem = None
    if procs.main:
        try:
            manifest.claim()
        except ValueError as error:
            problem = str(error)
    problem = procs.broadcast(problem)
    if problem:
        raise ValueError(problem)
    units: list[tuple[str, Any]] = [(str(video), video) for video in videos]
    if photos:
        units.append((_photos_key(photos), photos))
    mine = share([_frames_of(unit) for _, unit in units], procs.world)[procs.rank]
    voice = _Voice(args.quiet, procs.rank, procs.world)
    detector = MTCNNDetector(str(procs.device))
    done: dict[int, dict[str, Any]] = {}
    for index in mine:
        key, unit = units[index]
        if manifest.complete(key):
            done[index] = {"input": _shown(unit), "status": "complete before this run"}
            continue
        outputs, failures = (
            _predict_photos(args, model, detector, engine, unit, voice)
            if isinstance(unit, list)
            else _predict_one_video(args, model, detector, engine, unit, voice)
        )
        if outputs:
            manifest.record(key, outputs)
        done[index] = {
            "input": _shown(unit),
            "status": "failed" if failures and not outputs else "done",
            "outputs": [str(Path(o).relative_to(args.out)) for o in outputs],
            "failed": failures,
        }
    summary = _gather_summary(procs, done, args.out)
    if summary is None:
        return 0
    written = sum(len(item.get("outputs", [])) for item in summary)
    skipped = sum(item["status"] == "complete before this run" for item in summary)
    failed = sum(len(item.get("failed", [])) for item in summary)
    parts = [f"wrote {written} file(s) to {args.out}"]
    if skipped:
        parts.append(f"{skipped} input(s) complete before this run, skipped")
    if failed:
        parts.append(f"{failed} input(s) failed")
    _out("; ".join(parts))
    return 1 if failed else 0


def _predict_one_video(
    args: argparse.Namespace, model: Any, detector: Any, engine: Any, video: Path, voice: _Voice
) -> tuple[list[Path], list[str]]:
    """One video's CSV (and challenge files); ``(outputs, failures)``."""
    from smm.face import video_features
    from smm.formats.frames_csv import write_frames_csv
    from smm.submission.write import write_video_files

    options = {"threshold": args.threshold, "clamp_va": args.clamp_va}
    given = _alpha_given(args)
    try:
        features = video_features(
            model,
            video,
            detector=detector,
            faces=args.faces,
            detect_every=args.detect_every,
            detect_size=args.detect_size,
            batch_size=args.batch_size,
            precision=args.precision,
            progress=voice.progress,
            engine=engine,
        )
    except (OSError, ValueError) as error:
        message = " ".join(str(error).split())
        voice.say(f"skipped {video}: {message}")
        return [], [f"{video}: {message}"]
    result = features.predictions(model, alpha=_alpha(args) if given else None, **options)
    written = [write_frames_csv(args.out / f"{video.stem}.csv", result)]
    voice.tell(  # after the progress line, which ends with the frames per second
        f"{video.name}: {features.num_frames} frames, a face in {len(set(features.frame[features.observed]))}, "
        f"{int(features.observed.sum())} face(s) in {len(features.tracks)} track(s)"
    )
    if args.abaw:
        # The challenge files are smoothed as published unless --alpha* say otherwise.
        alpha = _alpha(args) if given else "published"
        for side in features.sides:
            per_frame = features.per_frame(model, side, alpha=alpha, **options)
            if bool(per_frame.observed.any()):
                written += write_video_files(args.out, f"{video.stem}_{side}" if side else video.stem, per_frame, model)
    return written, []


def _predict_photos(
    args: argparse.Namespace, model: Any, detector: Any, engine: Any, photos: list[Path], voice: _Voice
) -> tuple[list[Path], list[str]]:
    """The photos' CSV; ``(outputs, failures)``."""
    from smm.face import predict_images
    from smm.formats.frames_csv import write_frames_csv

    result = predict_images(
        model,
        photos,
        detector=detector,
        faces=args.faces,
        batch_size=args.batch_size,
        precision=args.precision,
        errors="report",
        engine=engine,
        threshold=args.threshold,
        clamp_va=args.clamp_va,
    )
    written = [write_frames_csv(args.out / "images.csv", result)]
    unreadable = [
        reason for reason in result.reason if reason and not reason.startswith(("no face", "image too small"))
    ]
    for reason in unreadable:
        voice.say(f"skipped {reason}")
    with_face = len({s for s, seen in zip(result.source, result.observed.tolist(), strict=True) if seen})
    voice.tell(f"{len(photos)} photo(s): {int(result.observed.sum())} face(s) in {with_face} photo(s)")
    return written, unreadable


def _frames_of(unit: Path | list[Path]) -> int:
    """The work of an input, for sharing: a video's frame count (as its file states it), or the photos' number."""
    from smm.data.videos import recorded_frame_count

    if isinstance(unit, list):
        return len(unit)
    return recorded_frame_count(unit) or 1  # an unreadable video fails later, in one line, where it is predicted


def _photos_key(photos: list[Path]) -> str:
    """One manifest key for the photos (they make one output, images.csv): it changes when any of them does."""
    import hashlib

    digest = hashlib.sha256()
    for photo in photos:
        stat = photo.stat() if photo.exists() else None
        digest.update(f"{photo.resolve()}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    return f"photos:{digest.hexdigest()[:24]}"


def _shown(unit: Path | list[Path]) -> str:
    return f"{len(unit)} photo(s)" if isinstance(unit, list) else str(unit)


def _gather_summary(procs: Any, done: dict[int, dict[str, Any]], folder: Path) -> list[dict[str, Any]] | None:
    """Every process's records, in input order; rank 0 writes them to ``folder/summary.json``, the others get None."""
    merged: dict[int, dict[str, Any]] = {}
    for part in procs.gather(done):
        merged.update(part)
    if not procs.main:
        return None
    summary = [merged[i] for i in sorted(merged)]
    _write_summary(folder, summary)
    return summary


def _write_summary(out: Path, summary: list[dict[str, Any]]) -> None:
    """``OUT/summary.json``: each input, its status and outputs, in input order (written by one process)."""
    import json

    from smm._atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=1) + "\n"
    atomic_write(out / "summary.json", lambda path: path.write_text(text))


def _align(args: argparse.Namespace) -> int:
    from smm.face import MTCNNDetector
    from smm.face.crops import write_aligned_frames

    if isinstance(args.quality, int) and not 1 <= args.quality <= 95:
        raise ValueError(f"--quality must be in [1, 95], got {args.quality}")
    if args.detect_every < 1:
        raise ValueError(f"--detect-every must be a positive integer, got {args.detect_every}")
    stems: dict[str, list[str]] = {}
    for video in args.videos:
        stems.setdefault(video.stem, []).append(str(video))
        if not video.is_file():
            raise FileNotFoundError(f"{video} does not exist")
    clash = next((paths for paths in stems.values() if len(paths) > 1), None)
    if clash:
        raise ValueError(f"{' and '.join(clash)} would both write {Path(clash[0]).stem}/; align them separately")
    detector = MTCNNDetector(_device(args.device))
    failed = 0
    for video in args.videos:
        began = time.perf_counter()
        try:
            done = write_aligned_frames(
                video,
                args.out,
                detector,
                detect_every=args.detect_every,
                detect_size=args.detect_size,
                faces=args.faces,
                ext=args.ext,
                quality=args.quality,
            )
        except (OSError, ValueError) as error:
            _err(f"skipped {video}: {' '.join(str(error).split())}")
            failed += 1
            continue
        if not args.quiet:
            seconds = time.perf_counter() - began
            folders = ", ".join(f"{name}/ ({count})" for name, count in done.folders.items()) or "no face"
            _err(
                f"{video.name}: {done.frames} frames, {done.faces} face(s) in {done.tracks} track(s) -> {folders}, "
                f"{done.frames / max(seconds, 1e-9):.1f} frames/s"
            )
    _out(f"aligned {len(args.videos) - failed} video(s) into {args.out}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _check_submission(args: argparse.Namespace) -> int:
    from smm.submission import check_submission

    lists = _test_lists(args)
    if not lists:
        raise ValueError("give at least one test list: --au-list, --expr-list, --va-list, --mtl-list")
    whole = [v for key, videos in lists.items() if key != "mtl_list" for v in videos]
    counts = _frame_counts(args, list(dict.fromkeys(whole)))
    problems = check_submission(args.folder, frame_counts=counts, mtl_file=args.mtl_file, **lists)
    for problem in problems:
        _out(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    checked = ", ".join(name.replace("_videos", "").replace("_list", "").upper() for name in lists)
    if not counts and whole:
        _err("note: line counts not checked against the videos (pass --videos or --annotations)")
    _out(f"{args.folder}: {errors} error(s), {warnings} warning(s) ({checked} checked)")
    return 1 if errors else 0


def _train(args: argparse.Namespace) -> None:
    from smm.training import RECIPES, TrainingError, describe, train

    recipe = RECIPES[args.recipe].replace(
        model=args.model,
        steps=args.steps,
        batch_size=args.batch_size,
        image_size=args.image_size,
        lr=args.lr,
        schedule=args.schedule,
        forward=args.forward,
        val_every=args.val_every,
        save_every=args.save_every,
    )
    out = args.out or Path("runs") / recipe.name
    device = _device(args.device) if args.device != "auto" else "auto"
    try:
        result = train(
            recipe,
            out,
            data=args.data,
            resume=args.resume,
            device=device,
            precision=args.precision,
            workers=args.workers,
            seed=args.seed,
            log=_err,
        )
    except TrainingError as error:
        raise ValueError(error.cli) from None
    if result.finished:
        _out(f"to train {out} longer, resume it with a larger --steps")
        return
    if result.history:
        first, last = result.history[0][1], result.history[-1][1]
        _out(f"validation: {describe(first)} -> {describe(last)} (best at step {result.best_step})")
    _out(f"model in {out} (best: {out / 'best'}); try: smm-emotionnet info --checkpoint {out}")


def _convert(args: argparse.Namespace) -> None:
    import torch

    from smm.checkpoint import save_checkpoint
    from smm.factory import load_checkpoint, load_reference_checkpoint
    from smm.registry import cache_dir

    if (args.out is None) == (not args.install):
        raise ValueError("give --out FOLDER, or --install to write into the model cache")
    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint} does not exist")
    model = load_reference_checkpoint(args.checkpoint).eval()
    out = cache_dir() / "smm_abaw3" if args.install else args.out
    card = {"converted_from": str(args.checkpoint)}
    if args.install:
        card["training_data"] = "Aff-Wild2 (ABAW3), the published checkpoint"
    path = save_checkpoint(model, out, **card)
    # Verify: the written files give the same model, output for output, on a fixed input.
    generator = torch.Generator().manual_seed(0)
    reloaded = load_checkpoint(out).eval()
    with torch.no_grad():
        if model.backbone is None:  # a heads-only checkpoint reads feature maps
            inputs = torch.rand(2, model.feature_channels, 17, 17, generator=generator)
            outputs = (model.forward_head(inputs), reloaded.forward_head(inputs))
        else:
            inputs = torch.rand(2, *model.data_config["input_size"], generator=generator)
            outputs = (model(inputs), reloaded(inputs))
        same = all(torch.equal(a, b) for a, b in zip(outputs[0][:3], outputs[1][:3], strict=True))
    if not same:
        raise ValueError(f"{path}: the written weights do not reproduce the checkpoint's outputs")
    _out(f"wrote {path} and {path.with_name('config.json')} (verified: the same outputs as {args.checkpoint})")
    if args.install:
        _out("installed: smm.create_model('smm_abaw3', pretrained=True) now loads it")


def _count(module: Any) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _info(args: argparse.Namespace) -> None:
    import torch

    from smm.factory import create_model, load_checkpoint
    from smm.registry import model_entry

    if args.checkpoint is not None and args.model is not None:
        raise ValueError("give at most one of --checkpoint and --model")
    if args.checkpoint is not None:
        model, source = load_checkpoint(args.checkpoint), str(args.checkpoint)
    else:
        name = args.model or "smm_abaw3"
        model, source = create_model(name), f"{name} (registry; {model_entry(name).description})"
    _out(f"smm-emotionnet {__version__} (torch {torch.__version__})")
    _out(f"model: {source}")
    config = model.config
    _out(f"  backbone {config.backbone}, feature stage {config.feature_index}, C={model.feature_channels}")
    _out(f"  regions U={model.num_regions}: {', '.join(model.region_names)}")
    _out(f"  labelled AUs H={len(model.au_names)}, D={model.roi_embedding.dim}")
    _out(f"  expressions: {', '.join(model.expression_names)}")
    _out(
        f"  input {config.input_size}, mean {config.mean}, std {config.std}, {config.interpolation} "
        f"({config.crop_mode}, crop_pct {config.crop_pct})"
    )
    parts = {
        "backbone": model.backbone,
        "roi_attention": model.roi_attention,
        "roi_embedding": model.roi_embedding,
        "sign_vehicle": model.sign_vehicle,
        "message_space": model.message_space,
    }
    for name, part in parts.items():
        _out(f"  {name:14s} {_count(part):>12,d} parameters")
    _out(f"  {'total':14s} {_count(model):>12,d} parameters")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``smm-emotionnet``; returns the exit code."""
    args = _parser().parse_args(argv)
    handlers = {
        "predict": _predict,
        "train": _train,
        "convert": _convert,
        "info": _info,
        "check-submission": _check_submission,
        "align": _align,
    }
    try:
        code = handlers[args.command](args)
    except (FileNotFoundError, ValueError, OSError, ImportError) as error:
        message = " ".join(str(error).split())
        _err(f"smm-emotionnet {args.command}: error: {message}")
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
