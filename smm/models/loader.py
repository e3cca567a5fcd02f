"""The one door for weights: any source to a state dict, the config the model is built from, and the model.

:func:`smm.load_checkpoint`, :func:`smm.create_model` with ``pretrained=`` and
:meth:`smm.SMMEmotionNet.from_pretrained` all call :func:`build`, which reads the source
(:func:`read_weights`), decides the config (:meth:`Weights.config_for`), builds the model and
loads the weights into it strictly, so one source gives one model, whichever door it goes
through. The model's class is passed in, so this module never imports it.

Sources (:func:`resolve_source`):

- a checkpoint **folder**: its one weights file (:func:`smm.models.checkpoint.weights_file`) and the
  ``config.json`` beside it;
- a **file**: ``model.safetensors`` (with the ``config.json`` beside it, if any) or a
  published-code ``.ckpt`` / ``.pt`` (converted by :mod:`smm.models.convert`; it is the ABAW3 model);
- a **registry name** (``"smm_abaw3"``): its cache folder ``$SMM_EMOTIONNET_CACHE/<name>/``
  (default ``~/.cache/smm-emotionnet/<name>/``), else its Hugging Face Hub repository;
- ``"hf-hub:org/name"``: that Hub repository's ``model.safetensors`` and ``config.json``
  (needs ``huggingface_hub``; nothing else is ever downloaded).

One precedence rule (:meth:`Weights.config_for`): **explicit keyword overrides > the config
stored with the weights > the registry entry's defaults**. Overrides may change preprocessing
and other fields that the weights do not fix; an override of the architecture that disagrees
with the stored config is an error naming both, never a silent pick.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from smm.defaults import CACHE_ENV
from smm.models.checkpoint import (
    CONFIG_NAME,
    REFERENCE_SUFFIXES,
    WEIGHTS_NAME,
    CheckpointError,
    load_weights,
    read_config,
    read_reference_state_dict,
    read_safetensors,
    weights_file,
)
from smm.models.config import ABAW3, RENAMED_FIELDS, SMMConfig
from smm.models.convert import convert_reference_state_dict
from smm.models.registry import ModelEntry, cache_dir, list_models, model_entry

if TYPE_CHECKING:
    from smm.models.emotionnet import SMMEmotionNet

HUB_PREFIX = "hf-hub:"

#: Config fields that the weights fix: an override that disagrees with the stored config is an error
#: (one that the stored config leaves unrecorded, ``None``, may be given).
ARCHITECTURE_FIELDS = (
    "backbone",
    "feature_index",
    "in_chans",
    "feature_channels",
    "region_names",
    "num_labelled",
    "dim",
    "nhead",
    "dim_feedforward",
    "num_layers",
    "tokens",
    "expression_names",
    "va_names",
    "backbone_kwargs",
)


@dataclass(frozen=True)
class Source:
    """Where a source's files are.

    Attributes
    ----------
    weights : Path
        The weights file.
    config : Path or None
        The ``config.json`` stored with them, if any.
    entry : ModelEntry or None
        The registry entry the source was found through (a name, or ``pretrained=True``).
    """

    weights: Path
    config: Path | None = None
    entry: ModelEntry | None = None


@dataclass(frozen=True)
class Weights:
    """A source's tensors (in this library's keys) and the config stored with them.

    Attributes
    ----------
    state : dict of str to Tensor
    stored : SMMConfig or None
        The config stored with the weights (``config.json``; the ABAW3 config for a
        published-code checkpoint); ``None`` for a bare ``model.safetensors``.
    source : Source
    described : str
        What the stored config is, for error messages (``"runs/demo/config.json"``).
    card : mapping
        The model-card facts stored in ``config.json`` (``{}`` without one).
    """

    state: dict[str, torch.Tensor]
    stored: SMMConfig | None
    source: Source
    described: str
    card: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_backbone(self) -> bool:
        """Whether the weights include a backbone."""
        return any(key.startswith("backbone.") for key in self.state)

    def config_for(self, name: str | None = None, **overrides: Any) -> SMMConfig:
        """The config to build the model with: overrides > stored config > the registry entry ``name``.

        Raises
        ------
        CheckpointError
            When the stored config's architecture is not the registry entry's, or an override
            of an architecture field disagrees with the stored config: one line naming both.
        TypeError
            For an unknown field name.
        """
        overrides = {RENAMED_FIELDS.get(k, k): v for k, v in overrides.items()}
        entry = model_entry(name).config if name is not None else None
        if self.stored is None:
            base = entry if entry is not None else ABAW3
            if not self.has_backbone:
                base = base.replace(backbone=None)
        else:
            base = self.stored
            if entry is not None:
                # The backbone and its stage say which entry it is; other fields are variants of it.
                clash = _first_clash(entry, base, ("backbone", "feature_index"))
                if clash is not None and not (clash[0] == "backbone" and base.backbone is None):
                    key, wanted, stored = clash
                    raise CheckpointError(
                        f"{self.described} is not a {name!r} model: it has {key}={stored!r}, the registry entry "
                        f"{key}={wanted!r}; load it with smm.load_checkpoint, or pick the entry it was trained as"
                    )
        for key, value in overrides.items():
            stored_value = getattr(base, key, None) if self.stored is not None else None
            # A field the weights fix, stored with them (None: not recorded), must not be overridden otherwise.
            if (
                key in ARCHITECTURE_FIELDS
                and stored_value is not None
                and _normalised(value) != _normalised(stored_value)
            ):
                raise CheckpointError(
                    f"{self.described} has {key}={stored_value!r}, but the keyword override says "
                    f"{key}={value!r}; the weights fix it: drop the override, or use a checkpoint of that model"
                )
        return base.replace(**overrides)


def resolve_source(source: str | os.PathLike[str] | bool, *, name: str | None = None) -> Source:
    """The files a source means (see the module docstring).

    Parameters
    ----------
    source : path-like, str or True
        A folder, a file, a registry name, ``"hf-hub:org/name"``, or ``True`` for the
        registry entry ``name``'s own weights.
    name : str, optional
        The registry entry, with ``source=True``.

    Raises
    ------
    FileNotFoundError
        When nothing is found, saying what to put where.
    CheckpointError
        For a folder that holds two weights files.
    """
    if source is True:
        if name is None:
            raise ValueError("pretrained=True needs a registry name (create_model(name, pretrained=True))")
        return _from_registry(model_entry(name))
    if isinstance(source, bool) or source is None:
        raise TypeError(f"source must be a path, a registry name or 'hf-hub:org/name', got {source!r}")
    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        return _from_hub(source[len(HUB_PREFIX) :], None)
    path = Path(source)
    if path.is_dir():
        found = weights_file(path)
        return Source(found, _config_beside(found))
    if path.is_file():
        return Source(path, _config_beside(path))
    if isinstance(source, str) and source in list_models():
        return _from_registry(model_entry(source))
    raise FileNotFoundError(
        f"checkpoint {path} does not exist (nor is it a registered model: {', '.join(list_models())})"
    )


def read_weights(
    source: str | os.PathLike[str] | bool | Source,
    *,
    name: str | None = None,
    map_location: str | torch.device = "cpu",
) -> Weights:
    """Read a source's tensors (converted from the published keys if need be) and its stored config.

    Raises
    ------
    FileNotFoundError, CheckpointError
        See :func:`resolve_source`; also a file that is not a checkpoint, or a recorded
        sha256 that does not match.
    """
    found = source if isinstance(source, Source) else resolve_source(source, name=name)
    path = found.weights
    entry = found.entry if found.entry is not None else model_entry(name) if name is not None else None
    if entry is not None and entry.sha256 is not None:
        _check_sha256(path, entry)
    if path.suffix == ".safetensors":
        state = read_safetensors(path, map_location)
        if found.config is not None:
            return Weights(state, read_config(found.config), found, str(found.config), _card(found.config))
        model = f"registry entry {name!r}" if name is not None else "the ABAW3 model"
        return Weights(state, None, found, f"{model} (no {CONFIG_NAME} beside {path.name})")
    if path.suffix not in REFERENCE_SUFFIXES:
        raise CheckpointError(
            f"{path}: not a checkpoint file (expected .safetensors or a published-code {', '.join(REFERENCE_SUFFIXES)})"
        )
    state = convert_reference_state_dict(read_reference_state_dict(path, map_location))
    stored = ABAW3 if any(k.startswith("backbone.") for k in state) else ABAW3.replace(backbone=None)
    return Weights(state, stored, found, f"{path} (a published-code checkpoint of the ABAW3 model)")


def build(
    cls: type[SMMEmotionNet],
    source: str | os.PathLike[str] | bool,
    *,
    name: str | None = None,
    backbone: nn.Module | str | None = None,
    map_location: str | torch.device = "cpu",
    **overrides: Any,
) -> SMMEmotionNet:
    """The model of ``source``, built as ``cls`` with the config that wins, its weights loaded strictly; in eval mode.

    Parameters
    ----------
    cls : type
        :class:`smm.SMMEmotionNet` or a subclass.
    source : path-like, str or True
        See :func:`resolve_source`.
    name : str, optional
        The registry entry whose defaults apply where the weights store no config.
    backbone : nn.Module or str, optional
        A backbone instance, for a model with a custom backbone module; a timm name is taken
        as the ``backbone`` override, checked against the stored config.
    map_location : str or torch.device, default "cpu"
    **overrides
        Config fields; see :meth:`Weights.config_for`.

    Raises
    ------
    FileNotFoundError, CheckpointError
        See :func:`read_weights`, :meth:`Weights.config_for` and
        :func:`smm.models.checkpoint.load_weights`.
    """
    if isinstance(backbone, str):
        overrides["backbone"], backbone = backbone, None
    weights = read_weights(source, name=name, map_location=map_location)
    config = weights.config_for(name, **overrides)
    model = cls(backbone, config=config) if backbone is not None else cls(config=config)
    load_weights(model, weights.state, f"weights {weights.source.weights}", weights.described)
    model.card = dict(weights.card)
    return model.eval()


def _config_beside(weights: Path) -> Path | None:
    config = weights.with_name(CONFIG_NAME)
    return config if weights.suffix == ".safetensors" and config.is_file() else None


def _from_registry(entry: ModelEntry) -> Source:
    folder = cache_dir() / entry.name
    if folder.is_dir():
        try:
            found = weights_file(folder)
        except FileNotFoundError:
            pass
        else:
            return Source(found, _config_beside(found), entry)
    if entry.hf_hub_id is not None:
        try:
            return _from_hub(entry.hf_hub_id, entry)
        except (ImportError, OSError) as error:
            reason = f" (Hugging Face Hub: {error})"
    else:
        reason = ""
    if entry.published_weights is not None:
        raise FileNotFoundError(
            f"no weights for {entry.name!r} in {folder}/ (set {CACHE_ENV} to use another folder): "
            f"{entry.published_weights}{reason}"
        )
    raise FileNotFoundError(
        f"no weights are published for {entry.name!r}: it is an architecture to train "
        f"(smm-emotionnet train --model {entry.name}); pass pretrained='path/to/your/run' to load your own, "
        f"or put {WEIGHTS_NAME} with its {CONFIG_NAME} in {folder}/{reason}"
    )


def _from_hub(repo: str, entry: ModelEntry | None) -> Source:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as error:
        raise ImportError("loading from the Hugging Face Hub needs: pip install huggingface_hub") from error
    weights = Path(hf_hub_download(repo, WEIGHTS_NAME))
    config = Path(hf_hub_download(repo, CONFIG_NAME))
    return Source(weights, config, entry)


def _check_sha256(path: Path, entry: ModelEntry) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != entry.sha256:
        raise CheckpointError(
            f"{path}: sha256 {digest.hexdigest()} is not the one recorded for {entry.name!r} ({entry.sha256}); "
            "the file is corrupt or not these weights"
        )


def _card(config: Path) -> dict[str, Any]:
    import json

    try:
        card = json.loads(config.read_text()).get("card", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return card if isinstance(card, dict) else {}


def _normalised(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_normalised(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _normalised(v)) for k, v in value.items()))
    return value


def _first_clash(wanted: SMMConfig, stored: SMMConfig, keys: tuple[str, ...]) -> tuple[str, Any, Any] | None:
    for key in keys:
        if _normalised(getattr(wanted, key)) != _normalised(getattr(stored, key)):
            return key, getattr(wanted, key), getattr(stored, key)
    return None


__all__ = ["ARCHITECTURE_FIELDS", "Source", "Weights", "build", "read_weights", "resolve_source"]
