"""The configuration of an SMM-EmotionNet, and the facts of the published ABAW3 model.

:class:`SMMConfig` is the one source of truth for a model: its architecture and its
preprocessing. :class:`smm.SMMEmotionNet` is built from one, records it as ``model.config``
and saves it with its weights, so a checkpoint always runs with the input size, mean and
standard deviation it was trained with. The defaults are the published ABAW3 model
(:data:`ABAW3`), which won the ABAW3 multi-task track (Deng, 2022).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from smm._compat import renamed_kwargs, warn_renamed

#: The 12 action units annotated in Aff-Wild2, in label-file order.
ABAW3_AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26",
)  # fmt: skip

#: The 17 regions: the 12 labelled AUs, then 5 unlabelled emotion-related AUs.
ABAW3_REGION_NAMES: tuple[str, ...] = (*ABAW3_AU_NAMES, "AU5", "AU9", "AU14", "AU16", "AU17")

#: The 8 expression classes of the ABAW3 EXPR track, in label order.
ABAW3_EXPRESSION_NAMES: tuple[str, ...] = (
    "Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other",
)  # fmt: skip

#: Valence and arousal, both in [-1, 1] in the annotations.
ABAW3_VA_NAMES: tuple[str, ...] = ("valence", "arousal")

#: ``pos_weight`` of the published AU loss (negatives / positives per AU on the
#: Aff-Wild2 AU training set), in the order of :data:`ABAW3_AU_NAMES`.
ABAW3_AU_POS_WEIGHT: tuple[float, ...] = (
    7.1008924, 15.63964869, 5.47108051, 2.80360066, 1.5152332, 1.89083564,
    3.04637044, 34.04600245, 32.47861156, 36.76637801, 0.58118674, 11.1586486,
)  # fmt: skip

#: Class weights of the published expression loss, in the order of
#: :data:`ABAW3_EXPRESSION_NAMES`.
ABAW3_EXPRESSION_WEIGHT: tuple[float, ...] = (
    1.05169857, 11.99656373, 17.33464893, 15.57124886, 2.14378498, 2.59458996, 6.41378336, 1.0,
)  # fmt: skip

#: The temporal smoothing strengths of the published ABAW3 submission, per output
#: (:func:`smm.temporal.exponential_smoothing`).
PUBLISHED_ALPHA: Mapping[str, float] = {"AU": 7.0, "EXPR": 9.0, "VA": 9.0}

#: ImageNet mean and standard deviation, used by the published model (its InceptionV3 is
#: torchvision's, cut into a ``Sequential``, so its own input transform never runs).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Fields of :class:`SMMConfig` that describe preprocessing rather than architecture.
PREPROCESSING_FIELDS = ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")

#: 0.1 field names -> their 0.2 names (still accepted, with a DeprecationWarning).
RENAMED_FIELDS = {"in_channels": "feature_channels", "message_reduction": "message_average"}

Tokens = Literal["all", "labelled"]
MessageAverage = Literal["features", "logits", "none"]


@dataclass(frozen=True)
class _ConfigFields:
    """The fields of :class:`SMMConfig` and their checks (documented there)."""

    backbone: str | None = "inception_v3"
    feature_index: int = 3
    in_chans: int = 3
    feature_channels: int | None = None
    region_names: tuple[str, ...] = ABAW3_REGION_NAMES
    num_labelled: int = len(ABAW3_AU_NAMES)
    dim: int = 16
    nhead: int = 8
    dim_feedforward: int = 1024
    num_layers: int = 1
    transformer_dropout: float = 0.1
    input_dropout: float = 0.3
    tokens: Tokens = "all"
    expression_names: tuple[str, ...] = ABAW3_EXPRESSION_NAMES
    va_names: tuple[str, ...] = ABAW3_VA_NAMES
    message_average: MessageAverage = "features"
    backbone_kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int, int] = (3, 299, 299)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    crop_mode: str = "squash"

    def __post_init__(self) -> None:
        for name in ("region_names", "expression_names", "va_names", "input_size", "mean", "std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "backbone_kwargs", dict(self.backbone_kwargs))
        if self.num_labelled < 1:
            raise ValueError(f"num_labelled must be a positive integer, got {self.num_labelled}")
        if self.num_labelled > len(self.region_names):
            raise ValueError(
                "num_labelled must be <= num_regions (the labelled AUs are the first regions), "
                f"got num_labelled={self.num_labelled} > num_regions={len(self.region_names)}"
            )
        for name, choices in (("tokens", ("all", "labelled")), ("message_average", ("features", "logits", "none"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if len(self.input_size) != 3 or self.input_size[0] != self.in_chans:
            raise ValueError(f"input_size must be (in_chans={self.in_chans}, H, W), got {self.input_size}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError(f"mean and std must have in_chans={self.in_chans} values, got {self.mean} and {self.std}")


class SMMConfig(_ConfigFields):
    """Architecture and preprocessing of one SMM-EmotionNet; the defaults are the published ABAW3 model.

    Build variants with :meth:`replace`; turn into JSON with :meth:`to_dict` and back with
    :meth:`from_dict`.

    Attributes
    ----------
    backbone : str or None
        timm model name of the feature extractor; ``None`` for the heads alone. A custom
        module backbone is recorded as ``"custom:<module>.<class>"``.
    feature_index : int
        Which of the backbone's feature stages (timm ``out_indices``) feeds the heads.
    in_chans : int
        Image channels.
    feature_channels : int or None
        Channels C of the backbone's feature map; read from the backbone when ``None``
        (required without a timm backbone). (``in_chans`` is the images' channels, as in timm.)
    region_names : tuple of str
        One name per facial region, length U. The first ``num_labelled`` are the labelled
        action units, in the order of the AU targets.
    num_labelled : int
        H, the number of labelled action units.
    dim : int
        D, the size of each region embedding.
    nhead : int
        Attention heads of the sign-vehicle transformer.
    dim_feedforward : int
        Its feed-forward width.
    num_layers : int
        Its layers.
    transformer_dropout : float
        Dropout inside the transformer.
    input_dropout : float
        Dropout after adding the positional encoding.
    tokens : {"all", "labelled"}
        Regions entering the transformer: ``"all"`` (published code) or ``"labelled"``
        (the paper's Eq. 1).
    expression_names : tuple of str
        Expression classes, in the order of the EXPR logits.
    va_names : tuple of str
        Names of the continuous outputs.
    message_average : {"features", "logits", "none"}
        How :class:`~smm.MessageSpaceHead` averages the regions (its ``average``).
    backbone_kwargs : dict
        Extra keyword arguments for ``timm.create_model``.
    input_size : tuple of int
        ``(C, H, W)`` of the model's input images.
    mean : tuple of float
        Per-channel normalisation of images scaled to [0, 1].
    std : tuple of float
        Per-channel normalisation of images scaled to [0, 1].
    interpolation : str
        Resampling used to resize faces (``"bilinear"``, ``"bicubic"``, ...).
    crop_pct : float
        Fraction of the resized image kept by the centre crop (1.0: none).
    crop_mode : str
        timm's crop mode: ``"squash"`` resizes the face crop to ``input_size`` without
        keeping its aspect ratio (the published transform); ``"center"`` keeps it.
    """

    if not TYPE_CHECKING:  # type checkers see the fields' own signature, which 0.1's names are not part of

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # 0.1's field names (RENAMED_FIELDS) are still accepted, with a DeprecationWarning.
            super().__init__(*args, **renamed_kwargs(kwargs, RENAMED_FIELDS, "SMMConfig"))

        __signature__ = inspect.signature(_ConfigFields)  # help() and the docs show the fields

    @property
    def in_channels(self) -> int | None:
        """Deprecated name of ``feature_channels``."""
        warn_renamed("SMMConfig.in_channels", "SMMConfig.feature_channels")
        return self.feature_channels

    @property
    def message_reduction(self) -> str:
        """Deprecated name of ``message_average``."""
        warn_renamed("SMMConfig.message_reduction", "SMMConfig.message_average")
        return self.message_average

    @property
    def num_regions(self) -> int:
        """U, the number of facial regions."""
        return len(self.region_names)

    @property
    def au_names(self) -> tuple[str, ...]:
        """Names of the H labelled action units, in the order of the AU logits."""
        return self.region_names[: self.num_labelled]

    @property
    def num_classes(self) -> int:
        """Number of expression classes."""
        return len(self.expression_names)

    @property
    def va_dim(self) -> int:
        """Number of continuous outputs (valence, arousal)."""
        return len(self.va_names)

    @property
    def image_size(self) -> int:
        """Side of the (square) input images."""
        return self.input_size[-1]

    @property
    def data_config(self) -> dict[str, Any]:
        """The preprocessing in timm's vocabulary: ``timm.data.create_transform(**config.data_config)``."""
        return {
            "input_size": self.input_size,
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }

    def replace(self, **changes: Any) -> SMMConfig:
        """A copy with some fields changed.

        Besides the fields, ``num_regions``, ``num_classes`` and ``va_dim`` are accepted:
        they keep the names when the count is unchanged and otherwise give generic names
        (``region_0``, ...); ``image_size`` sets a square ``input_size``. Fields derived from
        another follow it unless given: ``in_chans`` sets ``input_size``'s channels, and ``mean``
        and ``std`` become their channels' average for each of the new channels (a one-channel
        model of the ImageNet statistics normalises by 0.449 and 0.226).

        Raises
        ------
        TypeError
            For a name that is neither a field nor one of those.
        """
        changes = renamed_kwargs(changes, RENAMED_FIELDS, "SMMConfig.replace")
        for count, names, stem in (
            ("num_regions", "region_names", "region"),
            ("num_classes", "expression_names", "class"),
            ("va_dim", "va_names", "va"),
        ):
            if count in changes:
                value = changes.pop(count)
                current = changes.get(names, getattr(self, names))
                if names in changes and len(current) != value:
                    raise ValueError(f"{names} must have {value} names, got {len(current)}")
                if len(current) != value:
                    changes[names] = tuple(f"{stem}_{i}" for i in range(value))
        if "image_size" in changes:
            size = changes.pop("image_size")
            changes["input_size"] = (changes.get("in_chans", self.in_chans), size, size)
        elif "in_chans" in changes and "input_size" not in changes:
            changes["input_size"] = (changes["in_chans"], *self.input_size[1:])
        if "in_chans" in changes:
            for stats in ("mean", "std"):  # per-channel statistics for another number of channels: their average
                current = tuple(changes.get(stats, getattr(self, stats)))
                if stats not in changes and len(current) != changes["in_chans"]:
                    changes[stats] = (sum(current) / len(current),) * changes["in_chans"]
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            fields = [f.name for f in dataclasses.fields(self)]
            raise TypeError(f"unknown SMMConfig field(s) {unknown}; fields: {fields}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (tuples as lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SMMConfig:
        """The config saved by :meth:`to_dict`; unknown keys raise ``TypeError``.

        A 0.1 config's field names (``in_channels``, ``message_reduction``) are read as
        their new names, silently: the file is not the caller's code to change.
        """
        data = {RENAMED_FIELDS.get(key, key): value for key, value in data.items()}
        return cls().replace(**data)


#: The published configuration: InceptionV3 cut after ``Mixed_6e`` (768x17x17 at 299x299),
#: 17 regions, D=16, one transformer layer with 8 heads; 299x299 faces, ImageNet
#: normalisation, bilinear resize.
ABAW3 = SMMConfig(feature_channels=768)
