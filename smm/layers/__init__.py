"""The parts of SMM-EmotionNet (Figure 1), each usable alone.

- :class:`ROIAttention`: feature map -> one attention map and one logit per region;
- :class:`ROIEmbedding`: feature map and maps -> one D-vector per region;
- :class:`SignVehicleHead`: region vectors -> AU logits (a transformer over regions);
- :class:`MessageSpaceHead`: region vectors -> expression logits, valence/arousal;
- :func:`sinusoidal_encoding`, :class:`TapConv2d` and the initialisation they share.

:class:`smm.SMMEmotionNet` composes them on a timm backbone.
"""

from __future__ import annotations

from smm.layers.attention import ROIAttention, ROIAttentionOutput
from smm.layers.embedding import ROIEmbedding
from smm.layers.message_space import MessageSpaceHead, MessageSpaceOutput
from smm.layers.positional import sinusoidal_encoding
from smm.layers.sign_vehicle import SignVehicleHead, SignVehicleOutput
from smm.layers.tap_conv import TapConv2d, tap_conv2d

__all__ = [
    "MessageSpaceHead",
    "MessageSpaceOutput",
    "ROIAttention",
    "ROIAttentionOutput",
    "ROIEmbedding",
    "SignVehicleHead",
    "SignVehicleOutput",
    "TapConv2d",
    "sinusoidal_encoding",
    "tap_conv2d",
]
