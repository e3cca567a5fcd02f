"""One real face through the model, shared by the figures of one docs build.

The face is scikit-image's astronaut photograph, found by the MTCNN detector of the ``face``
extra and aligned like Aff-Wild2's cropped-aligned frames. The model is the ABAW3 preset with
random weights unless ``SMM_CHECKPOINT`` names a trained checkpoint (a folder from
``save_pretrained`` or a published ``.ckpt``); with random weights, BatchNorm statistics are
set from crops of the face (``torch.optim.swa_utils.update_bn``) so that activations keep a
readable scale. Random weights show the mechanics, not what a trained model sees.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import numpy as np
import torch

import smm
from smm.data import eval_transform


class Example(NamedTuple):
    face: np.ndarray  # (299, 299, 3) uint8, aligned
    landmarks: np.ndarray  # (5, 2) in the aligned face's pixels
    images: torch.Tensor  # (1, 3, 299, 299), normalised
    model: smm.SMMEmotionNet
    out: smm.SMMOutput
    votes: smm.MessageSpaceOutput
    trained: bool


def load_model() -> tuple[smm.SMMEmotionNet, bool]:
    """The checkpoint named by ``SMM_CHECKPOINT``, else the ABAW3 preset with random weights."""
    path = os.environ.get("SMM_CHECKPOINT")
    if not path:
        torch.manual_seed(0)
        return smm.SMMEmotionNet.abaw3(pretrained_backbone=False), False
    if path.endswith(".ckpt"):
        return smm.load_reference_checkpoint(path), True
    return smm.load_checkpoint(path), True


def aligned_face(size: int = 299) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face, aligned to the five-point template at ``size`` pixels, and its landmarks."""
    from skimage import data

    from smm.face import TEMPLATE_112, MTCNNDetector, align_faces

    photo = data.astronaut()
    (faces,) = MTCNNDetector(device="cpu").detect([photo])
    best = int(np.argmax(faces.scores))
    image = torch.from_numpy(photo).permute(2, 0, 1)[None].float()
    landmarks = torch.from_numpy(faces.landmarks[best : best + 1])
    crop = align_faces(image, landmarks, size=size)[0]
    face = crop.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()
    return face, TEMPLATE_112 * (size / 112)


@functools.cache
def example() -> Example:
    face, landmarks = aligned_face()
    model, trained = load_model()
    transform = eval_transform(model.data_config)
    from PIL import Image

    picture = Image.fromarray(face)
    images = transform(picture).unsqueeze(0)
    if not trained:
        import torchvision.transforms.functional as TF
        from torch.optim.swa_utils import update_bn

        crops = torch.stack(
            [transform(TF.resized_crop(picture, i, j, 220, 220, [299, 299])) for i in (0, 40, 79) for j in (0, 40, 79)]
        )
        update_bn([crops], model)
    model.eval()
    with torch.no_grad():
        out = model(images)
        votes = model.message_space(out.region_features, average="none")
    return Example(face, landmarks, images, model, out, votes, trained)


def caveat(figure, trained: bool) -> None:
    """Say on the figure itself when its numbers come from random weights (in space the layout keeps free)."""
    if not trained:
        figure.supxlabel(
            "random weights: the mechanics, not a trained model's reading", fontsize=8, color="0.35", style="italic"
        )
