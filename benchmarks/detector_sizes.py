"""Benchmark: what the cheaper MTCNN settings cost, face size by face size.

    python -m benchmarks.detector_sizes [--repeats 3] [--frames-per-size 2]

Faces of known place and size (scikit-image's astronaut, from 12 to 220 px) are pasted up to three
to a frame on real textures (scikit-image's coffee, chelsea, rocket...) of 853 x 480, the size the
video path detects 720p at. Each setting of our cascade (the pyramid's resampling, area or
antialiased, times ``min_face_size`` 20 or 40) detects every frame; printed per setting and face
size: recall (a found box of IoU >= 0.5 with the truth), false faces (found boxes matching no
pasted face), the landmarks' error normalised by the eye distance (NME, against the landmarks the
published area setting finds on the 220 px face, scaled), the boxes' IoU against the area setting's
boxes on the same faces, and the detection time per frame (settings timed in turns, best of
``--repeats``). Prints the machine first.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from smm.face.mtcnn import Cascade
from smm.face.track import box_iou
from smm.inference.machine import describe_machine

SIZES = (12, 14, 16, 18, 20, 24, 28, 34, 40, 50, 64, 80, 100, 130, 170, 220)
SETTINGS = (("area", 20), ("antialiased", 20), ("area", 40), ("antialiased", 40))
WIDTH, HEIGHT = 853, 480


def astronaut_face() -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """The astronaut's face, square, with its box and landmarks as found by the published setting (crop pixels)."""
    from skimage import data

    crop = data.astronaut()[10:290, 110:390]
    found = Cascade().detect(crop[None])
    best = int(np.argmax(found.scores))
    return Image.fromarray(crop), found.boxes[best], found.landmarks[best]


def backgrounds() -> list[Image.Image]:
    from skimage import data

    images = [data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field(), data.immunohistochemistry()]
    return [Image.fromarray(image).convert("RGB").resize((WIDTH, HEIGHT), Image.BILINEAR) for image in images]


def frames(per_size: int) -> tuple[np.ndarray, list[int], list[np.ndarray], list[np.ndarray]]:
    """Frames, the face size of each, and per frame its true boxes (K, 4) and landmarks (K, 5, 2)."""
    face, box, points = astronaut_face()
    grounds = backgrounds()
    rng = np.random.default_rng(0)
    images, sizes, boxes, landmarks = [], [], [], []
    for size in SIZES:
        for k in range(per_size):
            canvas = grounds[(k + size) % len(grounds)].copy()
            scale = size / (box[2] - box[0])
            side = max(1, round(face.width * scale))
            pasted = face.resize((side, side), Image.LANCZOS)
            truth_boxes, truth_points = [], []
            count = max(1, min(3, WIDTH // side))
            for j in range(count):  # up to three faces across the frame, never overlapping
                left, right = j * WIDTH // count, (j + 1) * WIDTH // count
                x = int(rng.integers(left, max(left + 1, right - side)))
                y = int(rng.integers(0, max(1, HEIGHT - side)))
                canvas.paste(pasted, (x, y))
                ratio = side / face.width
                truth_boxes.append(box * ratio + [x, y, x, y])
                truth_points.append(points * ratio + [x, y])
            images.append(np.asarray(canvas))
            sizes.append(size)
            boxes.append(np.asarray(truth_boxes))
            landmarks.append(np.asarray(truth_points))
    return np.stack(images), sizes, boxes, landmarks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames-per-size", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}; {torch.get_num_threads()} threads")
    images, sizes, truth_boxes, truth_points = frames(args.frames_per_size)
    cascades = {s: Cascade(pyramid=s[0], min_face_size=s[1]) for s in SETTINGS}
    batch = 8
    times = {s: float("inf") for s in SETTINGS}
    found = {}
    for _ in range(args.repeats):
        for setting, cascade in cascades.items():
            start = time.perf_counter()
            found[setting] = [cascade.detect(images[i : i + batch]) for i in range(0, len(images), batch)]
            times[setting] = min(times[setting], time.perf_counter() - start)
    print(f"{len(images)} frames of {WIDTH}x{HEIGHT}, up to 3 faces each, {batch} at a time; best of {args.repeats}")
    reference = None
    for setting in SETTINGS:
        rows = matches(found[setting], truth_boxes, truth_points, batch)
        if reference is None:
            reference = rows
        print(f"\npyramid={setting[0]} min_face_size={setting[1]}: {1000 * times[setting] / len(images):.1f} ms/frame "
              f"({times[(SETTINGS[0])] / times[setting]:.2f}x the area/20 setting)")  # fmt: skip
        print(f"{'face px':>8} {'faces':>6} {'recall':>7} {'false':>6} {'NME':>7} {'IoU vs area/20 median, min':>27}")
        for size in SIZES:
            mine = [i for i, s in enumerate(sizes) if s == size]
            hit = [m for i in mine for m in rows[i][0]]
            recall = sum(m is not None for m in hit) / len(hit)
            false = sum(rows[i][1] for i in mine)
            errors = [m[1] for m in hit if m is not None]
            nme = f"{np.mean(errors):.3f}" if errors else "-"
            same = [
                float(box_iou(m[0], np.asarray([r[0]]))[0])
                for i in mine
                for m, r in zip(rows[i][0], reference[i][0], strict=True)
                if m is not None and r is not None
            ]
            iou = f"{np.median(same):.3f}, {min(same):.3f}" if same else "-"
            print(f"{size:8d} {len(hit):6d} {recall:7.2f} {false:6d} {nme:>7} {iou:>27}")


def matches(
    detections: list, truth_boxes: list[np.ndarray], truth_points: list[np.ndarray], batch: int
) -> list[tuple[list, int]]:
    """Per frame: for each true face, (found box, NME) or None; and the number of found boxes matching no face."""
    rows = []
    for index, (boxes, points) in enumerate(zip(truth_boxes, truth_points, strict=True)):
        found = detections[index // batch]
        mine = np.flatnonzero(found.image == index % batch)
        used = set()
        faces = []
        for box, truth in zip(boxes, points, strict=True):
            if not len(mine):
                faces.append(None)
                continue
            overlap = box_iou(box, found.boxes[mine])
            best = int(np.argmax(overlap))
            if overlap[best] < 0.5:
                faces.append(None)
                continue
            used.add(best)
            eyes = np.linalg.norm(truth[0] - truth[1])
            error = np.linalg.norm(found.landmarks[mine[best]] - truth, axis=1).mean() / eyes
            faces.append((found.boxes[mine[best]], float(error)))
        rows.append((faces, len(mine) - len(used)))
    return rows


if __name__ == "__main__":
    main()
