"""``smm-emotionnet convert``: a published-code checkpoint to a checkpoint folder.

The conversion is :func:`smm.models.builder.convert_checkpoint`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smm.cli import common


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    convert.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Convert, check, and say where the files are."""
    from smm.models.builder import convert_checkpoint
    from smm.models.registry import cache_dir

    if (args.out is None) == (not args.install):
        raise ValueError("give --out FOLDER, or --install to write into the model cache")
    card = {"training_data": "Aff-Wild2 (ABAW3), the published checkpoint"} if args.install else {}
    path = convert_checkpoint(args.checkpoint, cache_dir() / "smm_abaw3" if args.install else args.out, **card)
    common.out(f"wrote {path} and {path.with_name('config.json')} (verified: the same outputs as {args.checkpoint})")
    if args.install:
        common.out("installed: smm.create_model('smm_abaw3', pretrained=True) now loads it")
