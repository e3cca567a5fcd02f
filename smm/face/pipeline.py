"""From photos or a video to per-frame AU, expression and valence/arousal: detect, align, predict.

The face part of the pipeline (decode, detect, track, align) ends in 112 x 112 face crops,
rounded to 8 bits like Aff-Wild2's cropped-aligned frames; from there every path shares the
inference core (:mod:`smm.inference`): the model's own preprocessing, one precision set-up,
temporal smoothing on request, and one result type, :class:`~smm.inference.FramePredictions`
(frames numbered from 1).

Outputs, stated once:

- ``au_prob``: the **occurrence probability** of each labelled AU (sigmoid of its logit), not
  an intensity, in ``model.au_names`` order; ``au`` is the decision ``probability > threshold``.
- ``expr_prob``: the probability of each expression (softmax), in ``model.expression_names``
  order; ``expr`` is the most probable.
- ``va``: valence and arousal, the model's raw outputs (trained on labels in [-1, 1]; not
  clipped unless ``clamp_va=True``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from smm._compat import warn_renamed
from smm.defaults import DEFAULT_ENGINE, DEFAULT_FACES, DEFAULT_PRECISION, DETECT_EVERY, DETECT_SIZE
from smm.face.calibration import face_calibration
from smm.face.detector import FaceDetector, Faces, MTCNNDetector, detect_scaled
from smm.face.orientation import Orientation
from smm.face.photos import load_photo
from smm.face.sides import side_rows
from smm.face.video import (
    ALIGNED_SIZE,
    FOLLOW_CHUNK,
    READ_AHEAD,
    FaceChoice,
    FaceFollower,
    FaceRows,
    PartialVideoWarning,
    aligned_crops,
    check_detect_size,
    check_faces,
    frame_chunks,
    open_video,
)
from smm.inference.core import Alpha, image_features, predictions
from smm.inference.engines import Engine, describe_engine, make_engine
from smm.inference.preprocess import Preprocess
from smm.inference.progress import engine_line, progress_bar, show_progress
from smm.inference.results import FramePredictions, LabelNames
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet


def _detector(detector: FaceDetector | None, device: torch.device) -> FaceDetector:
    return detector if detector is not None else MTCNNDetector(str(device))


def _engine(
    model: SMMEmotionNet,
    engine: str | Engine,
    precision: Precision | str,
    workload: int | None,
    batch_size: int,
    shown: bool = False,
) -> Engine:
    """The engine of one call (:func:`smm.inference.engines.make_engine`); real aligned faces for int8 at hand.

    With the progress bar on, a choice that took more than a moment is said in one line, as the CLI says it.
    """
    began = time.perf_counter()
    run = make_engine(
        model,
        engine,
        precision=precision,
        calibration=face_calibration(model),
        workload=workload,
        batch_size=batch_size,
    )
    if shown and isinstance(engine, str):
        engine_line(time.perf_counter() - began, lambda: describe_engine(run))
    return run


def predict_images(
    model: SMMEmotionNet,
    images: Sequence[str | os.PathLike[str] | Image.Image | np.ndarray],
    *,
    detector: FaceDetector | None = None,
    faces: FaceChoice = DEFAULT_FACES,
    batch_size: int = 32,
    precision: Precision | str = DEFAULT_PRECISION,
    threshold: float = 0.5,
    clamp_va: bool = False,
    errors: str = "raise",
    all_faces: bool | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
    detect_size: int | None = DETECT_SIZE,
    progress: bool | None = None,
) -> FramePredictions:
    """Detect, align and predict the faces of each photo, upright as a person sees it.

    Photos are read one at a time as the model needs them (a folder of large photos takes
    the memory of one photo, not of the folder), turned upright by their EXIF orientation
    and converted to 8-bit RGB (:func:`smm.face.photos.load_photo`); full detection runs on a
    copy scaled to ``detect_size``, and the landmarks are refined at full resolution.

    Parameters
    ----------
    model : SMMEmotionNet
        Used in eval mode on its own device.
    images : sequence of path-like, PIL images or (H, W, 3) uint8 RGB arrays
        Any image Pillow reads (an animated GIF, WebP or PNG is its first frame). Boxes and
        landmarks are in the pixels of the upright photo (after its EXIF orientation).
    detector : FaceDetector, optional
        Default :class:`~smm.face.MTCNNDetector` on the model's device.
    faces : {"all", "largest"}, default "all"
        One row per face found, the largest first (``face_id`` 0, 1, ...), or only the largest.
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        Autocast dtype of the model; ``"auto"``: bf16 where the CPU or GPU has bf16 units, else
        fp32 (:class:`smm.inference.runtime.Precision`).
    threshold : float, default 0.5
        AU decision: ``au_prob > threshold``.
    clamp_va : bool, default False
    errors : {"raise", "report"}, default "raise"
        What a file that is missing or cannot be read as an image does: raise, or become a
        row without a face whose ``reason`` says why (the others are still predicted).
    all_faces : bool, optional
        Deprecated: ``faces="all"`` / ``"largest"``.
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
        What runs the model (:mod:`smm.inference.engines`): ``"auto"`` picks the fastest accepted
        engine of this machine where the run is large enough to time them (int8 included,
        calibrated on scikit-image's real faces), else eager PyTorch at ``precision``.
    detect_size : int or None, default 480
        Full detection on each photo scaled so that its shorter side is this many pixels (never
        up), the landmarks then refined at full resolution; faces smaller than about 20 px at
        that scale are not found (for group photos with small faces, a larger size or ``None``,
        full resolution, at a cost growing with the square of the size).
    progress : bool or None, default None
        A progress bar over the photos on stderr; ``None``: where a person is watching (a
        terminal or a notebook, :func:`smm.inference.progress.watched`).

    Returns
    -------
    FramePredictions
        At least one row per photo, in input order, all frame 1, with ``source`` (the file
        name, or ``""`` for arrays and PIL images), ``face_id``, ``box`` and ``landmarks``; a
        photo without a face gives one row with ``observed`` False and a ``reason`` (an image
        smaller than the detector's smallest face is such a row, not an error).
    """
    if all_faces is not None:
        warn_renamed("predict_images(all_faces=...)", 'faces="all" or faces="largest"')
        faces = "all" if all_faces else "largest"
    faces = check_faces(faces)
    check_detect_size(detect_size)
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
    device = next(model.parameters()).device
    detect = _detector(detector, device)
    shown = show_progress(progress)
    run = _engine(model, engine, precision, len(images), batch_size, shown)
    transform = Preprocess(model.data_config)
    sources: list[str] = []
    found_faces: list[Faces] = []
    reasons: list[str] = []
    bar = progress_bar(shown, total=len(images), desc="photos", unit="photo")

    def inputs() -> Iterator[torch.Tensor]:  # each photo decoded when the model needs its faces, then let go
        for item in images:
            name = str(item) if isinstance(item, (str, os.PathLike)) else ""
            try:
                array = load_photo(item)
            except (OSError, ValueError) as error:
                if errors == "raise":
                    raise
                reasons.append(" ".join(str(error).split()))
                found_faces.append(Faces.none())
                sources.append(name)
                bar.update(1)
                continue
            found = detect_scaled(detect, [array], detect_size)[0]
            order = np.argsort(-found.areas, kind="stable")
            chosen = found.take(order if faces == "all" else order[:1])
            sources.extend([name] * max(1, len(chosen)))
            found_faces.append(chosen)
            reasons.append("" if len(chosen) else _no_face_reason(detect, array))
            crops = aligned_crops(array[None], chosen.landmarks, np.zeros(len(chosen), np.int64)) if len(chosen) else []
            del array
            bar.update(1)
            yield from (transform(crop) for crop in crops)

    try:
        au_features, messages = image_features(model, inputs(), batch_size=batch_size, engine=run)
    finally:
        bar.close()
    found_rows = predictions(
        model,
        au_features,
        messages,
        np.arange(1, len(au_features) + 1),
        threshold=threshold,
        clamp_va=clamp_va,
    )
    return _photo_rows(model, found_rows, found_faces, tuple(sources), reasons)


def _no_face_reason(detector: FaceDetector, image: np.ndarray) -> str:
    smallest = getattr(detector, "min_face_size", None)
    if smallest is not None and min(image.shape[:2]) < smallest:
        height, width = image.shape[:2]
        return (
            f"image too small for face detection ({width}x{height} px; the detector's smallest face is {smallest} px)"
        )
    return "no face found"


def _photo_rows(
    model: SMMEmotionNet, found: FramePredictions, faces: Sequence[Faces], sources: tuple[str, ...], reasons: list[str]
) -> FramePredictions:
    """One row per face (one empty row per photo without a face), from the rows of the faces found."""
    rows = len(sources)
    observed = torch.cat(
        [torch.ones(len(f), dtype=torch.bool) if len(f) else torch.zeros(1, dtype=torch.bool) for f in faces]
    )
    where = observed.nonzero().flatten()
    table = FramePredictions.empty(rows, LabelNames.of(model)).with_rows(where, found)
    box = torch.full((rows, 4), float("nan"))
    landmarks = torch.full((rows, 5, 2), float("nan"))
    if len(where):
        box[where] = torch.from_numpy(np.concatenate([f.boxes for f in faces if len(f)])).float()
        landmarks[where] = torch.from_numpy(np.concatenate([f.landmarks for f in faces if len(f)])).float()
    face_id = torch.cat([torch.arange(len(f)) if len(f) else torch.full((1,), -1) for f in faces])
    reason = tuple(r for f, r in zip(faces, reasons, strict=True) for r in ([""] * len(f) if len(f) else [r]))
    return table._replace(
        frame=torch.ones(rows, dtype=torch.int64),
        observed=observed,
        time=torch.zeros(rows, dtype=torch.float64),
        box=box,
        landmarks=landmarks,
        source=sources,
        face_id=face_id,
        reason=reason,
    )


@dataclass(frozen=True)
class VideoFeatures:
    """What the model saw in a video, kept small: each face's features, and where each face was.

    :func:`predict_video` is ``video_features(...).predictions(model, ...)``; keep this object
    to get predictions with other smoothing strengths or thresholds, or per side for the
    challenge files, without running the model again.

    Attributes
    ----------
    au_features : Tensor[N, H, D]
        Of the N rows with a face, in row order.
    messages : Tensor[N, D]
    frame : numpy.ndarray
        ``(R,)`` int64, the frame (from 1) of each row: one row per (frame, face), and one row
        for each frame without a face.
    face_id : numpy.ndarray
        ``(R,)`` int64 track ids, ``-1`` without a face.
    time : numpy.ndarray
        ``(R,)`` float64 seconds.
    box : numpy.ndarray
        ``(R, 4)`` float32, NaN without a face.
    landmarks : numpy.ndarray
        ``(R, 5, 2)`` float32.
    num_frames : int
        Frames decoded.
    size : tuple of int
        ``(width, height)`` of the frames, upright.
    source : str
    orientation : Orientation
        The display rotation (and mirror) applied to every frame: boxes, landmarks and crops
        are in the upright frames' pixels (:class:`smm.face.orientation.Orientation`).
    """

    au_features: torch.Tensor
    messages: torch.Tensor
    frame: np.ndarray
    face_id: np.ndarray
    time: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray
    num_frames: int
    size: tuple[int, int]
    source: str
    orientation: Orientation = field(default_factory=Orientation)

    @property
    def observed(self) -> np.ndarray:
        """``(R,)`` bool, whether each row has a face."""
        return self.face_id >= 0

    @property
    def tracks(self) -> list[int]:
        """The face ids found, in order of appearance."""
        return sorted(set(self.face_id[self.observed].tolist()))

    def predictions(
        self, model: SMMEmotionNet, *, alpha: Alpha = None, threshold: float = 0.5, clamp_va: bool = False
    ) -> FramePredictions:
        """One row per (frame, face), and one per frame without a face (see :func:`predict_video`).

        Smoothing (``alpha``) runs along each face's own track.
        """
        observed = self.observed
        feature_row = np.cumsum(observed) - 1  # row -> its position among the rows with a face
        table = FramePredictions.empty(len(self.frame), LabelNames.of(model))
        for track in self.tracks:
            rows = np.flatnonzero(self.face_id == track)
            index = torch.from_numpy(feature_row[rows])
            part = predictions(
                model,
                self.au_features[index],
                self.messages[index],
                np.arange(1, len(rows) + 1),
                alpha=alpha,
                threshold=threshold,
                clamp_va=clamp_va,
            )
            table = table.with_rows(rows, part)
        return table._replace(
            frame=torch.from_numpy(self.frame),
            observed=torch.from_numpy(observed),
            time=torch.from_numpy(self.time),
            box=torch.from_numpy(self.box),
            landmarks=torch.from_numpy(self.landmarks),
            source=(self.source,) * len(self.frame),
            face_id=torch.from_numpy(self.face_id),
            reason=tuple("" if seen else "no face found" for seen in observed.tolist()),
        )

    def per_frame(
        self,
        model: SMMEmotionNet,
        side: str = "",
        *,
        alpha: Alpha = None,
        threshold: float = 0.5,
        clamp_va: bool = False,
    ) -> FramePredictions:
        """One row per frame of the video for one position, filled as the published tester did.

        Parameters
        ----------
        model : SMMEmotionNet
        side : {"", "left", "right"}, default ""
            ``""``: the one face of a video that never shows two at once; ``"left"`` /
            ``"right"``: the face on that side in each frame (:func:`smm.face.sides.side_rows`);
            one of :attr:`sides`.
        alpha, threshold, clamp_va
            As :meth:`predictions`; smoothing runs along the side's frames.

        Returns
        -------
        FramePredictions
            ``num_frames`` rows; frames where the side has no face repeat the nearest earlier
            face's prediction (``observed`` False), as in the challenge files; NaN rows when the
            side never has a face.
        """
        positions = side_rows(self.frame, self.face_id, self.box, self.size)
        if side not in positions:
            raise ValueError(f"side must be one of this video's sides {list(positions)}, got {side!r}")
        rows = positions[side]
        feature_row = np.cumsum(self.observed) - 1
        index = torch.from_numpy(feature_row[rows])
        result = predictions(
            model,
            self.au_features[index] if len(rows) else torch.zeros(0),
            self.messages[index] if len(rows) else torch.zeros(0),
            self.frame[rows],
            num_frames=self.num_frames,
            alpha=alpha,
            threshold=threshold,
            clamp_va=clamp_va,
        )
        box = torch.full((self.num_frames, 4), float("nan"))
        landmarks = torch.full((self.num_frames, 5, 2), float("nan"))
        face_id = torch.full((self.num_frames,), -1, dtype=torch.int64)
        frames = torch.from_numpy(self.frame[rows] - 1)
        box[frames] = torch.from_numpy(self.box[rows])
        landmarks[frames] = torch.from_numpy(self.landmarks[rows])
        face_id[frames] = torch.from_numpy(self.face_id[rows])
        time = np.zeros(self.num_frames)
        time[self.frame - 1] = self.time
        return result._replace(
            time=torch.from_numpy(time),
            box=box,
            landmarks=landmarks,
            source=(self.source,) * self.num_frames,
            face_id=face_id,
            reason=tuple("" if seen else "no face found" for seen in result.observed.tolist()),
        )

    @property
    def sides(self) -> list[str]:
        """The challenge files' positions: ``[""]`` when no frame shows two faces, else ``["left", "right"]``."""
        return list(side_rows(self.frame, self.face_id, self.box, self.size))


def predict_video(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    faces: FaceChoice = DEFAULT_FACES,
    detect_every: int = DETECT_EVERY,
    detect_size: int | None = DETECT_SIZE,
    batch_size: int = 32,
    precision: Precision | str = DEFAULT_PRECISION,
    alpha: Alpha = None,
    threshold: float = 0.5,
    clamp_va: bool = False,
    progress: bool | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
) -> FramePredictions:
    """Decode a video, follow its faces, align and predict each; one row per (frame, face).

    Frames are decoded with PyAV and go through detection, landmark refinement, tracking,
    alignment and the model ``batch_size`` at a time; only each face's small feature vectors
    are kept, so memory does not grow with the video's length beyond a few hundred bytes per
    face and frame. Faces are detected every ``detect_every`` frames; on every frame each
    tracked face's landmarks are re-located (MTCNN's O-Net on its predicted box), so every
    frame is aligned on its own landmarks. Each face keeps a ``face_id`` through the video
    (:class:`~smm.face.MultiFaceTracker`).

    Parameters
    ----------
    model : SMMEmotionNet
    path : path-like
        Any video FFmpeg reads (mp4, avi, mkv, ...).
    detector : FaceDetector, optional
    faces : {"all", "largest"}, default "all"
        Every face, each with its own track, or one face: the largest when following starts
        (and again whenever a detection round does not find the followed face).
    detect_every : int, default 10
        Full detection every N frames and on every cut (1 detects on every frame, slowest); a
        face entering a scene is picked up at the next detection.
    detect_size : int or None, default 480
        Full detection on the frame scaled to this shorter side (landmarks then refined at full
        resolution); ``None``: full resolution (:class:`~smm.face.FaceFollower`).
    batch_size : int, default 32
    precision : {"auto", "fp32", "bf16", "fp16"} or Precision, default "auto"
        See :func:`predict_images`.
    alpha : float, mapping, "published" or None, default None
        Temporal smoothing along each face's track, per output, as in
        :func:`smm.inference.predict_frames`; ``"published"``: AU 7, EXPR 9, VA 9.
    threshold : float, default 0.5
    clamp_va : bool, default False
    progress : bool or None, default None
        A progress bar over the frames on stderr, and frames per second at the end; ``None``:
        where a person is watching (a terminal or a notebook,
        :func:`smm.inference.progress.watched`).
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
        What runs the model (:mod:`smm.inference.engines`): ``"auto"`` picks the fastest accepted
        engine of this machine where the run is large enough to time them (int8 included,
        calibrated on scikit-image's real faces), else eager PyTorch at ``precision``.

    Returns
    -------
    FramePredictions
        One row per (frame, face) in frame order (faces by id within a frame), with ``time``,
        ``face_id``, ``box``, ``landmarks`` and ``source``; a frame without a face has one row
        with ``observed`` False, ``face_id`` -1 and NaN values. For one row per frame as the
        challenge files need, use :meth:`VideoFeatures.per_frame`.
    """
    features = video_features(
        model,
        path,
        detector=detector,
        faces=faces,
        detect_every=detect_every,
        detect_size=detect_size,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
        engine=engine,
    )
    return features.predictions(model, alpha=alpha, threshold=threshold, clamp_va=clamp_va)


def video_features(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    faces: FaceChoice = DEFAULT_FACES,
    detect_every: int = DETECT_EVERY,
    detect_size: int | None = DETECT_SIZE,
    batch_size: int = 32,
    precision: Precision | str = DEFAULT_PRECISION,
    progress: bool | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
) -> VideoFeatures:
    """Run a video through face following and the model; see :func:`predict_video`.

    Frames are decoded in a background thread, a few frames ahead of the face following, which
    takes them :data:`~smm.face.video.FOLLOW_CHUNK` at a time; only the crops wait for the
    model's batch, so memory grows with the crops, not with the frames' size times the batch.
    """
    device = next(model.parameters()).device
    follower = FaceFollower(
        _detector(detector, device), detect_every=detect_every, faces=faces, detect_size=detect_size
    )
    transform = Preprocess(model.data_config)
    shown = show_progress(progress)
    parts: list[FaceRows] = []
    path = Path(path)
    began = time.perf_counter()
    with open_video(path, ahead=READ_AHEAD) as (decoded, total):
        run = _engine(model, engine, precision, total, batch_size, shown)
        bar = progress_bar(shown, total=total, desc=path.name, unit="frame")

        def crops() -> Iterator[torch.Tensor]:
            for chunk in frame_chunks(decoded, FOLLOW_CHUNK):
                rows = follower.chunk(chunk)
                parts.append(rows._replace(crops=rows.crops[:0]))
                bar.update(len(chunk))
                yield from (transform(crop) for crop in rows.crops)

        try:
            au_features, messages = image_features(model, crops(), batch_size=batch_size, engine=run)
        finally:
            bar.close()
        orientation, shortfall = decoded.orientation, decoded.shortfall
    if shown:
        seconds = time.perf_counter() - began
        rate = follower.frames / max(seconds, 1e-9)
        turned = f", {described}" if (described := orientation.describe()) else ""
        sys.stderr.write(f"{path.name}: {follower.frames} frames in {seconds:.1f} s ({rate:.1f} frames/s){turned}\n")
    if shortfall:
        warnings.warn(shortfall, PartialVideoWarning, stacklevel=2)
    rows = FaceRows.concat(parts)
    return VideoFeatures(
        au_features=au_features,
        messages=messages,
        frame=rows.frame,
        face_id=rows.face_id,
        time=rows.time,
        box=rows.box,
        landmarks=rows.landmarks,
        num_frames=follower.frames,
        size=follower.size or (0, 0),
        source=str(path),
        orientation=orientation,
    )


__all__ = [
    "ALIGNED_SIZE",
    "FaceRows",
    "VideoFeatures",
    "aligned_crops",
    "predict_images",
    "predict_video",
    "video_features",
]
