"""Building models: :func:`create_model` from the registry, :func:`load_checkpoint` from any source.

Both go through :meth:`smm.SMMEmotionNet.from_pretrained` (and so through :mod:`smm.loader`)
whenever weights are involved, so a checkpoint gives one model whichever function loads it.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from smm.model import SMMEmotionNet
from smm.registry import model_entry


def create_model(name: str, pretrained: bool | str | os.PathLike[str] = False, **overrides: Any) -> SMMEmotionNet:
    """Build a registered model, optionally with trained weights.

    Parameters
    ----------
    name : str
        See :func:`smm.list_models`.
    pretrained : bool, str or path-like, default False
        ``True``: the entry's own weights (its cache folder, then its Hub repository; see
        :mod:`smm.loader`); a checkpoint folder or file; ``"hf-hub:org/name"``.
    **overrides
        :class:`~smm.presets.SMMConfig` fields, as for :class:`~smm.SMMEmotionNet`; e.g.
        ``pretrained_backbone=True`` for timm's ImageNet backbone weights (downloads). With
        ``pretrained``, the precedence is: these > the config stored with the weights > the
        entry's defaults, so ``create_model("smm_resnet18", pretrained="runs/demo")`` runs at
        the size the demo was trained at.

    Returns
    -------
    SMMEmotionNet
        In training mode without weights, in eval mode with them.

    Raises
    ------
    FileNotFoundError
        When ``pretrained`` weights cannot be found, saying which file to put where.
    smm.checkpoint.CheckpointError
        When they are not this entry's model, do not fit, or fail the sha256 check.
    """
    entry = model_entry(name)
    if pretrained is False or pretrained is None:
        return SMMEmotionNet(config=entry.config, **overrides)
    return SMMEmotionNet.from_pretrained(pretrained, name=name, **overrides)  # type: ignore[arg-type]


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    backbone: nn.Module | None = None,
    map_location: str | torch.device = "cpu",
    **overrides: Any,
) -> SMMEmotionNet:
    """Load a model from a checkpoint folder or file, in eval mode.

    Parameters
    ----------
    path : path-like
        A folder written by :func:`smm.save_checkpoint` (the one the trainer prints), its
        ``model.safetensors`` (with ``config.json`` beside it; without one the ABAW3 model is
        assumed), a published-code ``.ckpt`` / ``.pt``, a registry name or
        ``"hf-hub:org/name"``.
    backbone : nn.Module, optional
        The backbone instance, for checkpoints of a model with a custom backbone module.
    map_location : str or torch.device, default "cpu"
    **overrides
        :class:`~smm.presets.SMMConfig` fields that the weights do not fix (preprocessing,
        dropout, ``message_average``).

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``, or a folder holds no checkpoint.
    smm.checkpoint.CheckpointError
        (a ``ValueError``) For a file that is not a checkpoint, a folder with two weights
        files, or weights that do not fit the architecture of the config: one line naming both.
    """
    return SMMEmotionNet.from_pretrained(path, backbone=backbone, map_location=map_location, **overrides)


def load_reference_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu", **overrides: Any
) -> SMMEmotionNet:
    """Load a published-code checkpoint (``.ckpt`` / ``.pt``), converted, in eval mode.

    The file is read with ``torch.load(weights_only=True)``, which never executes code from
    it; a Lightning ``.ckpt`` (weights under ``"state_dict"``) and a bare ``state_dict`` are
    both accepted. Heads-only checkpoints build the heads alone. The same as
    :func:`load_checkpoint` on that file.

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device, default "cpu"
    **overrides
        :class:`~smm.presets.SMMConfig` fields the weights do not fix.
    """
    return load_checkpoint(path, map_location=map_location, **overrides)


__all__ = ["create_model", "load_checkpoint", "load_reference_checkpoint"]
