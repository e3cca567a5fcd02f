"""Quickstart: build the published ABAW3 model and read every output for one face.

Run with ``python examples/quickstart.py``. Uses the astronaut photograph shipped by
scikit-image when it is installed, otherwise a random image.

Without a checkpoint the weights are random, so the numbers mean nothing: the script says so
and sets the BatchNorm statistics from crops of the face so that they at least keep a readable
scale. ``SMM_CHECKPOINT=runs/demo python examples/quickstart.py`` (a folder written by
``save_pretrained``, or a published ``.ckpt``) prints a trained model's predictions.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn

import smm


def face_image(model: smm.SMMEmotionNet) -> torch.Tensor:
    """A ``(1, 3, H, W)`` face crop, preprocessed as ``model.data_config`` says."""
    _, height, width = model.data_config["input_size"]
    try:
        from skimage import data
    except ImportError:
        return torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    image = torch.from_numpy(data.astronaut()[30:220, 160:350].copy()).permute(2, 0, 1).float() / 255
    image = F.interpolate(image[None], size=(height, width), mode="bilinear", align_corners=False)
    mean = torch.tensor(model.data_config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.data_config["std"]).view(1, 3, 1, 1)
    return (image - mean) / std


def load_model(checkpoint: str | None) -> tuple[smm.SMMEmotionNet, bool]:
    """The checkpoint if one is named, else the ABAW3 preset with random weights; and whether it is trained."""
    if not checkpoint:
        return smm.SMMEmotionNet.abaw3(pretrained_backbone=False), False
    if checkpoint.endswith(".ckpt"):
        return smm.load_reference_checkpoint(checkpoint), True
    return smm.load_checkpoint(checkpoint), True


def main() -> None:
    torch.manual_seed(0)
    model, trained = load_model(os.environ.get("SMM_CHECKPOINT"))
    images = face_image(model)
    if not trained:
        print("RANDOM WEIGHTS (no SMM_CHECKPOINT): the numbers below show the outputs' form, not predictions.")
        crops = torch.cat([images.roll((dy, dx), dims=(2, 3)) for dy in (-8, 0, 8) for dx in (-8, 0, 8)])
        update_bn([crops], model)  # random BatchNorm statistics would give activations of any scale
    model.eval()
    with torch.no_grad():
        out = model(images)
    print("AU occurrence probabilities (sigmoid of out.au):")
    for name, p in zip(model.au_names, torch.sigmoid(out.au[0]).tolist(), strict=True):
        print(f"  {name:>5}: {p:.3f}")
    print("Expression probabilities (softmax of out.expr):")
    for name, p in zip(model.expression_names, torch.softmax(out.expr[0], -1).tolist(), strict=True):
        print(f"  {name:>10}: {p:.3f}")
    valence, arousal = out.va[0].tolist()
    print(f"Valence {valence:+.3f}, arousal {arousal:+.3f} (labels lie in [-1, 1]; raw model outputs)")
    print(f"Attention maps {tuple(out.attention.shape)}, message vector {tuple(out.message.shape)}")


if __name__ == "__main__":
    main()
