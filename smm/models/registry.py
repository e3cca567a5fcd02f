"""A timm-style registry of SMM-EmotionNet models: ``list_models``, ``model_entry``, ``register_model``.

Each entry is a :class:`~smm.models.config.SMMConfig`: the published ABAW3 model and the same heads
on lighter timm backbones. For those, the backbone's stride-16 stage feeds the heads: it
gives a 14x14 map at 224x224 input, close to the 17x17 map of InceptionV3's ``Mixed_6e`` at
299x299 that the 17 region attention maps were designed for (fine enough to separate brows,
eyes, nose and mouth; coarse enough to be cheap).

This module only lists entries; :func:`smm.create_model` builds them, and
``pretrained=True`` finds an entry's weights through :mod:`smm.models.loader`: offline first, in
``$SMM_EMOTIONNET_CACHE/<name>/`` (default ``~/.cache/smm-emotionnet/<name>/``), then the
entry's Hugging Face Hub repository if it names one. To add a backbone preset, register a
:class:`ModelEntry` here.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smm.defaults import CACHE_ENV
from smm.models.config import ABAW3, SMMConfig


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes
    ----------
    name : str
    config : SMMConfig
    description : str
        Why this configuration (backbone stage, input size).
    hf_hub_id : str or None
        Hugging Face Hub repository with ``model.safetensors`` and ``config.json``.
    sha256 : str or None
        Of ``model.safetensors``, checked when known.
    published_weights : str or None
        Where trained weights for this entry were published and how to install them into the
        cache; ``None`` when none were (an architecture to train).
    """

    name: str
    config: SMMConfig
    description: str
    hf_hub_id: str | None = None
    sha256: str | None = None
    published_weights: str | None = None


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add an entry (a name may be registered once)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"a model named {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (``"smm_res*"``), sorted."""
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return _REGISTRY[name]


def cache_dir() -> Path:
    """``$SMM_EMOTIONNET_CACHE``, or ``~/.cache/smm-emotionnet``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "smm-emotionnet")


def _light(backbone: str, feature_index: int, why: str) -> Callable[[], ModelEntry]:
    return lambda: ModelEntry(
        f"smm_{backbone}",
        ABAW3.replace(
            backbone=backbone, feature_index=feature_index, feature_channels=None, image_size=224, crop_pct=1.0
        ),
        f"The ABAW3 heads on timm's {backbone}, stage {feature_index} (stride 16): {why}",
    )


register_model(
    ModelEntry(
        "smm_abaw3",
        ABAW3,
        "The published ABAW3 model: InceptionV3 to Mixed_6e (768x17x17 at 299x299), 17 regions, D=16.",
        published_weights=(
            "the published checkpoint (a PyTorch Lightning .ckpt) is linked from the README of "
            "https://github.com/wtomin/ABAW3_MultiEmotionNet; download it, then install it with: "
            "smm-emotionnet convert --checkpoint PATH/TO/FILE.ckpt --install"
        ),
    )
)
for _make in (
    _light("resnet18", 3, "256 channels, the smallest classic CNN; a quick baseline."),
    _light("resnet50", 3, "1024 channels, the common research baseline."),
    _light("mobilenetv3_large_100", 3, "112 channels, for phones and laptops without a GPU."),
    _light("efficientnet_b0", 3, "112 channels, accurate for its cost."),
    _light("convnext_tiny", 2, "384 channels, a modern CNN close to InceptionV3's cost."),
):
    register_model(_make())
