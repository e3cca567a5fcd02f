"""A generated two-person clip through ``predict_video``, its annotated video and its timeline, for docs/faces.rst.

Two copies of scikit-image's astronaut (one mirrored, the other way round) cross a grey
background; the second leaves for a few frames and comes back, so the timeline shows a gap. The
model is :func:`figures.example.load_model`'s: random weights unless ``SMM_CHECKPOINT`` names a
trained checkpoint, and the figures say so.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image


def _clip(path: Path, frames: int = 16) -> Path:
    import av
    from skimage import data

    head = Image.fromarray(data.astronaut()[20:260, 120:340]).resize((150, 164))
    mirror = head.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for t in range(frames):
            canvas = Image.new("RGB", (640, 360), (96, 96, 96))
            canvas.paste(head, (60 + 6 * t, 90))
            if not 6 <= t < 9:  # the second person steps out for three frames
                canvas.paste(mirror, (430 - 6 * t, 100))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")))
        container.mux(stream.encode())
    return path


@functools.cache
def run() -> tuple[object, np.ndarray, bool]:
    """The clip's predictions, one frame of its annotated video, and whether the model was trained."""
    import av

    import smm
    from smm.viz import overlay_video

    from .example import load_model

    model, trained = load_model()
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        clip = _clip(Path(folder) / "two_people.mp4")
        predictions = smm.predict_video(model, clip, detect_every=4, precision="fp32", engine="eager", progress=False)
        annotated = overlay_video(clip, predictions, Path(folder) / "two_people.overlay.mp4")
        with av.open(str(annotated)) as container:
            frame = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][11]
    return predictions, frame, trained


def overlay_frame() -> Figure:
    from .example import caveat

    _, frame, trained = run()
    figure = Figure(figsize=(8, 4.8), layout="constrained")
    axis = figure.subplots()
    axis.imshow(frame)
    axis.set_axis_off()
    axis.set_title("Frame 12 of the annotated video (predict --overlay)", fontsize=10)
    caveat(figure, trained)
    return figure


def timeline() -> Figure:
    from smm.viz import plot_timeline

    from .example import caveat

    predictions, _, trained = run()
    figure = plot_timeline(predictions, title="two_people.mp4")
    caveat(figure, trained)
    return figure
