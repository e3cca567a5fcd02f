"""Real faces to calibrate quantised engines on: scikit-image's photographs, detected and aligned as prediction does."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from smm.face.detector import MTCNNDetector
from smm.face.video import aligned_crops
from smm.inference.preprocess import Preprocess
from smm.model import SMMEmotionNet


def calibration_faces(model: SMMEmotionNet, limit: int = 64) -> torch.Tensor:
    """Model inputs ``Tensor[N, C, H, W]`` of real faces: scikit-image's photographs, aligned as prediction does.

    Needs scikit-image (its bundled photographs: the astronaut and the LFW subset's faces) and
    the ``face`` extra (detection and alignment).
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
    detector = MTCNNDetector()
    transform = Preprocess(model.data_config)
    inputs: list[torch.Tensor] = []
    for start in range(0, len(photos), 16):
        chunk = photos[start : start + 16]
        for photo, found in zip(chunk, detector.detect(chunk), strict=True):
            if len(found) and len(inputs) < limit:
                crop = aligned_crops(photo[None], found.landmarks[:1], np.zeros(1, np.int64))[0]
                inputs.append(transform(crop))
        if len(inputs) == limit:
            break
    return torch.stack(inputs)


__all__ = ["calibration_faces"]
