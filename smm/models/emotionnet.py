"""SMMEmotionNet: a timm backbone followed by the four SMM heads (Figure 1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import timm
import torch
from torch import nn

from smm._checks import check_dim, check_ndim, tracing
from smm._compat import renamed_kwargs, warn_renamed
from smm.layers.attention import ROIAttention
from smm.layers.embedding import ROIEmbedding
from smm.layers.message_space import MessageSpaceHead
from smm.layers.sign_vehicle import SignVehicleHead
from smm.models.checkpoint import save_checkpoint
from smm.models.config import ABAW3, PREPROCESSING_FIELDS, RENAMED_FIELDS, SMMConfig
from smm.models.loader import build


class _Unset:
    """Marks a constructor argument that was not given."""

    def __repr__(self) -> str:
        return "<config's>"


_UNSET = _Unset()


class SMMOutput(NamedTuple):
    """Everything :class:`SMMEmotionNet` computes for a batch.

    Attributes
    ----------
    au : Tensor[B, H]
        AU logits; ``torch.sigmoid(au)`` are occurrence probabilities.
    expr : Tensor[B, K]
        Expression logits; ``torch.softmax(expr, -1)`` are class probabilities.
    va : Tensor[B, V]
        Valence and arousal, raw linear outputs as in the published code (the
        labels lie in [-1, 1]; clamp or ``tanh`` at inference if you need the range).
    au_features : Tensor[B, H, D]
        Each labelled AU's vector in the sign-vehicle space.
    message : Tensor[B, D]
        The message vector (mean over regions of ``A_u f_u``).
    attention : Tensor[B, U, h, w]
        Region attention maps in (0, 1).
    attention_logits : Tensor[B, U]
        Per-region attention logits (the ROI attention classification branch).
    region_features : Tensor[B, U, D]
        The region embeddings ``f``; pass them to ``model.message_space(f, "none")``
        for per-region votes.
    """

    au: torch.Tensor
    expr: torch.Tensor
    va: torch.Tensor
    au_features: torch.Tensor
    message: torch.Tensor
    attention: torch.Tensor
    attention_logits: torch.Tensor
    region_features: torch.Tensor


class SMMEmotionNet(nn.Module):
    """Sign-and-Message Multi-Emotion Net: AUs, expressions and valence/arousal from a face.

    ``backbone -> ROIAttention -> ROIEmbedding -> (SignVehicleHead, MessageSpaceHead)``.

    The model is built from one :class:`~smm.models.config.SMMConfig` (architecture and
    preprocessing), by default the published ABAW3 model, with keyword overrides of any of
    its fields: ``SMMEmotionNet()`` is the published model,
    ``SMMEmotionNet("resnet18", num_regions=5, num_labelled=3)`` a variant. The resolved
    config is ``model.config`` and is saved with the weights; ``model.data_config`` is its
    preprocessing in timm's vocabulary.

    Parameters
    ----------
    backbone : str, nn.Module or None, optional
        A timm model name, created with ``features_only=True`` and
        ``out_indices=(feature_index,)``; or a module mapping images to a feature map
        ``(B, C, h, w)`` (or to a list whose last element is one; give ``feature_channels``
        unless it has timm ``feature_info``); or ``None`` for the heads alone (use
        :meth:`forward_head`, give ``feature_channels``). Default: the config's.
        Choosing another timm backbone without giving ``input_size``, ``mean``, ``std`` or
        ``interpolation`` takes those from that backbone's timm ``pretrained_cfg``.
    config : SMMConfig, optional
        Default :data:`smm.models.config.ABAW3`.
    pretrained_backbone : bool, default False
        Load timm's ImageNet weights for the backbone (downloads; off by default).
    **overrides
        Any :class:`~smm.models.config.SMMConfig` field (``feature_index``, ``dim``, ``tokens``,
        ``input_size``, ...), or ``num_regions``, ``num_classes``, ``va_dim``,
        ``image_size`` (see :meth:`SMMConfig.replace`).
    """

    def __init__(
        self,
        backbone: str | nn.Module | _Unset | None = _UNSET,
        *,
        config: SMMConfig | None = None,
        pretrained_backbone: bool = False,
        **overrides: Any,
    ) -> None:
        super().__init__()
        overrides = renamed_kwargs(overrides, RENAMED_FIELDS, "SMMEmotionNet")
        config = ABAW3 if config is None else config
        module = backbone if isinstance(backbone, nn.Module) else None
        if not isinstance(backbone, _Unset) and module is None:
            if backbone is not None and not isinstance(backbone, str):
                raise TypeError(
                    f"backbone must be a timm model name, an nn.Module or None, got {type(backbone).__name__}"
                )
            overrides["backbone"] = backbone
        elif module is not None:
            overrides["backbone"] = f"custom:{type(module).__module__}.{type(module).__qualname__}"
        changed = overrides.get("backbone", config.backbone) != config.backbone
        if changed and overrides["backbone"] is not None:
            overrides.setdefault("feature_channels", None)  # the new backbone's, unless given
        config = config.replace(**overrides)
        self.backbone, channels = _build_backbone(config, module, pretrained_backbone)
        if changed and module is None and not any(n in overrides for n in (*PREPROCESSING_FIELDS, "image_size")):
            config = config.replace(**_timm_preprocessing(self.backbone, config))
        self.config: SMMConfig = config.replace(feature_channels=channels)
        self.in_chans = config.in_chans
        self.feature_channels = channels
        self.region_names = config.region_names
        self.au_names = config.au_names
        self.expression_names = config.expression_names
        self.va_names = config.va_names
        #: Facts recorded with the loaded checkpoint (its model card's entries), ``{}`` for a new model.
        self.card: dict[str, Any] = {}

        self.roi_attention = ROIAttention(channels, config.num_regions)
        self.roi_embedding = ROIEmbedding(channels, config.num_regions, config.dim)
        self.sign_vehicle = SignVehicleHead(
            config.dim,
            config.num_regions,
            config.num_labelled,
            nhead=config.nhead,
            dim_feedforward=config.dim_feedforward,
            num_layers=config.num_layers,
            dropout=config.transformer_dropout,
            input_dropout=config.input_dropout,
            tokens=config.tokens,
        )
        self.message_space = MessageSpaceHead(
            config.dim, config.num_regions, config.num_classes, config.va_dim, average=config.message_average
        )

    @classmethod
    def from_config(cls, config: SMMConfig, *, pretrained_backbone: bool = False, **overrides: Any) -> SMMEmotionNet:
        """Build the model described by a :class:`~smm.models.config.SMMConfig`, with keyword overrides.

        ``SMMEmotionNet.from_config(ABAW3, backbone=None)`` builds the heads alone.
        """
        backbone = overrides.pop("backbone", _UNSET)
        return cls(backbone, config=config, pretrained_backbone=pretrained_backbone, **overrides)

    @classmethod
    def abaw3(cls, pretrained_backbone: bool = False, **overrides: Any) -> SMMEmotionNet:
        """The published ABAW3 model: InceptionV3 to ``Mixed_6e`` and the SMM heads.

        ``SMMEmotionNet.abaw3(backbone=None)`` builds the heads alone for
        768-channel feature maps. See :data:`smm.models.config.ABAW3`.
        """
        return cls.from_config(ABAW3, pretrained_backbone=pretrained_backbone, **overrides)

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        name: str | None = None,
        backbone: nn.Module | None = None,
        map_location: str | torch.device = "cpu",
        **overrides: Any,
    ) -> SMMEmotionNet:
        """Load a model from any source, in eval mode: the one door every loader goes through.

        Parameters
        ----------
        source : path-like or str
            A checkpoint folder or file, a published-code ``.ckpt``, a registry name (its cache
            folder) or ``"hf-hub:org/name"``; see :mod:`smm.models.loader`.
        name : str, optional
            The registry entry whose defaults apply where the weights store no config (with
            ``source=True``, whose weights to find).
        backbone : nn.Module, optional
            The backbone instance, for checkpoints of a model with a custom backbone module
            (a timm name is taken as the ``backbone`` override).
        map_location : str or torch.device, default "cpu"
        **overrides
            :class:`~smm.models.config.SMMConfig` fields. Precedence: these > the config stored with
            the weights > the registry entry's defaults; an override of a field the weights fix
            (:data:`smm.models.loader.ARCHITECTURE_FIELDS`) must agree with the stored config.

        Raises
        ------
        FileNotFoundError
            When the source holds no weights.
        smm.models.checkpoint.CheckpointError
            (a ``ValueError``) For a file that is not a checkpoint, an ambiguous source, an
            override that disagrees with the stored architecture, or weights that do not fit.
        """
        return build(cls, source, name=name, backbone=backbone, map_location=map_location, **overrides)

    def save_pretrained(self, folder: str | os.PathLike[str], **card: Any) -> Path:
        """Save weights, config and a model card to ``folder``; see :func:`smm.save_checkpoint`."""
        return save_checkpoint(self, folder, **card)

    @property
    def data_config(self) -> dict[str, Any]:
        """Preprocessing in timm's vocabulary (``input_size``, ``mean``, ``std``, ``interpolation``,
        ``crop_pct``, ``crop_mode``): ``timm.data.create_transform(**model.data_config)``."""
        return self.config.data_config

    @property
    def default_input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the input images (``model.config.input_size``)."""
        return self.config.input_size

    @property
    def num_regions(self) -> int:
        """U, the number of facial regions (one attention map and one embedding each)."""
        return self.roi_embedding.num_regions

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Run the backbone.

        Parameters
        ----------
        images : Tensor[B, in_chans, H_img, W_img]

        Returns
        -------
        Tensor[B, C, h, w]
        """
        if self.backbone is None:
            raise RuntimeError("this SMMEmotionNet has no backbone (backbone=None); call forward_head(feature_maps)")
        if not tracing():
            check_ndim(images, "images", "B C H W")
            check_dim(images, "images", 1, self.in_chans, "channels")
        features = self.backbone(images)
        if isinstance(features, (list, tuple)):
            features = features[-1]
        return features

    def forward_head(self, feature_maps: torch.Tensor) -> SMMOutput:
        """Run the four heads on backbone feature maps.

        Parameters
        ----------
        feature_maps : Tensor[B, C, h, w]

        Returns
        -------
        SMMOutput
        """
        if not tracing() and isinstance(feature_maps, torch.Tensor) and feature_maps.ndim == 4:
            # Both heads read the map one position at a time (a GEMM row per position):
            # one channels_last copy here spares each of them its own.
            feature_maps = feature_maps.contiguous(memory_format=torch.channels_last)
        attention = self.roi_attention(feature_maps)
        f = self.roi_embedding(feature_maps, attention.maps)
        au = self.sign_vehicle(f)
        message = self.message_space(f)
        return SMMOutput(
            au=au.logits,
            expr=message.expr,
            va=message.va,
            au_features=au.features,
            message=message.message,
            attention=attention.maps,
            attention_logits=attention.logits,
            region_features=f,
        )

    def forward(self, images: torch.Tensor) -> SMMOutput:
        """Predict AUs, expression and valence/arousal for a batch of face images.

        Parameters
        ----------
        images : Tensor[B, in_chans, H_img, W_img]
            Normalised face crops (ABAW3: 299x299, ImageNet mean/std).

        Returns
        -------
        SMMOutput
        """
        return self.forward_head(self.forward_features(images))

    def forward_heads(self, feature_maps: torch.Tensor) -> SMMOutput:
        """Deprecated name of :meth:`forward_head`."""
        warn_renamed("SMMEmotionNet.forward_heads", "SMMEmotionNet.forward_head")
        return self.forward_head(feature_maps)

    @property
    def in_channels(self) -> int:
        """Deprecated name of ``feature_channels``."""
        warn_renamed("SMMEmotionNet.in_channels", "SMMEmotionNet.feature_channels")
        return self.feature_channels


def _timm_preprocessing(backbone: nn.Module | None, config: SMMConfig) -> dict[str, Any]:
    """Input size, mean, std and interpolation of a timm backbone's ``pretrained_cfg``."""
    cfg = getattr(backbone, "pretrained_cfg", None) or {}
    found = {}
    if cfg.get("input_size") is not None:
        found["input_size"] = (config.in_chans, *map(int, cfg["input_size"][-2:]))
    for name in ("mean", "std"):
        if cfg.get(name) is not None and len(cfg[name]) == config.in_chans:
            found[name] = tuple(float(v) for v in cfg[name])
    if cfg.get("interpolation"):
        found["interpolation"] = str(cfg["interpolation"])
    return found


def _build_backbone(config: SMMConfig, module: nn.Module | None, pretrained: bool) -> tuple[nn.Module | None, int]:
    channels = config.feature_channels
    if module is None and config.backbone is not None and config.backbone.startswith("custom:"):
        raise ValueError(
            f"this config's backbone is a custom module ({config.backbone[7:]}): pass backbone=<an instance of it>"
        )
    if module is None and config.backbone is not None:
        model = timm.create_model(
            config.backbone,
            pretrained=pretrained,
            features_only=True,
            out_indices=(config.feature_index,),
            in_chans=config.in_chans,
            **config.backbone_kwargs,
        )
        found = model.feature_info.channels()[-1]
        if channels is not None and channels != found:
            raise ValueError(
                f"feature_channels={channels} does not match the backbone {config.backbone!r}, whose "
                f"feature stage {config.feature_index} has {found} channels"
            )
        return model, found
    if channels is None:
        info = getattr(module, "feature_info", None)
        if info is None or not hasattr(info, "channels"):
            raise ValueError("feature_channels is required when backbone is None or a module without timm feature_info")
        channels = info.channels()[-1]
    return module, channels
