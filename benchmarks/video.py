"""Benchmark: frames per second from an mp4 to the per-frame CSV, and the share of each stage.

Stages: decode, detection, landmark refinement, alignment, model.

    python -m benchmarks.video [--model smm_abaw3] [--frames 60] [--every 10] [--engine auto] [--device cpu]

Writes a 720p test video (a real face from scikit-image, moving), then times streaming passes
of ``smm.predict_video`` plus the CSV (the first, cold, pays the process's one-time costs; the
second is reported in full: wall time, the model's share of it, peak memory), and each stage
alone on the same frames. When facenet-pytorch is installed (the ``dev`` extra), a baseline row
runs the same path with facenet-pytorch's MTCNN for the full detections (refinement by our
O-Net, the same weights), in the same process, after ours.
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
from smm.defaults import DETECT_EVERY
from smm.face import FaceFollower, Faces, MTCNNDetector, aligned_crops
from smm.formats import write_frames_csv
from smm.inference import Preprocess, predict_video
from smm.inference.calibration import face_calibration
from smm.inference.engines import Engine, describe_engine, make_engine
from smm.inference.machine import describe_machine


def write_video(path: Path, frames: int, size: tuple[int, int] = (1280, 720)) -> None:
    import av
    from skimage import data

    side = size[1] * 2 // 3
    face = Image.fromarray(data.astronaut()).resize((side, side))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            canvas = Image.new("RGB", size, (80, 80, 80))
            step = size[1] // 240  # back and forth, 3 px a frame at 720p, no jump
            canvas.paste(face, (size[0] // 4 + step * abs(i % 134 - 67), size[1] // 7))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smm_abaw3")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--every", type=int, default=DETECT_EVERY, help="detect every N frames (and on cuts)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="1280x720", help="frame size WxH, e.g. 3840x2160")
    parser.add_argument("--detect-size", type=int, default=480, help="detection's shorter side (0: full frame)")
    parser.add_argument("--engine", default="auto", choices=("eager", "onnxruntime", "onnxruntime-int8", "auto"))
    parser.add_argument(
        "--workload",
        type=int,
        default=100_000,
        help="with --engine auto: the run it decides for (default: a long corpus, which times every engine)",
    )
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    import av

    print(f"machine: {describe_machine()}")
    device = torch.device(args.device)
    model = smm.create_model(args.model).eval().to(device)
    detector = MTCNNDetector(str(device))
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "clip.mp4"
        write_video(video, args.frames, size)
        # Made (exported, timed) before the clock starts, as for a corpus run's first video.
        engine = make_engine(
            model,
            args.engine,
            precision=args.precision,
            calibration=face_calibration(model),
            workload=args.workload,
            batch_size=args.batch_size,
        )

        options = {
            "detector": detector, "detect_every": args.every, "batch_size": args.batch_size,
            "detect_size": args.detect_size or None,
        }  # fmt: skip
        # Memory: the model's own peak on one batch, then the whole path's, both above the
        # loaded model; the difference is what the video path adds.
        # ONNX Runtime's second run of a shape takes more than its first (it then allocates the
        # memory pattern it recorded), so the model's own peak is the largest of three runs.
        base = _rss_mb()
        _reset_peak()
        for _ in range(3):
            engine(torch.zeros(args.batch_size, *model.data_config["input_size"]))
        model_peak = _peak_mb() - base
        # Once cold (first imports, first allocations: a process pays them once), then warm, as
        # every later video of a corpus run is.
        for run in ("cold", "warm"):
            timed = TimedEngine(engine)
            _reset_peak()
            start = time.perf_counter()
            results = predict_video(model, video, **options, engine=timed)
            write_frames_csv(Path(folder) / "clip.csv", results, model.au_names, model.expression_names)
            total = time.perf_counter() - start
            if run == "cold":
                cold, peak = total, _peak_mb() - base

        baseline = facenet_detector()
        if baseline is not None:
            # Alternating (baseline, ours, baseline, ours): the later passes of a process run faster, so
            # each side's best pass is compared, not a first against a fourth.
            base_total = float("inf")
            for _ in range(2):
                timed_baseline = TimedEngine(engine)
                start = time.perf_counter()
                base_results = predict_video(model, video, **{**options, "detector": baseline}, engine=timed_baseline)
                write_frames_csv(Path(folder) / "base.csv", base_results, model.au_names, model.expression_names)
                if (seconds := time.perf_counter() - start) < base_total:
                    base_total, base_model = seconds, timed_baseline.seconds
                again = TimedEngine(engine)
                start = time.perf_counter()
                predict_video(model, video, **options, engine=again)
                write_frames_csv(Path(folder) / "clip.csv", results, model.au_names, model.expression_names)
                if (seconds := time.perf_counter() - start) < total:
                    total, timed = seconds, again

        start = time.perf_counter()
        with av.open(str(video)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        decode = time.perf_counter() - start

        start = time.perf_counter()
        follower = FaceFollower(detector, detect_size=args.detect_size or None)
        found = follower._detect(frames[:: args.every])  # scaled down, mapped back, refined: as the pipeline
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
            crops = aligned_crops(list(batch), marks, np.arange(len(batch)))
            inputs = transform.batch(crops)
        align = time.perf_counter() - start
        base_detect = None
        if baseline is not None:
            start = time.perf_counter()
            FaceFollower(baseline, detect_size=args.detect_size or None)._detect(frames[:: args.every])
            base_detect = time.perf_counter() - start

        start = time.perf_counter()
        for _ in range(0, len(frames), args.batch_size):
            engine(inputs)
        forward = time.perf_counter() - start

    n = len(results.frame)
    print(f"{args.model}, {n} frames of {args.size}, detection every {args.every} at {args.detect_size or 'full'} px, "
          f"batch {args.batch_size}, {device}")  # fmt: skip
    print(f"engine: {describe_engine(engine)}")
    if peak >= 0:
        print(
            f"peak memory above the loaded model: the model alone on a batch {model_peak:.0f} MB, the video path "
            f"{peak:.0f} MB; the path adds {peak - model_peak:.0f} MB (VmHWM)"
        )
    print(f"end to end, first video of the process: {n / cold:.2f} frames/s ({cold:.1f} s)")
    print(f"end to end (decode, detect, refine, track, align, model, CSV): {n / total:.2f} frames/s ({total:.1f} s)")
    outside = total - timed.seconds
    print(
        f"  in that run: the model {timed.seconds:.2f} s, everything else {outside:.2f} s = "
        f"{outside / total:.1%} of the wall time"
    )
    print("each stage alone, on the same frames:")
    stages = (
        ("decode", decode),
        ("detection", detect),
        ("refinement", refine),
        ("align+preprocess", align),
        ("model", forward),
    )
    for name, seconds in stages:
        print(f"  {name:16s} {seconds:7.2f} s  {seconds / total:6.1%} of end to end  {n / seconds:8.1f} frames/s")
    if baseline is not None and base_detect is not None:
        outside = base_total - base_model
        print(
            f"baseline, facenet-pytorch's MTCNN for full detection: {n / base_total:.2f} frames/s ({base_total:.1f} s; "
            f"everything but the model {outside / base_total:.1%}); detection alone {base_detect:.2f} s; "
            f"ours {base_total / total:.2f}x end to end, detection {base_detect / detect:.2f}x"
        )
        if int(base_results.observed.sum()) != int(results.observed.sum()):
            seen = int(results.observed.sum()), int(base_results.observed.sum())
            print(f"  (frames with a face: ours {seen[0]}, baseline {seen[1]})")


class FacenetDetector:
    """facenet-pytorch's MTCNN for full detection, our O-Net (the same weights) to refine: the baseline."""

    def __init__(self, ours: MTCNNDetector) -> None:
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(keep_all=True, min_face_size=20, thresholds=[0.6, 0.7, 0.7], post_process=False)
        self.ours, self.min_face_size, self.refine_threshold = ours, ours.min_face_size, ours.refine_threshold

    def detect(self, images: list[np.ndarray]) -> list[Faces]:
        boxes, scores, points = self.mtcnn.detect(np.stack(images), landmarks=True)
        found = []
        for b, s, p in zip(boxes, scores, points, strict=True):
            if b is None:
                found.append(Faces.none())
                continue
            keep = s >= 0.9
            faces = Faces(b[keep].astype(np.float32), s[keep].astype(np.float32), p[keep].astype(np.float32))
            found.append(faces.take(np.argsort(-faces.areas, kind="stable")))
        return found

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
        return self.ours.refine(image, boxes)


def facenet_detector() -> FacenetDetector | None:
    try:
        return FacenetDetector(MTCNNDetector("cpu"))
    except ImportError:
        return None


class TimedEngine:
    """An engine that adds up the wall time of its calls: the model's share of a real run."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.name, self.seconds = engine, getattr(engine, "name", "engine"), 0.0

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = time.perf_counter()
        try:
            return self.engine(batch)
        finally:
            self.seconds += time.perf_counter() - start


def _status(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def _rss_mb() -> float:
    return _status("VmRSS")


def _peak_mb() -> float:
    return _status("VmHWM")


def _reset_peak() -> None:
    """Reset the peak resident size to the current one (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


if __name__ == "__main__":
    main()
