"""smm: composable PyTorch components of SMM-EmotionNet (ABAW3 multi-task winner).

images -> backbone -> ROIAttention -> ROIEmbedding -> SignVehicleHead  (AUs)
                                                   -> MessageSpaceHead (expressions, VA)

Where to start:

- a photo or a video: ``smm.predict_images(model, ["face.jpg"])``, ``smm.predict_video(model,
  "clip.mp4")`` (the ``face`` extra; every face, tracked, one row per frame and face;
  ``.to_pandas()``), or ``smm-emotionnet predict --input ...``;
- Aff-Wild2-style aligned crops of your own videos: ``smm-emotionnet align clip.mp4 --out
  cropped_aligned/`` (:mod:`smm.face.crops`);
- Aff-Wild2 frame folders and challenge files: :func:`smm.inference.predict_frames`,
  :mod:`smm.submission`;
- a model: ``smm.create_model("smm_abaw3")``, ``smm.load_checkpoint("runs/demo")``;
- training: :mod:`smm.training` (``smm-emotionnet train``), the losses :func:`smm.multitask_loss`;
- the parts: :mod:`smm.layers` (``ROIAttention``, ``ROIEmbedding``, ``SignVehicleHead``,
  ``MessageSpaceHead``); file formats: :mod:`smm.formats`.

Names are imported on first use, so ``import smm`` is fast and does not import torch until
a model, loss or metric is needed. The layout of the package: :doc:`/architecture`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smm import _compat
from smm._lazy import lazy_exports
from smm._version import __version__

# The public names, listed once: type checkers read these imports, and lazy_exports imports each
# name from its module on first use (smm._lazy).
if TYPE_CHECKING:
    from smm import (
        data,
        defaults,
        export,
        face,
        formats,
        inference,
        layers,
        losses,
        metrics,
        models,
        runs,
        submission,
        temporal,
        training,
        viz,
    )
    from smm.inference.frames import predict_frames
    from smm.inference.photos import predict_images
    from smm.inference.results import FramePredictions
    from smm.inference.runtime import Precision
    from smm.inference.video import predict_video
    from smm.layers.attention import ROIAttention, ROIAttentionOutput
    from smm.layers.embedding import ROIEmbedding
    from smm.layers.message_space import MessageSpaceHead, MessageSpaceOutput
    from smm.layers.sign_vehicle import SignVehicleHead, SignVehicleOutput
    from smm.losses import MultiTaskLoss, MultiTaskLossOutput, ccc, ccc_loss, multitask_loss, weighted_bce, weighted_ce
    from smm.models.builder import create_model, load_checkpoint, load_reference_checkpoint
    from smm.models.checkpoint import CheckpointError, save_checkpoint
    from smm.models.config import ABAW3, SMMConfig
    from smm.models.convert import convert_reference_state_dict
    from smm.models.emotionnet import SMMEmotionNet, SMMOutput
    from smm.models.registry import list_models


def _old_name(name: str) -> Any:
    """Names of earlier releases: renamed attributes and moved modules (smm._compat), with a warning."""
    if name in _compat.RENAMED:
        return _compat.renamed_attribute(name)
    if f"{__name__}.{name}" in _compat.MOVED_MODULES:
        return _compat.moved_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_compat.install()
__getattr__, __dir__, __all__ = lazy_exports(__name__, fallback=_old_name, extra=("__version__",))
