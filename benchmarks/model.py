"""Benchmark: the full ABAW3 model vs its backbone alone; eager vs compiled; fp32 vs bf16.

Run ``python -m benchmarks.model`` from the repository root. Prints images/s for a
training step (forward, backward, SGD step) and for eval, for the whole model and for
the InceptionV3 backbone alone, so the heads' share of the cost is visible; then the
same for ``torch.compile`` and bf16 autocast, with the bf16 outputs' error against fp32.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

import smm
from benchmarks._timing import interleaved_median


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _steps(model: torch.nn.Module, images: torch.Tensor, bf16: bool, heads: bool):
    device = images.device
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)

    def loss_of(out) -> torch.Tensor:
        if heads:
            return out.au.float().sum() + out.expr.float().sum() + out.va.float().sum()
        return out[-1].float().mean()

    def train() -> None:
        model.train()
        with _autocast(device, bf16):
            loss = loss_of(model(images))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def infer() -> None:
        model.eval()
        with torch.no_grad(), _autocast(device, bf16):
            model(images)

    return train, infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast rows")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = smm.SMMEmotionNet.abaw3().to(device)
    backbone = model.backbone
    images = torch.randn(args.batch, 3, 299, 299, device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"SMMEmotionNet.abaw3 | {device} ({name}), {torch.get_num_threads()} threads, batch {args.batch}, "
          f"torch {torch.__version__}")  # fmt: skip

    variants = [("eager fp32", False, False)]
    if not args.no_bf16:
        variants.append(("eager bf16", False, True))
    if not args.no_compile:
        variants.append(("compiled fp32", True, False))
    for label, compiled, bf16 in variants:
        full = torch.compile(model) if compiled else model
        alone = torch.compile(backbone) if compiled else backbone
        full_train, full_eval = _steps(full, images, bf16, heads=True)
        bb_train, bb_eval = _steps(alone, images, bf16, heads=False)
        t = interleaved_median(
            {"full train": full_train, "backbone train": bb_train, "full eval": full_eval, "backbone eval": bb_eval},
            repeats=args.repeats,
            warmup=1,
            device=device,
        )
        ips = {k: args.batch / v for k, v in t.items()}
        share_train = 1 - t["backbone train"] / t["full train"]
        share_eval = 1 - t["backbone eval"] / t["full eval"]
        print(
            f"{label:14s} | train img/s full {ips['full train']:7.1f} backbone {ips['backbone train']:7.1f} "
            f"(heads {share_train:5.1%} of the step) | eval img/s full {ips['full eval']:7.1f} "
            f"backbone {ips['backbone eval']:7.1f} (heads {share_eval:5.1%})",
            flush=True,
        )
    if not args.no_bf16:
        model.eval()
        with torch.no_grad():
            reference = model(images)
            with _autocast(device, True):
                low = model(images)
        errors = {k: (getattr(low, k).float() - getattr(reference, k)).abs().max().item() for k in ("au", "expr", "va")}
        print("bf16 vs fp32 max |diff|: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))


if __name__ == "__main__":
    main()
