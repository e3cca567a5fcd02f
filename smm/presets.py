"""The published ABAW3 configuration of SMM-EmotionNet, as frozen data.

Everything here is a fact about the model that won the ABAW3 multi-task track
(Deng, 2022): the regions it attends to, the tasks' class names, the sizes of
its heads and the loss weights its training used. Nothing here is mutable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SMMConfig:
    """Hyper-parameters and names of one SMM-EmotionNet configuration.

    Attributes
    ----------
    backbone : str
        timm model name of the feature extractor.
    feature_index : int
        Which of the backbone's feature stages (``out_indices``) feeds the heads.
    in_channels : int
        Channels C of that feature map (informational; the model reads it from
        ``feature_info``).
    region_names : tuple of str
        One name per facial region, length U. The first ``num_labelled`` are the
        labelled action units, in the order of the AU targets.
    num_labelled : int
        H, the number of labelled action units.
    dim : int
        D, the size of each region embedding.
    nhead, dim_feedforward, num_layers : int
        The sign-vehicle transformer.
    expression_names : tuple of str
        Expression classes in the order of the EXPR logits.
    va_names : tuple of str
        Names of the VA outputs.
    input_dropout, transformer_dropout : float
        Dropout after adding the positional encoding, and inside the transformer.
    tokens : str
        ``"all"`` (published code) or ``"labelled"`` (paper's Eq. 1).
    image_size : int
        Side of the square face crops the model was trained on.
    """

    backbone: str
    feature_index: int
    in_channels: int
    region_names: tuple[str, ...]
    num_labelled: int
    dim: int
    nhead: int
    dim_feedforward: int
    num_layers: int
    expression_names: tuple[str, ...]
    va_names: tuple[str, ...]
    input_dropout: float
    transformer_dropout: float
    tokens: str
    image_size: int

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

#: The published configuration: InceptionV3 cut after ``Mixed_6e`` (768x17x17 at
#: 299x299), 17 regions, D=16, one transformer layer with 8 heads.
ABAW3 = SMMConfig(
    backbone="inception_v3",
    feature_index=3,
    in_channels=768,
    region_names=ABAW3_REGION_NAMES,
    num_labelled=len(ABAW3_AU_NAMES),
    dim=16,
    nhead=8,
    dim_feedforward=1024,
    num_layers=1,
    expression_names=ABAW3_EXPRESSION_NAMES,
    va_names=ABAW3_VA_NAMES,
    input_dropout=0.3,
    transformer_dropout=0.1,
    tokens="all",
    image_size=299,
)
