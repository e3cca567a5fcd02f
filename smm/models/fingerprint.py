"""A model's fingerprint: equal fingerprints, equal models (weights and config)."""

from __future__ import annotations

import hashlib
import json

import torch

from smm.models.emotionnet import SMMEmotionNet


def model_fingerprint(model: SMMEmotionNet) -> str:
    """A sha256 of the model's weights (names, dtypes, shapes, values) and config, as 64 hex digits.

    Exported graphs, measured engine choices and the records of prediction runs are keyed by it,
    so any change of a weight or of the config (the input size too) makes them anew.
    """
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


__all__ = ["model_fingerprint"]
