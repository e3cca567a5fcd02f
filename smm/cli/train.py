"""``smm-emotionnet train``: a recipe, on Aff-Wild2 or the demo's synthetic data (:func:`smm.training.train`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from smm.cli import common
from smm.models.registry import list_models
from smm.training.recipes import RECIPES


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    common.add_precision_option(
        train,
        "autocast dtype (default: auto = bf16 and channels_last on CPUs and GPUs with bf16 units, else fp32; "
        "fp32 = the published arithmetic)",
    )
    train.add_argument("--workers", type=int, default=0, help="data loading processes (default: 0)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Train, then say what the validation measures did and where the model is."""
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
    device = common.device(args.device) if args.device != "auto" else "auto"
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
            log=common.err,
        )
    except TrainingError as error:
        raise ValueError(error.cli) from None
    if result.finished:
        common.out(f"to train {out} longer, resume it with a larger --steps")
        return
    if result.history:
        first, last = result.history[0][1], result.history[-1][1]
        common.out(f"validation: {describe(first)} -> {describe(last)} (best at step {result.best_step})")
    common.out(f"model in {out} (best: {out / 'best'}); try: smm-emotionnet info --checkpoint {out}")
