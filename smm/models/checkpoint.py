"""Checkpoint files: a folder with ``model.safetensors``, ``config.json`` and a model card ``README.md``.

This module reads and writes the files and nothing else; :mod:`smm.models.loader` decides which
files a source means and which config wins, and :func:`smm.load_checkpoint` builds the model.

``config.json`` holds the model's :class:`~smm.models.config.SMMConfig` (architecture and
preprocessing), so a loaded model runs with the input size and normalisation it was trained
with. Published-code checkpoints (``.ckpt``, ``.pt``) are read here too
(:func:`read_reference_state_dict`); :mod:`smm.models.convert` maps their keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from smm._atomic import atomic_write
from smm._version import __version__
from smm.models.config import RENAMED_FIELDS, SMMConfig

if TYPE_CHECKING:
    from smm.models.emotionnet import SMMEmotionNet

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
REFERENCE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
#: Files the trainer keeps beside its model that are not weights to load (its resume state).
NOT_WEIGHTS = ("resume.pt",)


class CheckpointError(ValueError):
    """A file that is not a checkpoint, or weights that do not fit the model; one short line."""


def save_checkpoint(model: SMMEmotionNet, folder: str | os.PathLike[str], **card: Any) -> Path:
    """Save ``model`` to ``folder``: weights, config and a model card.

    Each file is written to a temporary file and renamed into place, so an interrupted save
    leaves the previous checkpoint in the folder intact.

    Parameters
    ----------
    model : SMMEmotionNet
    folder : path-like
        Created if needed.
    **card
        JSON-able facts recorded in ``config.json`` under ``"card"`` and listed in the model
        card, e.g. ``training_data="Aff-Wild2 (ABAW3)"``, ``metrics={"P_MTL": 1.8}``;
        ``intended_use=`` and ``limitations=`` replace the card's default sections,
        ``license="..."``, ``steps=...``.

    Returns
    -------
    Path
        ``folder/model.safetensors``.

    Notes
    -----
    A model with a custom backbone module is saved with its backbone weights, and its config
    names the module's class; load it with ``load_checkpoint(folder, backbone=<an instance>)``.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = {
        "smm_version": __version__,
        "architecture": type(model).__name__,
        "config": model.config.to_dict(),
        "card": _jsonable(card),
    }
    atomic_write(folder / WEIGHTS_NAME, lambda path: save_file(state, str(path), metadata={"format": "pt"}))
    atomic_write(folder / CONFIG_NAME, lambda path: path.write_text(json.dumps(config, indent=2) + "\n"))
    atomic_write(folder / CARD_NAME, lambda path: path.write_text(_model_card(model, card)))
    return folder / WEIGHTS_NAME


def read_safetensors(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; :class:`CheckpointError` if it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device=str(map_location))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a checkpoint (not a safetensors file: {error})") from None


def load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], what: str, described: str) -> None:
    """``model.load_state_dict(state, strict=True)`` with a one-line error naming both architectures."""
    expected = model.state_dict()
    problem = _first_difference(state, expected)
    if problem is None:
        model.load_state_dict(state, strict=True)
        return
    weights, wanted = describe_weights(state), describe_weights(expected)
    if weights != wanted:
        raise CheckpointError(
            f"{what} does not fit the model of {described}: the weights are for {weights}; "
            f"the model has {wanted} (backbone {model.config.backbone})"
        )
    raise CheckpointError(f"{what} does not fit the model of {described} ({model.config.backbone}): {problem}")


def describe_weights(state: Mapping[str, torch.Tensor]) -> str:
    """A short description of the architecture a state dict fits: channels, regions, classes, ..."""

    def size(key: str, dim: int) -> str:
        return str(state[key].shape[dim]) if key in state and state[key].ndim > dim else "?"

    backbone = sum(k.startswith("backbone.") for k in state)
    tail = f"a backbone of {backbone} tensors" if backbone else "no backbone"
    return (
        f"C={size('roi_embedding.conv1_weight', 1)} channels, U={size('roi_attention.map_conv.weight', 0)} regions, "
        f"H={size('sign_vehicle.au_weight', 0)} AUs, K={size('message_space.expr.weight', 0)} classes, "
        f"D={size('roi_embedding.conv2_weight', 1)}, {tail}"
    )


def _first_difference(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str | None:
    missing = [k for k in expected if k not in state]
    if missing:
        return f"{len(missing)} tensor(s) missing, e.g. {missing[0]}"
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        return f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]}"
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            return f"{key} has shape {tuple(state[key].shape)}, the model {tuple(value.shape)}"
    return None


