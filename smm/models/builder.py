"""Building models: :func:`create_model` from the registry, :func:`load_checkpoint` from any source.

Whenever weights are involved both go through :func:`smm.models.loader.build`, the door that
:meth:`smm.SMMEmotionNet.from_pretrained` goes through too, so a checkpoint gives one model
whichever function loads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from smm.models.checkpoint import save_checkpoint
from smm.models.emotionnet import SMMEmotionNet
from smm.models.loader import build
from smm.models.registry import model_entry


def create_model(name: str, pretrained: bool | str | os.PathLike[str] = False, **overrides: Any) -> SMMEmotionNet:
    """Build a registered model, optionally with trained weights.

    Parameters
    ----------
    name : str
        See :func:`smm.list_models`.
    pretrained : bool, str or path-like, default False
        ``True``: the entry's own weights (its cache folder, then its Hub repository; see
        :mod:`smm.models.loader`); a checkpoint folder or file; ``"hf-hub:org/name"``.
    **overrides
        :class:`~smm.models.config.SMMConfig` fields, as for :class:`~smm.SMMEmotionNet`; e.g.
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
    smm.models.checkpoint.CheckpointError
        When they are not this entry's model, do not fit, or fail the sha256 check.
    """
    entry = model_entry(name)
    if pretrained is False or pretrained is None:
        return SMMEmotionNet(config=entry.config, **overrides)
    return build(SMMEmotionNet, pretrained, name=name, **overrides)


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
        :class:`~smm.models.config.SMMConfig` fields that the weights do not fix (preprocessing,
        dropout, ``message_average``).

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``, or a folder holds no checkpoint.
    smm.models.checkpoint.CheckpointError
        (a ``ValueError``) For a file that is not a checkpoint, a folder with two weights
        files, or weights that do not fit the architecture of the config: one line naming both.
    """
    return build(SMMEmotionNet, path, backbone=backbone, map_location=map_location, **overrides)


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
        :class:`~smm.models.config.SMMConfig` fields the weights do not fix.
    """
    return load_checkpoint(path, map_location=map_location, **overrides)


def convert_checkpoint(path: str | os.PathLike[str], folder: str | os.PathLike[str], **card: Any) -> Path:
    """Convert a published-code checkpoint into a checkpoint folder, and check that it gives the same model.

    The written folder is loaded again and both models are run on one fixed input (images, or
    feature maps for a heads-only checkpoint): every output must be equal, bit for bit.

    Parameters
    ----------
    path : path-like
        A published-code ``.ckpt`` / ``.pt``.
    folder : path-like
        Where to write ``model.safetensors``, ``config.json`` and the model card.
    **card
        Model-card facts (:func:`smm.save_checkpoint`); ``converted_from`` is recorded.

    Returns
    -------
    Path
        ``folder/model.safetensors``.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        When the written weights do not reproduce the checkpoint's outputs.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    model = load_reference_checkpoint(path).eval()
    written = save_checkpoint(model, folder, **{"converted_from": str(path), **card})
    generator = torch.Generator().manual_seed(0)
    reloaded = load_checkpoint(folder).eval()
    with torch.no_grad():
        if model.backbone is None:  # a heads-only checkpoint reads feature maps
            inputs = torch.rand(2, model.feature_channels, 17, 17, generator=generator)
            outputs = (model.forward_head(inputs), reloaded.forward_head(inputs))
        else:
            inputs = torch.rand(2, *model.data_config["input_size"], generator=generator)
            outputs = (model(inputs), reloaded(inputs))
    first, again = outputs
    if not all(torch.equal(getattr(first, name), getattr(again, name)) for name in first._fields):
        raise ValueError(f"{written}: the written weights do not reproduce the checkpoint's outputs")
    return written


__all__ = ["convert_checkpoint", "create_model", "load_checkpoint", "load_reference_checkpoint"]
