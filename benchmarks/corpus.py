"""Benchmark: corpus-scale prediction with 1 and 2 processes (torchrun), and whether both write the same files.

    python -m benchmarks.corpus [--videos 6] [--frames 30] [--model smm_resnet18]

Writes short 480p videos of a moving face, runs ``smm-emotionnet predict --input`` once in one
process and once under ``torchrun --nproc_per_node=2``, and prints the wall times, their ratio
and whether the two output folders are byte-identical. On 2 CPU cores two processes share the
same cores, so the speed-up measures overlap, not parallel hardware.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from smm.inference.machine import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--model", default="smm_resnet18")
    args = parser.parse_args()
    from skimage import data

    import smm
    from tests.media import write_video

    print(f"machine: {describe_machine()}")
    head = Image.fromarray(data.astronaut()[20:260, 120:340]).resize((165, 180))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        smm.create_model(args.model).save_pretrained(root / "ckpt")
        videos = []
        for k in range(args.videos):
            frames = []
            for t in range(args.frames + 5 * k):
                canvas = Image.new("RGB", (640, 480), (90, 90, 90))
                canvas.paste(head, (100 + 4 * t, 120))
                frames.append(np.asarray(canvas))
            videos.append(str(write_video(root / f"clip{k}.mp4", frames)))
        tail = ["-m", "smm.cli", "predict", "--checkpoint", str(root / "ckpt"), "--quiet", "--input", *videos]
        env = {**os.environ, "SMM_EMOTIONNET_ENGINE": "eager"}
        times = {}
        for name, launcher in (
            ("1 process", [sys.executable]),
            ("2 processes", [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node=2"]),
        ):
            start = time.perf_counter()
            subprocess.run([*launcher, *tail, "--out", str(root / name)], env=env, check=True, capture_output=True)
            times[name] = time.perf_counter() - start
        same = all(
            (root / "1 process" / p.relative_to(root / "2 processes")).read_bytes() == p.read_bytes()
            for p in (root / "2 processes").rglob("*")
            if p.is_file() and ".smm-run" not in p.parts
        )
    total = sum(args.frames + 5 * k for k in range(args.videos))
    print(f"{args.videos} videos, {total} frames of 640x480, {args.model}")
    for name, seconds in times.items():
        print(f"  {name:12s} {seconds:6.1f} s  {total / seconds:6.1f} frames/s")
    print(f"  2 processes / 1: {times['1 process'] / times['2 processes']:.2f}x; same files byte for byte: {same}")


if __name__ == "__main__":
    main()
