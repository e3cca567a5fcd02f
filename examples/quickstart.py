"""Quickstart: build the published ABAW3 model and read every output for one face.

Run with ``python examples/quickstart.py``. Uses the astronaut photograph shipped by
scikit-image when it is installed, otherwise a random image. The weights are random
(``pretrained_backbone=False``, no checkpoint), so the numbers mean nothing yet: load a
trained checkpoint with ``smm.load_reference_checkpoint(path)`` for real predictions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import smm


def face_image(size: int = 299) -> torch.Tensor:
    """A normalised ``(1, 3, size, size)`` face crop."""
    try:
        from skimage import data
    except ImportError:
        return torch.randn(1, 3, size, size)
    image = torch.from_numpy(data.astronaut()[30:220, 160:350].copy()).permute(2, 0, 1).float() / 255
    image = F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (image - mean) / std


def main() -> None:
    model = smm.SMMEmotionNet.abaw3().eval()
    with torch.no_grad():
        out = model(face_image())
    print("AU occurrence probabilities (sigmoid of out.au):")
    for name, p in zip(model.au_names, torch.sigmoid(out.au[0]).tolist(), strict=True):
        print(f"  {name:>5}: {p:.3f}")
    print("Expression probabilities (softmax of out.expr):")
    for name, p in zip(model.expression_names, torch.softmax(out.expr[0], -1).tolist(), strict=True):
        print(f"  {name:>10}: {p:.3f}")
    valence, arousal = out.va[0].tolist()
    print(f"Valence {valence:+.3f}, arousal {arousal:+.3f} (labels lie in [-1, 1])")
    print(f"Attention maps {tuple(out.attention.shape)}, message vector {tuple(out.message.shape)}")


if __name__ == "__main__":
    main()
