"""Benchmark: frames per second from an mp4 to the per-frame CSV, and the share of each stage.

Stages: decode, detection, landmark refinement, alignment, model.

    python -m benchmarks.video [--model smm_abaw3] [--frames 60] [--every 5] [--precision fp32] [--device cpu]

Writes a 720p test video (a real face from scikit-image, moving), then times one streaming
pass of ``smm.predict_video`` plus the CSV, and each stage alone on the same frames.
Prints the machine first.
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
from smm.face import MTCNNDetector, aligned_crops, predict_video
from smm.formats import write_frames_csv
from smm.inference import Preprocess
from smm.runtime import Precision, describe_machine


def write_video(path: Path, frames: int) -> None:
    import av
    from skimage import data

    face = Image.fromarray(data.astronaut()).resize((480, 480))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(frames):
            canvas = Image.new("RGB", (1280, 720), (80, 80, 80))
            canvas.paste(face, (300 + abs(3 * i % 400 - 200), 100))  # back and forth, 3 px a frame, no jump
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smm_abaw3")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--every", type=int, default=5, help="detect every N frames")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    import av

    print(f"machine: {describe_machine()}")
    device = torch.device(args.device)
    model = smm.create_model(args.model).eval().to(device)
    detector = MTCNNDetector(str(device))
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "clip.mp4"
        write_video(video, args.frames)

        start = time.perf_counter()
        results = predict_video(
            model, video, detector=detector, detect_every=args.every, batch_size=args.batch_size,
            precision=args.precision,
        )  # fmt: skip
        write_frames_csv(Path(folder) / "clip.csv", results, model.au_names, model.expression_names)
        total = time.perf_counter() - start

        start = time.perf_counter()
        with av.open(str(video)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        decode = time.perf_counter() - start

        start = time.perf_counter()
        found = detector.detect(frames[:: args.every])
        detect = time.perf_counter() - start

        # Landmark refinement (O-Net on the tracked box) runs on the frames between detections.
        box = found[0].boxes[:1]
        start = time.perf_counter()
        for k, frame in enumerate(frames):
            if k % args.every:
                detector.refine(frame, box)
        refine = time.perf_counter() - start

        landmarks = np.concatenate([f.landmarks[:1] for f in found])
        batch = np.stack(frames[: args.batch_size])
        marks = np.repeat(landmarks[:1], len(batch), 0)
        transform = Preprocess(model.data_config)
        start = time.perf_counter()
        for _ in range(0, len(frames), args.batch_size):
            crops = aligned_crops(batch, marks, np.arange(len(batch)))
            inputs = torch.stack([transform(crop) for crop in crops])
        align = time.perf_counter() - start

        setup = Precision.resolve(args.precision, device)
        start = time.perf_counter()
        with torch.no_grad(), setup.autocast():
            for _ in range(0, len(frames), args.batch_size):
                model(setup.inputs(inputs))
        forward = time.perf_counter() - start

    n = len(results.frame)
    print(f"{args.model}, {n} frames of 1280x720, detection every {args.every}, batch {args.batch_size}, "
          f"{args.precision}, {device}")  # fmt: skip
    print(f"end to end (decode, detect, refine, track, align, model, CSV): {n / total:.2f} frames/s ({total:.1f} s)")
    stages = (
        ("decode", decode),
        ("detection", detect),
        ("refinement", refine),
        ("align+preprocess", align),
        ("model", forward),
    )
    for name, seconds in stages:
        print(f"  {name:16s} {seconds:7.2f} s  {seconds / total:6.1%} of end to end  {n / seconds:8.1f} frames/s")


if __name__ == "__main__":
    main()
