"""Benchmark: one training step of the full model in each precision and layout the trainer can pick.

Run ``python -m benchmarks.train_step`` from the repository root. Times a step (forward with
the three heads, backward, SGD) of ``SMMEmotionNet.abaw3()`` at 299x299, in turns, for fp32
and bf16 autocast with NCHW and channels_last model and input, and prints each against fp32
NCHW (the published arithmetic) and what ``smm-emotionnet train --precision auto`` picks on
this machine.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

import smm
from benchmarks._timing import interleaved_median
from smm.inference.machine import describe_machine
from smm.inference.runtime import resolve_precision, use_channels_last


def _step(device: torch.device, batch: int, channels_last: bool, bf16: bool):
    torch.manual_seed(0)
    model = smm.SMMEmotionNet.abaw3().to(device).train()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    images = torch.randn(batch, 3, 299, 299, device=device).contiguous(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        with autocast:
            out = model(images)
        loss = out.au.float().sum() + out.expr.float().sum() + out.va.float().sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"training step, SMMEmotionNet.abaw3, batch {args.batch}, 299x299 | {describe_machine()}")
    variants = {
        "fp32 NCHW": (False, False),
        "fp32 channels_last": (True, False),
        "bf16 NCHW": (False, True),
        "bf16 channels_last": (True, True),
    }
    steps = {name: _step(device, args.batch, *flags) for name, flags in variants.items()}
    times = interleaved_median(steps, repeats=args.repeats, warmup=1, device=device)
    resolved = resolve_precision("auto", device)
    picked = f"{resolved} {'channels_last' if use_channels_last(resolved, device) else 'NCHW'}"
    print("| variant | step | vs fp32 NCHW |")
    print("|---|---|---|")
    for name, seconds in times.items():
        mark = " (what --precision auto picks here)" if name == picked else ""
        print(f"| {name}{mark} | {seconds * 1000:.0f} ms | {times['fp32 NCHW'] / seconds:.2f}x |")


if __name__ == "__main__":
    main()
