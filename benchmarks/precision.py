"""Accuracy cost of bf16 (and channels_last) against fp32 on a trained checkpoint.

    python -m benchmarks.precision --checkpoint runs/demo --images runs/demo/demo-data/cropped_aligned
    python -m benchmarks.precision --checkpoint runs/demo --lfw   # 200 real faces from scikit-image

Runs every image of the folders (recursively) through the model in fp32 NCHW and in bf16
autocast with channels_last input, and prints the largest and mean absolute differences of AU
probabilities, expression probabilities and valence/arousal, how often the decisions (AU at
0.5, argmax expression) agree, and the time of each. Prints the machine first.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

import smm
from smm.data import eval_transform
from smm.inference.machine import describe_machine


def outputs(model: smm.SMMEmotionNet, images: torch.Tensor, bf16: bool, batch: int) -> tuple[dict, float]:
    parts: dict[str, list[torch.Tensor]] = {"au": [], "expr": [], "va": []}
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for chunk in images.split(batch):
            x = chunk.contiguous(memory_format=torch.channels_last) if bf16 else chunk
            out = model(x)
            parts["au"].append(torch.sigmoid(out.au.float()))
            parts["expr"].append(torch.softmax(out.expr.float(), -1))
            parts["va"].append(out.va.float())
    return {k: torch.cat(v) for k, v in parts.items()}, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, nargs="+", help="folders of face crops")
    source.add_argument(
        "--lfw", action="store_true", help="scikit-image's 200 Labeled Faces in the Wild crops (25x25 grey, real faces)"
    )
    parser.add_argument("--limit", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    model = smm.load_checkpoint(args.checkpoint).eval()
    transform = eval_transform(model.data_config)
    if args.lfw:
        from skimage import data

        faces = (data.lfw_subset()[: args.limit] * 255).round().astype("uint8")
        pictures = [Image.fromarray(face).convert("RGB") for face in faces]
    else:
        paths = sorted(p for folder in args.images for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
        pictures = [Image.open(p) for p in paths[: args.limit]]
    images = torch.stack([transform(picture) for picture in pictures])
    fp32, t32 = outputs(model, images, False, args.batch)
    bf16, t16 = outputs(model, images, True, args.batch)
    print(f"{args.checkpoint}: {len(pictures)} images, input {tuple(model.data_config['input_size'])}")
    print("| output | max abs diff | mean abs diff | decisions agree |")
    print("|---|---|---|---|")
    for name in ("au", "expr", "va"):
        diff = (fp32[name] - bf16[name]).abs()
        if name == "au":
            agree = ((fp32[name] > 0.5) == (bf16[name] > 0.5)).float().mean()
        elif name == "expr":
            agree = (fp32[name].argmax(-1) == bf16[name].argmax(-1)).float().mean()
        else:
            agree = None
        agreed = f"{agree:.2%}" if agree is not None else "n/a"
        print(f"| {name} | {diff.max():.4f} | {diff.mean():.5f} | {agreed} |")
    print(f"time: fp32 NCHW {t32:.2f} s, bf16 channels_last {t16:.2f} s ({t32 / t16:.2f}x)")


if __name__ == "__main__":
    main()
