"""What the commands share: writing lines, options that several commands take, and turning options into arguments.

Nothing here imports torch at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smm.defaults import DEFAULT_PRECISION, PRECISIONS
from smm.models.config import PUBLISHED_ALPHA

#: --precision's choices, the default first.
PRECISION_CHOICES = (DEFAULT_PRECISION, *(p for p in PRECISIONS if p != DEFAULT_PRECISION))


def out(text: str) -> None:
    """A line of the command's result, on stdout."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    """A line about the work (progress, notes, what failed), on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def size_or_full(text: str) -> int | None:
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


def add_list_options(parser: argparse.ArgumentParser, action: str) -> None:
    """--au-list, --expr-list, --va-list, --mtl-list: the official test lists."""
    for track, what in (("au", "AU"), ("expr", "EXPR"), ("va", "VA")):
        parser.add_argument(
            f"--{track}-list", type=Path, help=f"official {what} test list (one video name per line): {action}"
        )
    parser.add_argument(
        "--mtl-list", type=Path, help=f"official multi-task test list (header, then video/00001.jpg lines): {action}"
    )


def add_count_options(parser: argparse.ArgumentParser) -> None:
    """--videos, --annotations, --frame-offset: where the videos' frame counts come from."""
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


def add_precision_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default=DEFAULT_PRECISION, help=help)


def test_lists(args: argparse.Namespace) -> dict[str, Any]:
    """The lists given, as :func:`smm.submission.write_submission` takes them (``au_videos=``, ``mtl_list=``)."""
    from smm.data import read_multitask_test_list, read_video_list

    lists: dict[str, Any] = {
        f"{track}_videos": read_video_list(path)
        for track in ("au", "expr", "va")
        if (path := getattr(args, f"{track}_list")) is not None
    }
    if args.mtl_list is not None:
        lists["mtl_list"] = read_multitask_test_list(args.mtl_list)
    return lists


def frame_counts(args: argparse.Namespace, videos: Sequence[str]) -> dict[str, int]:
    """The frame counts --videos or --annotations give for ``videos`` (none without either)."""
    from smm.data.videos import frame_counts as counts

    if args.videos is not None and args.annotations is not None:
        raise ValueError("give at most one of --videos and --annotations")
    for option, folder in (("--videos", args.videos), ("--annotations", args.annotations)):
        if folder is not None and not folder.is_dir():
            raise FileNotFoundError(f"{option} folder {folder} does not exist")
    return counts(videos, video_folder=args.videos, annotation_folder=args.annotations, offset=args.frame_offset)


def alpha_given(args: argparse.Namespace) -> bool:
    """Whether any smoothing option was given."""
    return args.published_alpha or any(
        getattr(args, name) is not None for name in ("alpha", "alpha_au", "alpha_expr", "alpha_va")
    )


def alpha(args: argparse.Namespace) -> dict[str, float | None]:
    """The smoothing strength of each output: --published-alpha or --alpha, then --alpha-au/-expr/-va."""
    base = dict(PUBLISHED_ALPHA) if args.published_alpha else dict.fromkeys(PUBLISHED_ALPHA, args.alpha)
    for output in base:
        if (value := getattr(args, f"alpha_{output.lower()}")) is not None:
            base[output] = value
    return base


def device(name: str) -> str:
    """The device ``--device`` names, checked: a missing GPU is one line, not a traceback."""
    from smm.inference.runtime import resolve_device

    try:
        return str(resolve_device(name))
    except ValueError as error:
        raise ValueError(f"--device {name}: {str(error).split(': ', 1)[-1]}") from None


def load_model(checkpoint: Path, device: str, *, quiet: bool = False) -> Any:
    """The --checkpoint's model on ``device``, warning when it was trained on synthetic data."""
    from smm.models.builder import load_checkpoint

    model = load_checkpoint(checkpoint).to(device)
    if model.card.get("synthetic_data") and not quiet:
        err(
            f"warning: {checkpoint} was trained on synthetic data (the demo): its predictions on real faces "
            "mean nothing. For the published model: smm-emotionnet convert --help"
        )
    return model


def listed(names: Sequence[str], most: int = 3) -> str:
    """``a, b, c, ...``: the first ``most`` names, and an ellipsis for the rest."""
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


__all__ = [
    "PRECISION_CHOICES",
    "add_count_options",
    "add_list_options",
    "add_precision_option",
    "alpha",
    "alpha_given",
    "device",
    "err",
    "frame_counts",
    "listed",
    "load_model",
    "out",
    "size_or_full",
    "test_lists",
]
