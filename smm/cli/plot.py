"""``smm-emotionnet plot``: a per-frame CSV of a video as a timeline figure (AUs, expression, VA per face).

The CSV is read back (:meth:`smm.inference.FramePredictions.from_csv`), so a run of yesterday or of another
machine can be plotted; the figure is :func:`smm.viz.plot_timeline`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smm.cli import common


def add_parser(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser(
        "plot",
        help="draw a video's per-frame CSV as a timeline: AUs, expression, valence and arousal of each face",
        description=(
            "Draw the per-frame CSV that predict --input wrote for a video as one figure: for each face an AU "
            "heat-map over time, the expression as a coloured band and valence and arousal as curves, with gaps "
            "where the face was not seen; time in seconds from the CSV's own timestamps. Needs matplotlib "
            "(the viz extra)."
        ),
    )
    plot.add_argument("csv", type=Path, help="a video's CSV written by predict --input (e.g. results/clip.csv)")
    plot.add_argument("--out", type=Path, help="the figure: .png, .pdf or .svg (default: the CSV's name with .png)")
    plot.add_argument("--dpi", type=int, default=120, help="resolution of a .png (default: 120)")
    plot.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Read the CSV, draw the timeline, write the figure atomically, and say where."""
    from smm._atomic import atomic_write
    from smm.inference.results import FramePredictions
    from smm.viz.timeline import plot_timeline

    if args.dpi < 1:
        raise ValueError(f"--dpi must be a positive integer, got {args.dpi}")
    out = args.out if args.out is not None else args.csv.with_suffix(".png")
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValueError(f"--out must end in .png, .pdf or .svg, got {out.name}")
    figure = plot_timeline(FramePredictions.from_csv(args.csv), title=args.csv.stem)
    atomic_write(out, lambda path: figure.savefig(path, dpi=args.dpi, format=out.suffix[1:].lower()))
    common.out(f"wrote {out}")
