"""Benchmark: does the input pipeline keep up with the model? Images/s of decode + transform per worker.

    python -m benchmarks.input [--model smm_abaw3] [--images 256] [--batch 8]

Writes Aff-Wild2-like 112 x 112 JPEG face crops, then measures, in one process (one
DataLoader worker's share), JPEG decode + the evaluation transform and JPEG decode + the
training augmentation at the model's input size, and the model's eval (bf16 where the CPU has
bf16 units, as prediction does by default) and fp32 training throughput on the same machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import smm
from smm.data import eval_transform
from smm.inference.machine import describe_machine
from smm.inference.runtime import autocast_dtype, resolve_precision
from smm.training import train_transform


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} images/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smm_abaw3")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    model = smm.create_model(args.model)
    size = model.data_config["input_size"][-1]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.images):
            path = Path(folder) / f"{i + 1:05d}.jpg"
            Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)).save(path, quality=90)
            paths.append(path)
        rows = {}
        for name, transform in (
            ("decode + eval transform", eval_transform(model.data_config)),
            ("decode + train augmentation", train_transform(size)),
        ):
            start = time.perf_counter()
            for path in paths:
                with Image.open(path) as image:
                    transform(image)
            rows[name] = time.perf_counter() - start

    precision = resolve_precision("auto", "cpu")
    dtype = autocast_dtype(precision)
    images = torch.randn(args.batch, 3, size, size)
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        x = images.contiguous(memory_format=torch.channels_last) if dtype is not None else images
        model(x)
        start = time.perf_counter()
        for _ in range(3):
            model(x)
        evaluation = (time.perf_counter() - start) / 3
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(2):
        out = model(images)
        (out.au.sum() + out.expr.sum() + out.va.sum()).backward()
        optimizer.step()
        optimizer.zero_grad()
    training = (time.perf_counter() - start) / 2

    print(f"{args.model} at {size}x{size}, 112x112 JPEG crops, one process")
    for name, seconds in rows.items():
        print(f"  {name:30s} {per_second(args.images, seconds)}")
    print(f"  {'model eval (' + precision + ')':30s} {per_second(args.batch, evaluation)}")
    print(f"  {'model training step (fp32)':30s} {per_second(args.batch, training)}")


if __name__ == "__main__":
    main()
