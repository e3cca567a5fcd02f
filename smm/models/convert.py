"""The key mapping from the published SMM-EmotionNet implementation's checkpoints to this library's.

This module is the only place that knows the published code's key names; reading the files
is :mod:`smm.models.checkpoint`'s job and loading them :func:`smm.load_checkpoint`'s. Its
``state_dict`` holds the backbone as a numbered ``nn.Sequential``
(``backbone_CNN.<i>``), one module per region for the ROI embedding
(``AU_Metric_Modules.<u>``) and for the message-space projection
(``transformation_matrices.<u>``); ours stacks the regions into single tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

#: Module names of the published backbone's ``nn.Sequential`` (torchvision's
#: InceptionV3 cut after ``Mixed_6e``); timm's ``inception_v3`` uses the same names.
REFERENCE_BACKBONE_MODULES: tuple[str, ...] = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Pool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "Pool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
)  # fmt: skip

# Modules kept one to one: published prefix -> our prefix.
_RENAMES: dict[str, str] = {
    "AU_attention_convs.": "roi_attention.trunk.",
    "AU_attention_map_module.0.": "roi_attention.map_conv.",
    "AU_attention_classification_module.0.": "roi_attention.logit_conv.",
    "MHA.": "sign_vehicle.transformer.layers.0.",
    "emotion_classifiers.0.fc.weight": "sign_vehicle.au_weight",
    "emotion_classifiers.0.fc.bias": "sign_vehicle.au_bias",
    "emotion_classifiers.1.": "message_space.expr.",
    "emotion_classifiers.2.": "message_space.va.",
}

# Per-region parameters of the published ROI embedding -> our stacked tensors.
_REGION_PARAMS: dict[str, str] = {
    "Conv1.0.weight": "conv1_weight",
    "Conv1.0.bias": "conv1_bias",
    "Conv2.0.weight": "conv2_weight",
    "Conv2.0.bias": "conv2_bias",
    "fc.weight": "fc_weight",
    "fc.bias": "fc_bias",
}
_REGION_BN: dict[str, str] = {"Conv1.1.": "bn1.", "Conv2.1.": "bn2."}

_BACKBONE = re.compile(r"^backbone_CNN\.(\d+)\.(.+)$")
_REGION = re.compile(r"^AU_Metric_Modules\.(\d+)\.(.+)$")
_TRANSFORM = re.compile(r"^transformation_matrices\.(\d+)\.weight$")
_DROPPED = ("positional_encoding.pos_embedding",)  # recomputed from its formula


def convert_reference_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a published-code ``state_dict`` to :class:`~smm.SMMEmotionNet` keys.

    Parameters
    ----------
    state_dict : mapping of str to Tensor
        Keys as saved by the published implementation (the ``"state_dict"`` of its
        Lightning checkpoints), with or without the ``backbone_CNN.*`` entries.

    Returns
    -------
    dict of str to Tensor
        Loads into ``SMMEmotionNet.abaw3()`` (or ``SMMEmotionNet.abaw3(backbone=None)``
        when the input has no backbone keys) with ``strict=True``.

    Raises
    ------
    ValueError
        If a key is not one the published implementation writes, or the
        per-region modules are not numbered 0..U-1.
    """
    out: dict[str, torch.Tensor] = {}
    regions: dict[int, dict[str, torch.Tensor]] = {}
    transforms: dict[int, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        if key in _DROPPED:
            continue
        if match := _BACKBONE.match(key):
            index = int(match.group(1))
            if index >= len(REFERENCE_BACKBONE_MODULES):
                unknown.append(key)
                continue
            out[f"backbone.{REFERENCE_BACKBONE_MODULES[index]}.{match.group(2)}"] = value
        elif match := _REGION.match(key):
            regions.setdefault(int(match.group(1)), {})[match.group(2)] = value
        elif match := _TRANSFORM.match(key):
            transforms[int(match.group(1))] = value
        elif renamed := _rename(key):
            out[renamed] = value
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"state_dict has {len(unknown)} key(s) the published SMM-EmotionNet does not write: {shown}")
    if regions:
        out.update(_stack_regions(regions))
    if transforms:
        out["message_space.transforms"] = torch.stack([transforms[u] for u in _region_order(transforms)])
    return out


def _rename(key: str) -> str | None:
    for old, new in _RENAMES.items():
        if key == old or (old.endswith(".") and key.startswith(old)):
            return new + key[len(old) :]
    return None


def _region_order(per_region: Mapping[int, Any]) -> range:
    count = len(per_region)
    if sorted(per_region) != list(range(count)):
        raise ValueError(f"per-region modules must be numbered 0..{count - 1}, got {sorted(per_region)}")
    return range(count)


def _stack_regions(regions: Mapping[int, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    order = _region_order(regions)
    out: dict[str, torch.Tensor] = {}
    for old, new in _REGION_PARAMS.items():
        stacked = torch.stack([regions[u][old] for u in order])
        if new == "conv1_weight":  # (U, D, C, 3, 3) -> (U * D, C, 3, 3)
            stacked = stacked.flatten(0, 1)
        elif new == "conv2_weight":  # (U, D, D, 1, 1) -> (U, D, D)
            stacked = stacked.flatten(2)
        out[f"roi_embedding.{new}"] = stacked
    for old, new in _REGION_BN.items():
        for stat in ("weight", "bias", "running_mean", "running_var"):
            out[f"roi_embedding.{new}{stat}"] = torch.cat([regions[u][old + stat] for u in order])
        # One counter for the U BatchNorms; they are updated together, so take the largest.
        out[f"roi_embedding.{new}num_batches_tracked"] = torch.stack(
            [regions[u][old + "num_batches_tracked"] for u in order]
        ).max()
    leftover = (
        {name for u in order for name in regions[u]}
        - set(_REGION_PARAMS)
        - {
            old + stat
            for old in _REGION_BN
            for stat in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
        }
    )
    if leftover:
        raise ValueError(f"unexpected per-region keys under AU_Metric_Modules.<u>: {sorted(leftover)}")
    return out
