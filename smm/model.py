"""SMMEmotionNet: a timm backbone followed by the four SMM heads (Figure 1)."""

from __future__ import annotations

from typing import Any, NamedTuple

import timm
import torch
from torch import nn

from smm._checks import check_dim, check_ndim, tracing
from smm.attention import ROIAttention
from smm.embedding import ROIEmbedding
from smm.message_space import MessageSpaceHead
from smm.presets import ABAW3, SMMConfig
from smm.sign_vehicle import SignVehicleHead


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

    Parameters
    ----------
    backbone : str, nn.Module or None, default "inception_v3"
        A timm model name, created with ``features_only=True`` and
        ``out_indices=(feature_index,)``; or a module mapping images to a feature
        map ``(B, C, h, w)`` (or to a list whose last element is one; give
        ``in_channels``); or ``None`` for the heads alone (use
        :meth:`forward_heads`, and give ``in_channels``).
    pretrained_backbone : bool, default False
        Load timm's pretrained weights (downloads; off by default).
    feature_index : int, default -1
        Which of the timm backbone's feature stages to use.
    in_channels : int, optional
        C. Read from the timm backbone's ``feature_info`` when not given.
    in_chans : int, default 3
        Image channels, passed to timm.
    num_regions : int, default 17
        U.
    num_labelled : int, default 12
        H, labelled AUs (the first H regions).
    dim : int, default 16
        D.
    nhead, dim_feedforward, num_layers, transformer_dropout, input_dropout, tokens
        See :class:`~smm.SignVehicleHead`.
    num_classes : int, default 8
        Expression classes.
    va_dim : int, default 2
        Continuous outputs.
    message_reduction : str, default "features"
        See :class:`~smm.MessageSpaceHead`.
    region_names, au_names, expression_names, va_names : tuple of str, optional
        Names for the outputs; generic names when not given.
    backbone_kwargs : dict, optional
        Extra keyword arguments for ``timm.create_model``.
    """

    def __init__(
        self,
        backbone: str | nn.Module | None = "inception_v3",
        *,
        pretrained_backbone: bool = False,
        feature_index: int = -1,
        in_channels: int | None = None,
        in_chans: int = 3,
        num_regions: int = 17,
        num_labelled: int = 12,
        dim: int = 16,
        nhead: int = 8,
        dim_feedforward: int = 1024,
        num_layers: int = 1,
        transformer_dropout: float = 0.1,
        input_dropout: float = 0.3,
        tokens: str = "all",
        num_classes: int = 8,
        va_dim: int = 2,
        message_reduction: str = "features",
        region_names: tuple[str, ...] | None = None,
        expression_names: tuple[str, ...] | None = None,
        va_names: tuple[str, ...] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        #: JSON-able constructor arguments, to rebuild this architecture from a checkpoint
        #: (a module backbone is recorded as its class name and cannot be rebuilt).
        self.hparams: dict[str, Any] = {
            "backbone": backbone if backbone is None or isinstance(backbone, str) else type(backbone).__name__,
            "feature_index": feature_index,
            "in_chans": in_chans,
            "num_regions": num_regions,
            "num_labelled": num_labelled,
            "dim": dim,
            "nhead": nhead,
            "dim_feedforward": dim_feedforward,
            "num_layers": num_layers,
            "transformer_dropout": transformer_dropout,
            "input_dropout": input_dropout,
            "tokens": tokens,
            "num_classes": num_classes,
            "va_dim": va_dim,
            "message_reduction": message_reduction,
            "region_names": list(region_names) if region_names else None,
            "expression_names": list(expression_names) if expression_names else None,
            "va_names": list(va_names) if va_names else None,
            "backbone_kwargs": backbone_kwargs,
        }
        self.backbone, in_channels = _build_backbone(
            backbone, pretrained_backbone, feature_index, in_channels, in_chans, backbone_kwargs or {}
        )
        self.in_chans = in_chans
        self.in_channels = in_channels
        self.hparams["in_channels"] = in_channels
        self.default_input_size = _default_input_size(self.backbone, in_chans)
        self.region_names = _names(region_names, num_regions, "region", "region_names")
        self.au_names = self.region_names[:num_labelled]
        self.expression_names = _names(expression_names, num_classes, "class", "expression_names")
        self.va_names = _names(va_names, va_dim, "va", "va_names")

        self.roi_attention = ROIAttention(in_channels, num_regions)
        self.roi_embedding = ROIEmbedding(in_channels, num_regions, dim)
        self.sign_vehicle = SignVehicleHead(
            dim,
            num_regions,
            num_labelled,
            nhead=nhead,
            dim_feedforward=dim_feedforward,
            num_layers=num_layers,
            dropout=transformer_dropout,
            input_dropout=input_dropout,
            tokens=tokens,
        )
        self.message_space = MessageSpaceHead(dim, num_regions, num_classes, va_dim, reduction=message_reduction)

    @classmethod
    def from_config(cls, config: SMMConfig, *, pretrained_backbone: bool = False, **overrides: Any) -> SMMEmotionNet:
        """Build the model described by a :class:`~smm.presets.SMMConfig`.

        Keyword ``overrides`` replace any constructor argument, e.g.
        ``backbone=None`` for the heads alone or ``tokens="labelled"``.
        """
        kwargs: dict[str, Any] = {
            "backbone": config.backbone,
            "feature_index": config.feature_index,
            "num_regions": config.num_regions,
            "num_labelled": config.num_labelled,
            "dim": config.dim,
            "nhead": config.nhead,
            "dim_feedforward": config.dim_feedforward,
            "num_layers": config.num_layers,
            "transformer_dropout": config.transformer_dropout,
            "input_dropout": config.input_dropout,
            "tokens": config.tokens,
            "num_classes": config.num_classes,
            "va_dim": config.va_dim,
            "region_names": config.region_names,
            "expression_names": config.expression_names,
            "va_names": config.va_names,
        }
        kwargs.update(overrides)
        if kwargs["backbone"] is None and kwargs.get("in_channels") is None:
            kwargs["in_channels"] = config.in_channels
        return cls(pretrained_backbone=pretrained_backbone, **kwargs)

    @classmethod
    def abaw3(cls, pretrained_backbone: bool = False, **overrides: Any) -> SMMEmotionNet:
        """The published ABAW3 model: InceptionV3 to ``Mixed_6e`` and the SMM heads.

        ``SMMEmotionNet.abaw3(backbone=None)`` builds the heads alone for
        768-channel feature maps. See :data:`smm.presets.ABAW3`.
        """
        return cls.from_config(ABAW3, pretrained_backbone=pretrained_backbone, **overrides)

    @property
    def num_regions(self) -> int:
        """U."""
        return self.roi_embedding.num_regions

    default_input_size: tuple[int, int, int]
    """``(channels, height, width)`` the backbone was designed for (timm's ``pretrained_cfg``)."""

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
            raise RuntimeError("this SMMEmotionNet has no backbone (backbone=None); call forward_heads(feature_maps)")
        if not tracing():
            check_ndim(images, "images", "B C H W")
            check_dim(images, "images", 1, self.in_chans, "channels")
        features = self.backbone(images)
        if isinstance(features, (list, tuple)):
            features = features[-1]
        return features

    def forward_heads(self, feature_maps: torch.Tensor) -> SMMOutput:
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
        return self.forward_heads(self.forward_features(images))


def _default_input_size(backbone: nn.Module | None, in_chans: int) -> tuple[int, int, int]:
    size = getattr(backbone, "pretrained_cfg", {}).get("input_size") if backbone is not None else None
    if size is None:
        return (in_chans, 224, 224)
    return (in_chans, int(size[-2]), int(size[-1]))


def _names(names: tuple[str, ...] | None, count: int, stem: str, argument: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{stem}_{i}" for i in range(count))
    names = tuple(names)
    if len(names) != count:
        raise ValueError(f"{argument} must have {count} names, got {len(names)}")
    return names


def _build_backbone(
    backbone: str | nn.Module | None,
    pretrained: bool,
    feature_index: int,
    in_channels: int | None,
    in_chans: int,
    kwargs: dict[str, Any],
) -> tuple[nn.Module | None, int]:
    if isinstance(backbone, str):
        model = timm.create_model(
            backbone,
            pretrained=pretrained,
            features_only=True,
            out_indices=(feature_index,),
            in_chans=in_chans,
            **kwargs,
        )
        channels = model.feature_info.channels()[-1]
        if in_channels is not None and in_channels != channels:
            raise ValueError(
                f"in_channels={in_channels} does not match the backbone {backbone!r}, whose "
                f"feature stage {feature_index} has {channels} channels"
            )
        return model, channels
    if backbone is not None and not isinstance(backbone, nn.Module):
        raise TypeError(f"backbone must be a timm model name, an nn.Module or None, got {type(backbone).__name__}")
    if in_channels is None:
        info = getattr(backbone, "feature_info", None)
        if info is None or not hasattr(info, "channels"):
            raise ValueError("in_channels is required when backbone is None or a module without timm feature_info")
        in_channels = info.channels()[-1]
    return backbone, in_channels
