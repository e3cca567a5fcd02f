"""Photos to per-face predictions: :func:`predict_images`.

Each photo is decoded upright and in 8-bit RGB (:func:`smm.face.photos.load_photo`) when the
model needs its faces, detected on a copy scaled to ``detect_size``, its faces aligned to
112 x 112 crops and predicted by the inference core (:mod:`smm.inference.core`).

Outputs, stated once (as for every prediction path):

- ``au_prob``: the **occurrence probability** of each labelled AU (sigmoid of its logit), not
  an intensity, in ``model.au_names`` order; ``au`` is the decision ``probability > threshold``.
- ``expr_prob``: the probability of each expression (softmax), in ``model.expression_names``
  order; ``expr`` is the most probable.
- ``va``: valence and arousal, the model's raw outputs (trained on labels in [-1, 1]; not
  clipped unless ``clamp_va=True``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from smm._compat import warn_renamed
from smm.defaults import BATCH_SIZE, CLAMP_VA, DEFAULT_ENGINE, DEFAULT_FACES, DEFAULT_PRECISION, DETECT_SIZE, THRESHOLD
from smm.face.detector import FaceDetector, Faces, check_detector, default_detector, detect_scaled
from smm.face.photos import load_photo
from smm.face.video import FaceChoice, aligned_crops
from smm.inference.core import image_features, predictions
from smm.inference.engines import Engine
from smm.inference.options import PredictOptions, build_engine
from smm.inference.preprocess import ModelBatches, Preprocess
from smm.inference.progress import progress_bar, show_progress
from smm.inference.results import FramePredictions, LabelNames
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet

Photo = str | os.PathLike[str] | Image.Image | np.ndarray
#: ``errors=``'s choices: raise on a photo that cannot be read, or report it in its row.
ERRORS = ("raise", "report")


def predict_images(
    model: SMMEmotionNet,
    images: Sequence[Photo],
    *,
    detector: FaceDetector | None = None,
    faces: FaceChoice = DEFAULT_FACES,
    batch_size: int = BATCH_SIZE,
    precision: Precision | str = DEFAULT_PRECISION,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
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
    detector : smm.face.FaceDetector, optional
        Default :func:`smm.face.detector.default_detector` on the model's device.
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
    options = PredictOptions(
        faces=faces,
        batch_size=batch_size,
        precision=precision,
        threshold=threshold,
        clamp_va=clamp_va,
        engine=engine,
        detect_size=detect_size,
        progress=progress,
    )
    check_errors(errors)
    detect = detector if detector is not None else default_detector(next(model.parameters()).device)
    shown = show_progress(options.progress)
    run = build_engine(model, options, len(images), shown=shown)
    return photo_predictions(model, images, options, run, detect, errors=errors, shown=shown)


def check_errors(errors: str) -> str:
    """``errors`` if it is one of :data:`ERRORS`, else a ``ValueError``."""
    if errors not in ERRORS:
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
    return errors


def photo_predictions(
    model: SMMEmotionNet,
    images: Sequence[Photo],
    options: PredictOptions,
    engine: Engine,
    detector: FaceDetector,
    *,
    errors: str = "raise",
    shown: bool = False,
) -> FramePredictions:
    """:func:`predict_images` with its options, engine and detector built (a run's photos use it as they are).

    ``shown``: draw the progress bar (the caller decided from ``options.progress``).
    """
    check_errors(errors)
    check_detector(detector)
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
            found = detect_scaled(detector, [array], options.detect_size)[0]
            order = np.argsort(-found.areas, kind="stable")
            chosen = found.take(order if options.faces == "all" else order[:1])
            sources.extend([name] * max(1, len(chosen)))
            found_faces.append(chosen)
            reasons.append("" if len(chosen) else _no_face_reason(detector, array))
            crops = None
            if len(chosen):
                crops = aligned_crops(array[None], chosen.landmarks, np.zeros(len(chosen), np.int64))
            del array
            bar.update(1)
            if crops is not None:
                yield crops

    try:
        au_features, messages = image_features(
            model, ModelBatches(inputs(), transform, options.batch_size), engine, batch_size=options.batch_size
        )
    finally:
        bar.close()
    found_rows = predictions(
        model,
        au_features,
        messages,
        np.arange(1, len(au_features) + 1),
        threshold=options.threshold,
        clamp_va=options.clamp_va,
    )
    return _photo_rows(model, found_rows, found_faces, tuple(sources), reasons)


def _no_face_reason(detector: FaceDetector, image: np.ndarray) -> str:
    smallest = detector.min_face_size
    if min(image.shape[:2]) < smallest:
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


__all__ = ["ERRORS", "check_errors", "photo_predictions", "predict_images"]
