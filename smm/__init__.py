"""smm: composable PyTorch components of SMM-EmotionNet (ABAW3 multi-task winner).

images -> backbone -> ROIAttention -> ROIEmbedding -> SignVehicleHead  (AUs)
                                                   -> MessageSpaceHead (expressions, VA)

Names are imported on first use, so ``import smm`` is fast and does not import torch until
a model, loss or metric is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "ABAW3": "smm.presets",
    "SMMConfig": "smm.presets",
    "ROIAttention": "smm.attention",
    "ROIAttentionOutput": "smm.attention",
    "ROIEmbedding": "smm.embedding",
    "SignVehicleHead": "smm.sign_vehicle",
    "SignVehicleOutput": "smm.sign_vehicle",
    "MessageSpaceHead": "smm.message_space",
    "MessageOutput": "smm.message_space",
    "SMMEmotionNet": "smm.model",
    "SMMOutput": "smm.model",
    "MultiTaskLoss": "smm.losses",
    "MultiTaskLossOutput": "smm.losses",
    "ccc": "smm.losses",
    "ccc_loss": "smm.losses",
    "multitask_loss": "smm.losses",
    "weighted_bce": "smm.losses",
    "weighted_ce": "smm.losses",
    "convert_reference_state_dict": "smm.convert",
    "load_reference_checkpoint": "smm.convert",
    "CheckpointError": "smm.checkpoint",
    "load_checkpoint": "smm.checkpoint",
    "save_checkpoint": "smm.checkpoint",
    "create_model": "smm.registry",
    "predict_images": "smm.face.pipeline",
    "predict_video": "smm.face.pipeline",
    "list_models": "smm.registry",
}

#: Submodules reached as attributes of ``smm`` (``smm.metrics.ABAWMetrics``), imported on first use.
_SUBMODULES = (
    "checkpoint",
    "data",
    "export",
    "face",
    "metrics",
    "prediction_files",
    "predictions",
    "presets",
    "registry",
    "submission",
    "temporal",
    "viz",
)

if TYPE_CHECKING:
    from smm import data, export, metrics, prediction_files, predictions, submission, temporal, viz  # noqa: F401
    from smm.attention import ROIAttention, ROIAttentionOutput
    from smm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from smm.convert import convert_reference_state_dict, load_reference_checkpoint
    from smm.embedding import ROIEmbedding
    from smm.face.pipeline import predict_images, predict_video
    from smm.losses import MultiTaskLoss, MultiTaskLossOutput, ccc, ccc_loss, multitask_loss, weighted_bce, weighted_ce
    from smm.message_space import MessageOutput, MessageSpaceHead
    from smm.model import SMMEmotionNet, SMMOutput
    from smm.presets import ABAW3, SMMConfig
    from smm.registry import create_model, list_models
    from smm.sign_vehicle import SignVehicleHead, SignVehicleOutput


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"smm.{name}")
    else:
        raise AttributeError(f"module 'smm' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


__all__ = [
    "ABAW3",
    "CheckpointError",
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
    "create_model",
    "export",
    "list_models",
    "load_checkpoint",
    "load_reference_checkpoint",
    "multitask_loss",
    "predict_images",
    "predict_video",
    "save_checkpoint",
    "weighted_bce",
    "weighted_ce",
]
