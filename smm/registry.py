"""A timm-style registry of SMM-EmotionNet models: ``create_model``, ``list_models``.

Each entry is a :class:`~smm.presets.SMMConfig`: the published ABAW3 model and the same heads
on lighter timm backbones. For those, the backbone's stride-16 stage feeds the heads: it
gives a 14x14 map at 224x224 input, close to the 17x17 map of InceptionV3's ``Mixed_6e`` at
299x299 that the 17 region attention maps were designed for (fine enough to separate brows,
eyes, nose and mouth; coarse enough to be cheap).

``pretrained=True`` looks for weights offline first and never downloads from anywhere but
the Hugging Face Hub, and only for an entry that names a Hub repository:

1. a file or folder given as ``pretrained="path"`` (or ``pretrained="hf-hub:org/name"``);
2. ``$SMM_EMOTIONNET_CACHE/<name>/`` (default ``~/.cache/smm-emotionnet/<name>/``) holding
   ``model.safetensors`` (or a published-code ``model.ckpt``, converted on load);
3. the entry's Hub repository through ``huggingface_hub``, when it is installed.

Weights are read from safetensors only (a published ``.ckpt`` is read with
``torch.load(weights_only=True)`` and converted), and checked against the entry's sha256
when one is recorded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smm.presets import ABAW3, SMMConfig

CACHE_ENV = "SMM_EMOTIONNET_CACHE"


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
    """

    name: str
    config: SMMConfig
    description: str
    hf_hub_id: str | None = None
    sha256: str | None = None


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


def create_model(name: str, pretrained: bool | str | os.PathLike[str] = False, **overrides: Any):
    """Build a registered model, optionally with trained weights.

    Parameters
    ----------
    name : str
        See :func:`list_models`.
    pretrained : bool or path-like, default False
        ``True``: find the entry's weights (see the module docstring); a path: a checkpoint
        file or folder; ``"hf-hub:org/name"``: that Hub repository.
    **overrides
        :class:`~smm.presets.SMMConfig` fields, as for :class:`~smm.SMMEmotionNet`; e.g.
        ``pretrained_backbone=True`` for timm's ImageNet backbone weights (downloads).

    Returns
    -------
    SMMEmotionNet
        In training mode without weights, in eval mode with them.

    Raises
    ------
    FileNotFoundError
        When ``pretrained`` weights cannot be found, saying which file to put where.
    smm.checkpoint.CheckpointError
        When they do not fit the model or fail the sha256 check.
    """
    from smm.model import SMMEmotionNet

    entry = model_entry(name)
    model = SMMEmotionNet(config=entry.config, **overrides)
    if pretrained is False or pretrained is None:
        return model
    from smm.checkpoint import load_weights, read_safetensors

    path = resolve_weights(entry, pretrained)
    if path.suffix == ".safetensors":
        _check_sha256(path, entry)
        state = read_safetensors(path)
    else:
        from smm.convert import convert_reference_state_dict, read_reference_state_dict

        state = convert_reference_state_dict(read_reference_state_dict(path))
    load_weights(model, state, f"weights {path}", f"registry entry {name!r}")
    return model.eval()


def cache_dir() -> Path:
    """``$SMM_EMOTIONNET_CACHE``, or ``~/.cache/smm-emotionnet``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "smm-emotionnet")


def resolve_weights(entry: ModelEntry, pretrained: bool | str | os.PathLike[str]) -> Path:
    """The weights file for ``entry`` (see the module docstring for the order)."""
    from smm.checkpoint import REFERENCE_SUFFIXES, WEIGHTS_NAME

    if isinstance(pretrained, str) and pretrained.startswith("hf-hub:"):
        return _from_hub(pretrained[len("hf-hub:") :], entry)
    if not isinstance(pretrained, bool):
        path = Path(pretrained)
        if path.is_dir():
            found = _weights_in(path, WEIGHTS_NAME, REFERENCE_SUFFIXES)
            if found is None:
                raise FileNotFoundError(f"no {WEIGHTS_NAME} (or published .ckpt) in {path}")
            return found
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        return path
    folder = cache_dir() / entry.name
    found = _weights_in(folder, WEIGHTS_NAME, REFERENCE_SUFFIXES) if folder.is_dir() else None
    if found is not None:
        return found
    if entry.hf_hub_id is not None:
        try:
            return _from_hub(entry.hf_hub_id, entry)
        except (ImportError, OSError) as error:
            reason = f" (Hugging Face Hub: {error})"
    else:
        reason = ""
    raise FileNotFoundError(
        f"no weights for {entry.name!r}: put {WEIGHTS_NAME} (with its config.json) or the published-code "
        f"checkpoint as model.ckpt in {folder}/ (set {CACHE_ENV} to use another folder), or pass "
        f"pretrained='path/to/checkpoint'{reason}"
    )


def _weights_in(folder: Path, name: str, reference: tuple[str, ...]) -> Path | None:
    if (folder / name).is_file():
        return folder / name
    candidates = sorted(p for p in folder.iterdir() if p.suffix in reference)
    return candidates[0] if len(candidates) == 1 else None


def _from_hub(repo: str, entry: ModelEntry) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as error:
        raise ImportError("loading from the Hugging Face Hub needs: pip install huggingface_hub") from error
    from smm.checkpoint import CONFIG_NAME, WEIGHTS_NAME

    weights = Path(hf_hub_download(repo, WEIGHTS_NAME))
    hf_hub_download(repo, CONFIG_NAME)
    return weights


def _check_sha256(path: Path, entry: ModelEntry) -> None:
    if entry.sha256 is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != entry.sha256:
        from smm.checkpoint import CheckpointError

        raise CheckpointError(
            f"{path}: sha256 {digest.hexdigest()} is not the one recorded for {entry.name!r} ({entry.sha256}); "
            "the file is corrupt or not these weights"
        )


def _light(backbone: str, feature_index: int, why: str) -> Callable[[], ModelEntry]:
    return lambda: ModelEntry(
        f"smm_{backbone}",
        ABAW3.replace(backbone=backbone, feature_index=feature_index, in_channels=None, image_size=224, crop_pct=1.0),
        f"The ABAW3 heads on timm's {backbone}, stage {feature_index} (stride 16): {why}",
    )


register_model(
    ModelEntry(
        "smm_abaw3",
        ABAW3,
        "The published ABAW3 model: InceptionV3 to Mixed_6e (768x17x17 at 299x299), 17 regions, D=16.",
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
