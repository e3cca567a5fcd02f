"""``smm-emotionnet align``: raw videos to Aff-Wild2-style folders of aligned face crops.

The run is :func:`smm.face.crops.align_videos`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smm.cli import common
from smm.defaults import DEFAULT_FACES, DETECT_EVERY, DETECT_SIZE, FACES


def add_parser(commands: argparse._SubParsersAction) -> None:
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
        "--detect-every",
        type=int,
        default=DETECT_EVERY,
        help=f"full face detection every N frames and on every cut (default: {DETECT_EVERY})",
    )
    align.add_argument(
        "--detect-size",
        type=common.size_or_full,
        default=DETECT_SIZE,
        help=f"full detection on frames scaled to this shorter side (default: {DETECT_SIZE}; 'full' for none)",
    )
    align.add_argument(
        "--faces",
        choices=FACES,
        default=DEFAULT_FACES,
        help="all faces (split left/right where two meet) or the largest",
    )
    align.add_argument(
        "--ext", choices=("jpg", "png"), default="jpg", help="image format (default: jpg; png: lossless)"
    )
    align.add_argument("--quality", type=int, default=95, help="JPEG quality, 1-95 (default: 95)")
    align.add_argument("--device", default="auto", help="torch device of the detector (default: auto)")
    align.add_argument("--quiet", action="store_true", help="no per-video summary")
    align.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Each video's folders, one line each; exit status 1 if any failed."""
    from smm.face import default_detector
    from smm.face.crops import align_videos

    if isinstance(args.quality, int) and not 1 <= args.quality <= 95:
        raise ValueError(f"--quality must be in [1, 95], got {args.quality}")
    if args.detect_every < 1:
        raise ValueError(f"--detect-every must be a positive integer, got {args.detect_every}")
    options = {
        "detect_every": args.detect_every,
        "detect_size": args.detect_size,
        "faces": args.faces,
        "ext": args.ext,
        "quality": args.quality,
    }
    videos = align_videos(args.videos, args.out, default_detector(common.device(args.device)), **options)
    failed = 0
    for result in videos:
        if result.done is None:
            # The library's errors name the video already; say it once.
            named = result.error if str(result.video) in result.error else f"{result.video}: {result.error}"
            common.err(f"skipped {named}")
            failed += 1
        elif not args.quiet:
            done = result.done
            folders = ", ".join(f"{name}/ ({count})" for name, count in done.folders.items()) or "no face"
            common.err(
                f"{result.video.name}: {done.frames} frames, {done.faces} face(s) in {done.tracks} track(s) -> "
                f"{folders}, {done.frames / max(result.seconds, 1e-9):.1f} frames/s"
            )
    common.out(
        f"aligned {len(args.videos) - failed} video(s) into {args.out}" + (f"; {failed} failed" if failed else "")
    )
    return 1 if failed else 0
