"""Real faces to calibrate and check quantised engines on.

scikit-image's photographs, detected and aligned as prediction does.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from smm.face.detector import default_detector
from smm.face.video import aligned_crops
from smm.inference.graphs import Calibration
from smm.inference.preprocess import Preprocess
from smm.models.emotionnet import SMMEmotionNet

#: Faces :func:`face_calibration` aligns (at most): half calibrate the int8 graph, half check it.
CALIBRATION_FACES = 100


def calibration_faces(model: SMMEmotionNet, limit: int = CALIBRATION_FACES) -> torch.Tensor:
    """Model inputs ``Tensor[N, C, H, W]`` of real faces: scikit-image's photographs, aligned as prediction does.

    The astronaut and the faces of scikit-image's Labeled Faces in the Wild subset (25 x 25
    grey crops, upscaled), each detected by :func:`smm.face.detector.default_detector` (the
    detector prediction uses) and aligned on its landmarks to the 112 x 112 template, then
    preprocessed for ``model``; at most ``limit``, in a fixed order.
    Needs scikit-image and the ``face`` extra (detection and alignment).
    """
    try:
        from skimage import data
    except ImportError as error:
        raise ImportError("int8 calibration uses scikit-image's face photographs: pip install scikit-image") from error
    photos = [data.astronaut()]
    photos += [
        np.asarray(Image.fromarray((face * 255).astype(np.uint8)).convert("RGB").resize((112, 112)))
        for face in data.lfw_subset()[:100]
    ]
    detector = default_detector()
    transform = Preprocess(model.data_config)
    inputs: list[torch.Tensor] = []
    for start in range(0, len(photos), 16):
        chunk = photos[start : start + 16]
        for photo, found in zip(chunk, detector.detect(chunk), strict=True):
            if len(found) and len(inputs) < limit:
                crop = aligned_crops(photo[None], found.landmarks[:1], np.zeros(1, np.int64))[0]
                inputs.append(transform.batch(crop[None])[0])
        if len(inputs) == limit:
            break
    return torch.stack(inputs)


def face_calibration(model: SMMEmotionNet, limit: int = CALIBRATION_FACES) -> Calibration:
    """:func:`calibration_faces` for ``model``, made only if an int8 graph has to be made (and then once)."""
    made: list[torch.Tensor] = []

    def make() -> torch.Tensor:
        if not made:
            made.append(calibration_faces(model, limit))
        return made[0]

    return Calibration(f"scikit-image faces, {limit}, aligned", make)


__all__ = ["CALIBRATION_FACES", "calibration_faces", "face_calibration"]
