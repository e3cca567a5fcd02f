"""smm: composable PyTorch components of SMM-EmotionNet (ABAW3 multi-task winner).

images -> backbone -> ROIAttention -> ROIEmbedding -> SignVehicleHead  (AUs)
                                                   -> MessageSpaceHead (expressions, VA)
"""

from __future__ import annotations

from smm import export
from smm.attention import ROIAttention, ROIAttentionOutput
from smm.convert import convert_reference_state_dict, load_reference_checkpoint
from smm.embedding import ROIEmbedding
from smm.losses import (
    MultiTaskLoss,
    MultiTaskLossOutput,
    ccc,
    ccc_loss,
    multitask_loss,
    weighted_bce,
    weighted_ce,
)
from smm.message_space import MessageOutput, MessageSpaceHead
from smm.model import SMMEmotionNet, SMMOutput
from smm.presets import ABAW3, SMMConfig
from smm.sign_vehicle import SignVehicleHead, SignVehicleOutput

__version__ = "0.1.0"

__all__ = [
    "ABAW3",
    "MessageOutput",
    "MessageSpaceHead",
    "MultiTaskLoss",
    "MultiTaskLossOutput",
    "ROIAttention",
    "ROIAttentionOutput",
    "ROIEmbedding",
    "SMMConfig",
    "SMMEmotionNet",
    "SMMOutput",
    "SignVehicleHead",
    "SignVehicleOutput",
    "__version__",
    "ccc",
    "ccc_loss",
    "convert_reference_state_dict",
    "export",
    "load_reference_checkpoint",
    "multitask_loss",
    "weighted_bce",
    "weighted_ce",
]
