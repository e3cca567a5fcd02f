"""The ``smm-emotionnet`` command line: predict, convert, info."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from smm.presets import ABAW3

TRACKS = ("au", "expr", "va", "mtl")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smm-emotionnet",
        description="SMM-EmotionNet: action units, expressions and valence/arousal from face videos.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser(
        "predict",
        help="write ABAW prediction files for folders of video frames",
        description="Predict every frame of each video folder and write ABAW3 prediction files.",
    )
    predict.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        help="model.safetensors (config.json beside it) or a published-code .ckpt",
    )
    predict.add_argument(
        "--frames",
        required=True,
        nargs="+",
        type=Path,
        help="one folder of frame images (00001.jpg, ...) per video; the folder name is the video name",
    )
    predict.add_argument("--out", required=True, type=Path, help="output folder")
    predict.add_argument(
        "--tracks",
        nargs="+",
        choices=TRACKS,
        default=list(TRACKS),
        help="files to write: au/expr/va -> OUT/<TRACK>/<video>.txt, mtl -> OUT/mtl.csv (default: all)",
    )
    predict.add_argument(
        "--alpha", type=float, default=None, help="temporal smoothing strength (published: 7-10; default: none)"
    )
    predict.add_argument("--batch-size", type=int, default=32, help="frames per forward pass (default: 32)")
    predict.add_argument("--threshold", type=float, default=0.5, help="AU decision threshold (default: 0.5)")
    predict.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default: cuda if available, else cpu)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress output")

    convert = commands.add_parser(
        "convert",
        help="convert a published-code checkpoint to model.safetensors + config.json",
        description="Read a checkpoint of the published implementation (weights_only) and save it for SMMEmotionNet.",
    )
    convert.add_argument("--checkpoint", required=True, type=Path, help="published-code .ckpt or .pt")
    convert.add_argument("--out", required=True, type=Path, help="output folder")

    info = commands.add_parser("info", help="version, ABAW3 preset and parameter counts")
    info.add_argument("--checkpoint", type=Path, help="describe this checkpoint's model instead of the preset")
    return parser


def _predict(args: argparse.Namespace) -> None:
    from smm.checkpoint import load_checkpoint
    from smm.predictions import (
        list_frames,
        predict_frames,
        write_au_file,
        write_expr_file,
        write_multitask_file,
        write_va_file,
    )

    model = load_checkpoint(args.checkpoint).to(args.device)
    images, va_rows, expr_rows, au_rows = [], [], [], []
    for folder in args.frames:
        names = [p.name for p in list_frames(folder)]
        result = predict_frames(
            model,
            folder,
            batch_size=args.batch_size,
            alpha=args.alpha,
            threshold=args.threshold,
            progress=not args.quiet,
        )
        video = folder.name
        if "au" in args.tracks:
            write_au_file(args.out / "AU" / f"{video}.txt", result.au, model.au_names)
        if "expr" in args.tracks:
            write_expr_file(args.out / "EXPR" / f"{video}.txt", result.expr, model.expression_names)
        if "va" in args.tracks:
            write_va_file(args.out / "VA" / f"{video}.txt", result.va, model.va_names)
        images += [f"{video}/{name}" for name in names]
        va_rows.append(result.va)
        expr_rows.append(result.expr)
        au_rows.append(result.au)
        if not args.quiet:
            _err(f"{video}: {len(names)} frames")
    if "mtl" in args.tracks:
        write_multitask_file(
            args.out / "mtl.csv", images, torch.cat(va_rows), torch.cat(expr_rows), torch.cat(au_rows), model.au_names
        )
    _out(f"wrote predictions for {len(args.frames)} video(s) to {args.out}")


def _convert(args: argparse.Namespace) -> None:
    from smm.checkpoint import save_checkpoint
    from smm.convert import load_reference_checkpoint

    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint} does not exist")
    model = load_reference_checkpoint(args.checkpoint)
    path = save_checkpoint(model, args.out, converted_from=str(args.checkpoint))
    _out(f"wrote {path} and {path.with_name('config.json')}")


def _count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _info(args: argparse.Namespace) -> None:
    import smm
    from smm.checkpoint import load_checkpoint

    model = load_checkpoint(args.checkpoint) if args.checkpoint else smm.SMMEmotionNet.abaw3()
    _out(f"smm-emotionnet {smm.__version__} (torch {torch.__version__})")
    source = str(args.checkpoint) if args.checkpoint else f"ABAW3 preset: {ABAW3.backbone} to Mixed_6e"
    _out(f"model: {source}")
    _out(f"  regions U={model.num_regions}: {', '.join(model.region_names)}")
    _out(f"  labelled AUs H={len(model.au_names)}, D={model.roi_embedding.dim}, input {model.default_input_size}")
    _out(f"  expressions: {', '.join(model.expression_names)}")
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
    handlers = {"predict": _predict, "convert": _convert, "info": _info}
    try:
        handlers[args.command](args)
    except (FileNotFoundError, ValueError, OSError) as error:
        message = " ".join(str(error).split())
        _err(f"smm-emotionnet {args.command}: error: {message}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
