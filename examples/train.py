"""Train SMM-EmotionNet with plain PyTorch: the paper's losses, masks, ABAW metrics.

A short, readable loop over the public pieces, with data-parallel training under torchrun.
It mixes the three tasks' frames in one shuffled dataset and anneals once; the published
recipe (one batch per task and step, its schedule, exact resume) is ``smm-emotionnet train
--recipe abaw3`` (``smm.training``).

With no arguments, runs a complete demo on CPU in a few minutes: writes a small
synthetic dataset in the Aff-Wild2 layout to a temporary folder, trains a small timm
backbone with the SMM heads, and prints the validation metrics before and after.

    python examples/train.py                     # the demo
    python examples/train.py --data /path/to/affwild2 --backbone inception_v3 \
        --feature-index 3 --image-size 299 --epochs 10 --batch-size 24
    torchrun --nproc_per_node=2 examples/train.py  # the same, data-parallel

``--data`` expects ``cropped_aligned/<video>/00001.jpg`` and
``annotations/{AU_Detection,EXPR_Classification,VA_Estimation}_Challenge/{Train,Validation}_Set/<video>.txt``.
Checkpoints are written to ``--out`` as ``model.safetensors`` plus ``config.json``
(needs the ``safetensors`` package); ``smm.load_checkpoint`` reads them back.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

import smm
from smm.data import AffWild2Frames, au_pos_weight, eval_transform, expr_class_weight
from smm.data.synthetic import make_synthetic_affwild2
from smm.formats import TASK_FOLDERS
from smm.metrics import ABAWMetrics, ABAWScores
from smm.models.checkpoint import save_checkpoint
from smm.runs.processes import Processes
from smm.training import train_transform


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, help="Aff-Wild2 root; default: generate a synthetic demo dataset")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="checkpoint folder (default: runs/demo)")
    p.add_argument("--backbone", default="resnet18", help="timm model name (default: resnet18)")
    p.add_argument("--feature-index", type=int, default=3, help="backbone feature stage (default: 3)")
    p.add_argument("--image-size", type=int, default=96, help="square input side (default: 96; ABAW3: 299)")
    p.add_argument("--pretrained", action="store_true", help="timm pretrained backbone weights (downloads)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="default: 0.01 for SGD, 1e-3 for AdamW")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD momentum 0.9 as the paper")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CPU) or fp16 with a grad scaler (CUDA)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps per epoch")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--demo-videos", type=int, default=8, help="synthetic videos (demo only)")
    p.add_argument("--demo-frames", type=int, default=48, help="frames per synthetic video (demo only)")
    return p.parse_args(argv)


class Distributed(Processes):
    """The library's process group helper (a no-op outside ``torchrun``), printing on rank 0 only."""

    def print(self, *args: object, **kwargs) -> None:
        if self.main:
            print(*args, **kwargs, flush=True)


def datasets(root: Path, data_config: dict, augment) -> tuple[AffWild2Frames, AffWild2Frames]:
    """Training frames with ``augment``, validation frames with the model's evaluation transform."""

    def split(name: str, transform) -> AffWild2Frames:
        folders = {task: root / "annotations" / folder / name for task, folder in TASK_FOLDERS.items()}
        return AffWild2Frames(
            root / "cropped_aligned",
            au_dir=folders["AU"],
            expr_dir=folders["EXPR"],
            va_dir=folders["VA"],
            transform=transform,
        )

    return split("Train_Set", augment), split("Validation_Set", eval_transform(data_config))


def loss_weights(train_set: AffWild2Frames, ddp: Distributed) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """AU pos_weight and expression class weights from the training labels (Eq. 4, 5)."""
    weights: list[torch.Tensor | None] = []
    for compute, labels in ((au_pos_weight, train_set.au), (expr_class_weight, train_set.expr)):
        try:
            weights.append(compute(labels))
        except ValueError as error:  # a class without samples: fall back to unit weights
            ddp.print(f"warning: {error}; using unit weights")
            weights.append(None)
    return weights[0], weights[1]


def build_model(args: argparse.Namespace) -> smm.SMMEmotionNet:
    """The ABAW3 heads (17 regions, D=16, ...) on the chosen timm backbone stage, at the chosen input size."""
    return smm.SMMEmotionNet(
        args.backbone,
        feature_index=args.feature_index,
        image_size=args.image_size,
        pretrained_backbone=args.pretrained,
    )


def autocast(device: torch.device, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, ddp: Distributed, amp: bool) -> ABAWScores:
    model.eval()
    metric = ABAWMetrics()
    for batch in loader:
        with autocast(ddp.device, amp):
            out = model(batch["image"].to(ddp.device))
        metric.update(out.au.float(), batch["au"], out.expr.float(), batch["expr"], out.va.float(), batch["va"])
    return ddp.merge(metric).compute()


