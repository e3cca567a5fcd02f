"""Save and load SMMEmotionNet checkpoints as ``model.safetensors`` + ``config.json``.

Published-code checkpoints (``.ckpt``, ``.pt``) are read with
:func:`smm.load_reference_checkpoint`; :func:`load_checkpoint` accepts both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from smm.convert import load_reference_checkpoint
from smm.model import SMMEmotionNet

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_checkpoint(model: SMMEmotionNet, folder: str | os.PathLike[str], **extra: Any) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json`` (``model.hparams`` plus ``extra``).

    Needs the ``safetensors`` package.
    """
    from safetensors.torch import save_file

    from smm import __version__

    if model.hparams["backbone"] is not None and not isinstance(model.backbone, torch.nn.Module):
        raise ValueError("save_checkpoint needs a model built from a timm name or without backbone")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS_NAME)
    config = {"smm_version": __version__, "model": model.hparams, **extra}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    return folder / WEIGHTS_NAME


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> SMMEmotionNet:
    """Load a model from a checkpoint file, in eval mode.

    Parameters
    ----------
    path : path-like
        ``model.safetensors`` (with ``config.json`` beside it; without one the ABAW3
        preset is assumed), or a published-code ``.ckpt``/``.pt``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the weights do not fit the architecture (another shape or other keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix != ".safetensors":
        return load_reference_checkpoint(path, map_location=map_location)
    from safetensors.torch import load_file

    config_path = path.with_name(CONFIG_NAME)
    if config_path.is_file():
        hparams = json.loads(config_path.read_text())["model"]
        names = {k: tuple(v) for k in ("region_names", "expression_names", "va_names") if (v := hparams.get(k))}
        model = SMMEmotionNet(**{**hparams, **names})
    else:
        model = SMMEmotionNet.abaw3()
    state = load_file(path, device=str(map_location))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        described = config_path.name if config_path.is_file() else "the ABAW3 preset"
        detail = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))
        raise ValueError(f"checkpoint {path} does not fit the model of {described}: {detail}") from None
    return model.eval()