def weights_file(folder: str | os.PathLike[str]) -> Path:
    """The one weights file of a checkpoint folder.

    ``model.safetensors`` (else a single other ``*.safetensors``), or a single published-code
    file (``.ckpt``, ``.pt``, ``.pth``, ``.bin``; the trainer's ``resume.pt`` is not one).

    Raises
    ------
    FileNotFoundError
        If the folder holds no weights file.
    CheckpointError
        If it holds two candidates (say ``model.safetensors`` and a ``.ckpt``): one line
        naming both, never a silent pick.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    ours = folder / WEIGHTS_NAME
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    safetensors = [ours] if ours.is_file() else [p for p in files if p.suffix == ".safetensors"]
    published = [p for p in files if p.suffix in REFERENCE_SUFFIXES and p.name not in NOT_WEIGHTS]
    found = safetensors + published
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(
            f"checkpoint folder {folder} holds no weights: expected {WEIGHTS_NAME} (with its {CONFIG_NAME}) "
            f"or a published-code checkpoint ({', '.join(REFERENCE_SUFFIXES)})"
        )
    raise CheckpointError(
        f"checkpoint folder {folder} is ambiguous: it holds {found[0].name} and {found[1].name}"
        f"{f' (and {len(found) - 2} more)' if len(found) > 2 else ''}; pass the file you mean"
    )


def read_config(path: str | os.PathLike[str]) -> SMMConfig:
    """The :class:`~smm.models.config.SMMConfig` of a ``config.json`` (this release's or 0.1's).

    Raises
    ------
    CheckpointError
        If the file is not JSON or holds no config, naming the file.
    """
    return _read_config(Path(path))


def _read_config(path: Path) -> SMMConfig:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not a checkpoint config (not JSON: {error})") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror or error})") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        return SMMConfig.from_dict(data["config"])
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        return _legacy_config(data["model"], data)
    raise CheckpointError(f"{path}: not a checkpoint config (no 'config' entry)")


def _legacy_config(hparams: Mapping[str, Any], data: Mapping[str, Any]) -> SMMConfig:
    """The config of a 0.1 checkpoint (``{"model": hparams}``): no preprocessing was recorded."""
    hparams = {RENAMED_FIELDS.get(k, k): v for k, v in hparams.items()}
    known = {k: v for k, v in hparams.items() if v is not None or k in ("backbone", "feature_channels")}
    for count, names in (("num_regions", "region_names"), ("num_classes", "expression_names"), ("va_dim", "va_names")):
        if known.get(names) is not None:
            known.pop(count, None)
    known.setdefault("backbone_kwargs", {})
    if known.get("backbone_kwargs") is None:
        known["backbone_kwargs"] = {}
    if "image_size" in data:  # written by 0.1's examples/train.py
        known["image_size"] = int(data["image_size"])
    return SMMConfig().replace(**known)


def _jsonable(card: Mapping[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(dict(card))
    except TypeError as error:
        raise TypeError(f"model card entries must be JSON-able (str, numbers, lists, dicts): {error}") from None
    return dict(card)


def _model_card(model: SMMEmotionNet, card: Mapping[str, Any]) -> str:
    config = model.config
    lines = [
        "---",
        "library_name: smm-emotionnet",
        f"license: {card.get('license', 'other')}",
        "tags: [facial-action-units, expression-recognition, valence-arousal, abaw]",
        "---",
        "",
        "# SMM-EmotionNet checkpoint",
        "",
        f"Saved with smm-emotionnet {__version__}. Load it with:",
        "",
        "```python",
        "import smm",
        'model = smm.load_checkpoint("path/to/this/folder")',
        "```",
        "",
        "## Model",
        "",
        f"- backbone: `{config.backbone}` (feature stage {config.feature_index}, {model.feature_channels} channels)",
        f"- regions: {config.num_regions}; labelled AUs: {', '.join(config.au_names)}",
        f"- expressions: {', '.join(config.expression_names)}; continuous: {', '.join(config.va_names)}",
        f"- input: {config.input_size[1]}x{config.input_size[2]}, mean {list(config.mean)}, std {list(config.std)}, "
        f"{config.interpolation} resize ({config.crop_mode})",
        "",
        "## Training",
        "",
        f"- training data: {card.get('training_data', 'not recorded')}",
        f"- metrics: {json.dumps(card['metrics']) if 'metrics' in card else 'not recorded'}",
        f"- license: {card.get('license', 'not recorded')}",
    ]
    fixed = ("training_data", "metrics", "license", "intended_use", "limitations")
    extra = {k: v for k, v in card.items() if k not in fixed}
    lines += [f"- {key}: {json.dumps(value)}" for key, value in extra.items()]
    lines += [
        "",
        "## Intended use",
        "",
        card.get("intended_use", _INTENDED_USE),
        "",
        "## Limitations",
        "",
        card.get("limitations", _LIMITATIONS),
        "",
        "## Citation",
        "",
        "```bibtex",
        _PAPER_BIBTEX,
        "```",
    ]
    return "\n".join(lines) + "\n"


_INTENDED_USE = (
    "Research on facial behaviour: action unit occurrence, expression and valence/arousal estimation from "
    "aligned face crops, e.g. in the ABAW challenges. Not for decisions about individuals (hiring, "
    "policing, health, education) and not as evidence of what a person feels."
)
_LIMITATIONS = (
    "Outputs are what the training data's annotators would perceive, not a person's inner state. AU outputs "
    "are occurrence probabilities, not intensities. Accuracy drops for faces aligned differently from the "
    "training crops, for strong head poses, occlusion and poor light, and may differ between groups of "
    "people that the training data under-represents; measure it on your own data before relying on it."
)
_PAPER_BIBTEX = """@article{deng2022multiple,
  title         = {Multiple Emotion Descriptors Estimation at the {ABAW3} Challenge},
  author        = {Deng, Didan},
  year          = {2022},
  eprint        = {2203.12845},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CV},
}"""


def read_reference_state_dict(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> Mapping[str, torch.Tensor]:
    """The ``state_dict`` of a published-code checkpoint, read with ``torch.load(weights_only=True)``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CheckpointError
        If it is not a checkpoint (an image, text, a pickle of other objects).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {os.fspath(path)} does not exist")
    with open(path, "rb") as file:
        head = file.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch's zip format, or a legacy pickle
        raise CheckpointError(f"{os.fspath(path)}: not a checkpoint (neither safetensors nor a PyTorch file)")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types here; its text advises weights_only=False
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if any(word in first.lower() for word in ("weights_only", "weights only", "unsupported")):
            first = "it holds objects other than tensors, which are not loaded"
        raise CheckpointError(
            f"{os.fspath(path)}: not a checkpoint (torch.load with weights_only=True: {first})"
        ) from None
    state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{os.fspath(path)}: not a checkpoint (no state_dict of tensors)")
    return state_dict