def describe(scores: ABAWScores) -> str:
    return (
        f"P_AU {scores.p_au:.3f} | P_EXPR {scores.p_expr:.3f} | CCC-V {scores.ccc_valence:.3f} "
        f"CCC-A {scores.ccc_arousal:.3f} (P_VA {scores.p_va:.3f}) | P_MTL {scores.p_mtl:.3f}"
    )


class Progress:
    """One status line with loss and ETA, rewritten in place."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.start, self.done = total, enabled, time.perf_counter(), 0

    def step(self, epoch: int, loss: float) -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        line = f"epoch {epoch} step {self.done}/{self.total} loss {loss:.4f} eta {eta:5.0f}s"
        last = self.done == self.total
        if sys.stdout.isatty():
            print("\r" + line, end="\n" if last else "", flush=True)
        elif last or self.done % 10 == 0:
            print(line, flush=True)


def main(argv: list[str] | None = None) -> dict[str, ABAWScores]:
    args = parse_args(argv)
    ddp = Distributed()
    torch.manual_seed(args.seed)
    with contextlib.ExitStack() as stack:
        root = args.data
        if root is None:
            if ddp.main:
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="smm-demo-"))
                make_synthetic_affwild2(
                    folder, videos=args.demo_videos, frames_per_video=args.demo_frames, image_size=args.image_size
                )
                root = Path(folder)
            shared = [str(root) if root else None]
            if ddp.enabled:
                dist.broadcast_object_list(shared)
            root = Path(shared[0])
            ddp.print(f"demo: synthetic Aff-Wild2 layout in {root}")
        model = build_model(args).to(ddp.device)
        # The published augmentation on real data; the synthetic labels depend on colour and on left/right
        # position, so the demo keeps only the small random crop.
        augment = (
            train_transform(args.image_size)
            if args.data
            else train_transform(args.image_size, color_jitter=None, hflip=0.0)
        )
        train_set, val_set = datasets(root, model.data_config, augment)
        ddp.print(f"{len(train_set)} training frames, {len(val_set)} validation frames, {ddp.world} process(es)")

        criterion = smm.MultiTaskLoss(*loss_weights(train_set, ddp)).to(ddp.device)
        train_model = model
        if ddp.enabled:
            train_model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)

        train_sampler = DistributedSampler(train_set, seed=args.seed) if ddp.enabled else None
        val_sampler = DistributedSampler(val_set, shuffle=False) if ddp.enabled else None
        train_loader = DataLoader(
            train_set, args.batch_size, shuffle=train_sampler is None, sampler=train_sampler,
            num_workers=args.workers, drop_last=True,
        )  # fmt: skip
        val_loader = DataLoader(val_set, args.batch_size, sampler=val_sampler, num_workers=args.workers)

        steps = len(train_loader) if args.max_steps is None else min(args.max_steps, len(train_loader))
        if args.optimizer == "sgd":
            optimizer = torch.optim.SGD(model.parameters(), lr=args.lr or 0.01, momentum=0.9)
        else:
            optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr or 1e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps * args.epochs))
        scaler = torch.amp.GradScaler(enabled=args.amp and ddp.device.type == "cuda")

        results = {"before": evaluate(model, val_loader, ddp, args.amp)}
        ddp.print("validation before training: " + describe(results["before"]))
        progress = Progress(steps * args.epochs, ddp.main)
        for epoch in range(1, args.epochs + 1):
            if train_sampler is not None:
                train_sampler.set_epoch(epoch)
            train_model.train()
            for step, batch in enumerate(train_loader):
                if step >= steps:
                    break
                with autocast(ddp.device, args.amp):
                    out = train_model(batch["image"].to(ddp.device))
                targets = [batch[k].to(ddp.device) for k in ("au", "expr", "va")]
                loss = criterion(_float_output(out), *targets).total
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}, step {step}")
                progress.step(epoch, loss.item())
            scores = evaluate(model, val_loader, ddp, args.amp)
            ddp.print(f"epoch {epoch}: " + describe(scores))
            if ddp.main:
                save_checkpoint(
                    model,
                    args.out,
                    training_data=str(args.data) if args.data else "synthetic demo data (smm.data.synthetic)",
                    metrics={"epoch": epoch, **scores._asdict()},
                    optimizer=args.optimizer,
                )
        results["after"] = scores
        ddp.print("validation after training:  " + describe(results["after"]))
        ddp.print(f"P_MTL {results['before'].p_mtl:.3f} -> {results['after'].p_mtl:.3f}; checkpoint in {args.out}")
        ddp.barrier()
    ddp.close()
    return results


def _float_output(out: smm.SMMOutput) -> smm.SMMOutput:
    """Losses in float32 under autocast."""
    return out._replace(au=out.au.float(), expr=out.expr.float(), va=out.va.float())


if __name__ == "__main__":
    main()
