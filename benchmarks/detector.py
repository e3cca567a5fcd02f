"""Benchmark: MTCNN full detection, our cascade against facenet-pytorch's (the baseline, when it is installed).

    python -m benchmarks.detector [--frames 8] [--size 1280x720] [--detect-size 480] [--repeats 5]
                                  [--min-face-size 20] [--pyramid area]

Frames: scikit-image's astronaut and LFW faces pasted at several sizes on a 720p frame, scaled to
the detection size as the video path does (``--detect-size``), detected as one batch; then the
astronaut photo alone. Runs alternate (ours, facenet, ours, ...) and the best of ``--repeats``
is reported, with the faces each found (they must be the same). ``--min-face-size`` and ``--pyramid``
set our cascade only (the baseline keeps the published 20 px and area pyramid): what the cheaper
settings gain against facenet-pytorch (``benchmarks.detector_sizes`` says what they cost).
Prints the machine first.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from smm.face.mtcnn import Cascade
from smm.inference.machine import describe_machine


def frames(count: int, size: tuple[int, int], detect_size: int) -> np.ndarray:
    """``count`` frames of ``size`` with one to three faces each, scaled so that the shorter side is ``detect_size``."""
    from skimage import data

    lfw = [Image.fromarray((f * 255).astype(np.uint8)).convert("RGB") for f in data.lfw_subset()[:30]]
    astronaut = Image.fromarray(data.astronaut()[20:260, 120:340])
    out = []
    for k in range(count):
        canvas = Image.new("RGB", size, (90 + 3 * k, 100, 110))
        canvas.paste(astronaut.resize((200, 220)), (60 + 20 * k, 120))
        for j in range(k % 3):
            canvas.paste(lfw[k + 7 * j].resize((120, 120)), (600 + 250 * j, 200 + 30 * j))
        scale = detect_size / min(size)
        out.append(np.asarray(canvas.resize((round(size[0] * scale), round(size[1] * scale)), Image.BILINEAR)))
    return np.stack(out)


def best_of(repeats: int, run: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--detect-size", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-face-size", type=int, default=20)
    parser.add_argument("--pyramid", choices=("area", "antialiased"), default="area")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"machine: {describe_machine()}")
    batch = frames(args.frames, size, args.detect_size)
    from skimage import data

    photo = data.astronaut()[None]
    ours = Cascade(min_face_size=args.min_face_size, pyramid=args.pyramid)
    try:
        from facenet_pytorch import MTCNN

        baseline = MTCNN(keep_all=True, device="cpu", min_face_size=20, thresholds=[0.6, 0.7, 0.7], post_process=False)
    except ImportError:
        baseline = None
    print(f"{args.frames} frames of {batch.shape[2]}x{batch.shape[1]} (a {args.size} frame at {args.detect_size} px), "
          f"one batch; {torch.get_num_threads()} threads; best of {args.repeats}; ours with "
          f"min_face_size={args.min_face_size}, pyramid={args.pyramid}")  # fmt: skip
    for name, images in (("frames", batch), ("astronaut 512x512", photo)):
        mine = best_of(args.repeats, lambda images=images: ours.detect(images))
        found = ours.detect(images)
        line = f"{name:18s} ours {1000 * mine / len(images):7.1f} ms/image, {len(found.boxes)} faces"
        if baseline is not None:
            theirs = best_of(args.repeats, lambda images=images: baseline.detect(images, landmarks=False))
            boxes, _ = baseline.detect(images, landmarks=False)
            count = sum(0 if b is None else len(b) for b in boxes)
            line += f"; facenet-pytorch {1000 * theirs / len(images):7.1f} ms/image, {count} faces"
            line += f"; {theirs / mine:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
