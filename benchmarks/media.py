"""Benchmark: a folder of phone photos in bounded memory, and what turning a phone video upright costs per frame.

    python -m benchmarks.media [--photos 32] [--megapixels 12] [--model smm_abaw3] [--frames 30]

Photos: ``--photos`` JPEGs of ``--megapixels`` (4:3, a face in each, EXIF orientation 6 as a
phone writes a portrait photo) through :func:`smm.predict_images` with the default detector;
the peak resident memory of a fresh process is measured after the model and the detector are
loaded and warm (on one photo) and after the folder, so the difference is what the folder adds
on top of one photo, and "above the model" what the photos and the model's batches add to the
loaded model. Each run is its own process (``ru_maxrss`` only grows).

Overlay: :func:`smm.viz.overlay_video` on 720p clips of 60 and 240 frames with one face drawn on
each, per frame, and the peak memory it adds (flat: it streams).

Rotation: decoding a 4K (3840 x 2160) video stored sideways with a display rotation of -90,
against the same video stored upright, per frame, frames to RGB arrays (what the pipeline
gets), interleaved rounds, the median.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from smm.inference.machine import describe_machine

_CHILD = """
import json, resource, sys
import smm
from smm.face import MTCNNDetector

model = smm.create_model(sys.argv[1]).eval()
photos = sys.argv[2:]
detector = MTCNNDetector()
options = dict(detector=detector, engine="eager", precision="fp32", progress=False)
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
smm.predict_images(model, photos[:1], **options)  # warm: one photo's decode, detection and model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = smm.predict_images(model, photos, **options)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
facts = {"model_mb": loaded / 1024, "before_mb": before / 1024, "after_mb": after / 1024}
print(json.dumps({**facts, "faces": int(result.observed.sum())}))
"""


def _photo(megapixels: float, path: Path) -> Path:
    """A 4:3 landscape photo of about ``megapixels`` with the astronaut's face, stored sideways with EXIF 6."""
    from skimage import data

    height = round((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = height * 4 // 3
    canvas = Image.new("RGB", (width, height), (90, 90, 90))
    face = Image.fromarray(data.astronaut()).resize((height // 2, height // 2))
    canvas.paste(face, (width // 3, height // 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 clockwise to show": store it turned the other way
    canvas.transpose(Image.Transpose.ROTATE_90).save(path, quality=90, exif=exif)
    return path


def photos(count: int, megapixels: float, model: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        one = _photo(megapixels, Path(folder) / "p0000.jpg")
        paths = [one]
        for k in range(1, count):
            paths.append(Path(folder) / f"p{k:04d}.jpg")
            paths[-1].write_bytes(one.read_bytes())
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, model, *map(str, paths)], capture_output=True, text=True, check=True
        )
        seconds = time.perf_counter() - began
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    return {**facts, "seconds": seconds}


def _video(path: Path, frames: list[np.ndarray], rotation: int | None) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _decode_ms(path: Path) -> float:
    from smm.face.video import open_video

    began = time.perf_counter()
    with open_video(path) as (frames, _):
        count = sum(1 for _ in frames)
    return (time.perf_counter() - began) * 1000 / count


def rotation(frames: int, rounds: int = 5) -> dict[str, float]:
    rng = np.random.default_rng(0)
    landscape = rng.integers(0, 256, (2160 // 8, 3840 // 8, 3), dtype=np.uint8)
    big = np.kron(landscape, np.ones((8, 8, 1), np.uint8))  # 3840 x 2160, compressible
    with tempfile.TemporaryDirectory() as folder:
        upright = _video(Path(folder) / "upright.mp4", [big] * frames, None)
        sideways = _video(Path(folder) / "sideways.mp4", [np.ascontiguousarray(np.rot90(big, 1))] * frames, -90)
        plain, turned = [], []
        for _ in range(rounds):  # interleaved
            plain.append(_decode_ms(upright))
            turned.append(_decode_ms(sideways))
    return {"upright_ms": statistics.median(plain), "rotated_ms": statistics.median(turned)}


_OVERLAY = """
import json, resource, sys, time
import numpy as np, torch
from smm.inference import FramePredictions, LabelNames
from smm.viz import overlay_video

video, out, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = LabelNames(tuple(f"AU{k}" for k in (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)), ("Neutral", "Happiness"))
rows = FramePredictions.empty(frames, names)
rows = rows._replace(
    au_prob=torch.full((frames, 12), 0.7), au=torch.ones(frames, 12, dtype=torch.int64),
    expr_prob=torch.tensor([[0.2, 0.8]] * frames), expr=torch.ones(frames, dtype=torch.int64),
    va=torch.tensor([[0.3, -0.2]] * frames), observed=torch.ones(frames, dtype=torch.bool),
    box=torch.tensor([[500.0, 200.0, 780.0, 560.0]] * frames),
    landmarks=torch.tensor([[[580.0, 330.0], [700.0, 330.0], [640.0, 400.0], [590.0, 470.0], [690.0, 470.0]]] * frames),
    face_id=torch.zeros(frames, dtype=torch.int64),
)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
overlay_video(video, rows, out)
seconds = time.perf_counter() - began
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ms": seconds * 1000 / frames, "added_mb": (after - before) / 1024}))
"""


def overlay(counts: tuple[int, ...]) -> list[dict[str, float]]:
    """Per frame cost and peak memory of ``overlay_video`` on 720p clips of ``counts`` frames, one face each."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (720 // 8, 1280 // 8, 3), dtype=np.uint8)
    frame = np.kron(small, np.ones((8, 8, 1), np.uint8))
    facts = []
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            clip = _video(Path(folder) / f"clip{count}.mp4", [frame] * count, None)
            done = subprocess.run(
                [sys.executable, "-c", _OVERLAY, str(clip), str(Path(folder) / f"o{count}.mp4"), str(count)],
                capture_output=True,
                text=True,
                check=True,
            )
            facts.append({"frames": count, **json.loads(done.stdout.strip().splitlines()[-1])})
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--model", default="smm_abaw3")
    parser.add_argument("--frames", type=int, default=30, help="frames of the 4K videos")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    print()
    print(
        "| photos | megapixels | peak RSS, model loaded | peak, + 1 photo | peak after the folder "
        "| above the model | faces | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for count in (1, args.photos):
        facts = photos(count, args.megapixels, args.model)
        print(
            f"| {count} | {args.megapixels:g} | {facts['model_mb']:.0f} MB | {facts['before_mb']:.0f} MB | "
            f"{facts['after_mb']:.0f} MB | {facts['after_mb'] - facts['model_mb']:.0f} MB | {facts['faces']} | "
            f"{facts['seconds']:.1f} |"
        )
    print()
    cost = rotation(args.frames)
    print("| 4K frames, decoded to RGB | ms per frame |")
    print("|---|---|")
    print(f"| stored upright | {cost['upright_ms']:.1f} |")
    print(f"| stored sideways, display rotation -90, turned upright | {cost['rotated_ms']:.1f} |")
    print(f"| the turn | {cost['rotated_ms'] - cost['upright_ms']:+.1f} |")
    print()
    print("| 720p frames, overlay_video (decode, draw one face, H.264 encode) | ms per frame | peak RSS added |")
    print("|---|---|---|")
    for facts in overlay((60, 240)):
        print(f"| {facts['frames']} | {facts['ms']:.1f} | {facts['added_mb']:.0f} MB |")
    print(f"\n(this process's peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
