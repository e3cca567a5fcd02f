"""``smm-emotionnet info``: the version, and a model's configuration, preprocessing and parameters.

The description is :func:`smm.models.summary.model_summary`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smm._version import __version__
from smm.cli import common
from smm.models.registry import list_models


def add_parser(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser(
        "info",
        help="version, a model's configuration, preprocessing and parameter counts",
        description="Describe a checkpoint's model or a registered model (default: smm_abaw3).",
    )
    info.add_argument("--checkpoint", type=Path, help="a checkpoint folder or file (what the trainer printed)")
    info.add_argument("--model", choices=list_models(), help="a registered model name (default: smm_abaw3)")
    info.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """The lines of :func:`smm.models.summary.model_summary`, after the versions and the model's source."""
    import torch

    from smm.models.builder import create_model, load_checkpoint
    from smm.models.registry import model_entry
    from smm.models.summary import model_summary

    if args.checkpoint is not None and args.model is not None:
        raise ValueError("give at most one of --checkpoint and --model")
    if args.checkpoint is not None:
        model, source = load_checkpoint(args.checkpoint), str(args.checkpoint)
    else:
        name = args.model or "smm_abaw3"
        model, source = create_model(name), f"{name} (registry; {model_entry(name).description})"
    common.out(f"smm-emotionnet {__version__} (torch {torch.__version__})")
    common.out(f"model: {source}")
    for line in model_summary(model):
        common.out(f"  {line}")
