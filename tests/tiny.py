"""The small model of the face, prediction and run tests, defined once: ResNet-18 heads of width 8 at 64 px.

Tests take it as the ``model`` fixture (a fresh one per test module, :mod:`tests.conftest`), as
``tiny_model`` (one per session, never changed) or ``tiny_checkpoint``; :func:`tiny_emotionnet`
is for a test that needs a second one (another seed, or weights it changes).
"""

from __future__ import annotations

from typing import Any

import torch

#: The architecture: timm's ResNet-18 (pretrained=False), D=8, two heads, 64 x 64 inputs.
TINY: dict[str, Any] = {"dim": 8, "nhead": 2, "dim_feedforward": 16, "image_size": 64}


def tiny_emotionnet(seed: int | None = 0) -> Any:
    """A fresh small SMMEmotionNet in eval mode, its weights drawn after ``torch.manual_seed(seed)`` (``None``: as
    the generator stands)."""
    import smm

    if seed is not None:
        torch.manual_seed(seed)
    return smm.SMMEmotionNet("resnet18", **TINY).eval()


class RecordingEngine:
    """An engine that runs eager fp32 PyTorch and records the size of every batch it is given (``sizes``)."""

    name = "recording"

    def __init__(self, model: Any) -> None:
        from smm.inference.engines import EagerEngine

        self.eager = EagerEngine(model, "fp32")
        self.sizes: list[int] = []

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.sizes.append(batch.shape[0])
        return self.eager(batch)
