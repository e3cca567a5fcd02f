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
a model, loss or metric is needed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from typing import TYPE_CHECKING, Any

from smm._version import __version__

#: Public name -> the module that defines it.
_EXPORTS = {
    "ABAW3": "smm.presets",
    "SMMConfig": "smm.presets",
    "ROIAttention": "smm.layers.attention",
    "ROIAttentionOutput": "smm.layers.attention",
    "ROIEmbedding": "smm.layers.embedding",
    "SignVehicleHead": "smm.layers.sign_vehicle",
    "SignVehicleOutput": "smm.layers.sign_vehicle",
    "MessageSpaceHead": "smm.layers.message_space",
    "MessageSpaceOutput": "smm.layers.message_space",
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
    "load_reference_checkpoint": "smm.factory",
    "CheckpointError": "smm.checkpoint",
    "load_checkpoint": "smm.factory",
    "save_checkpoint": "smm.checkpoint",
    "create_model": "smm.factory",
    "FramePredictions": "smm.inference.results",
    "Precision": "smm.runtime",
    "predict_frames": "smm.inference.frames",
    "predict_images": "smm.face.pipeline",
    "predict_video": "smm.face.pipeline",
    "list_models": "smm.registry",
}

#: 0.1 names -> (their new name, the module that defines it); they warn, then work.
_RENAMED = {"MessageOutput": ("MessageSpaceOutput", "smm.layers.message_space")}

#: 0.1 module paths -> the modules their contents moved to (searched in order); they warn, then work.
_MOVED_MODULES = {
    "predictions": ("smm.inference.frames", "smm.inference.results", "smm.formats.abaw_files", "smm.formats.codes"),
    "prediction_files": ("smm.formats.abaw_files", "smm.formats.codes"),
    "attention": ("smm.layers.attention",),
    "embedding": ("smm.layers.embedding",),
    "sign_vehicle": ("smm.layers.sign_vehicle",),
    "message_space": ("smm.layers.message_space",),
    "positional": ("smm.layers.positional",),
}

#: Submodules reached as attributes of ``smm`` (``smm.metrics.ABAWMetrics``), imported on first use.
_SUBMODULES = (
    "checkpoint",
    "convert",
    "data",
    "export",
    "face",
    "factory",
    "formats",
    "inference",
    "layers",
    "loader",
    "losses",
    "metrics",
    "presets",
    "registry",
    "runtime",
    "submission",
    "temporal",
    "training",
    "viz",
)

if TYPE_CHECKING:
    from smm import data, export, formats, inference, layers, metrics, submission, temporal, viz  # noqa: F401
    from smm.checkpoint import CheckpointError, save_checkpoint
    from smm.convert import convert_reference_state_dict
    from smm.face.pipeline import predict_images, predict_video
    from smm.factory import create_model, load_checkpoint, load_reference_checkpoint
    from smm.inference.frames import predict_frames
    from smm.inference.results import FramePredictions
    from smm.layers.attention import ROIAttention, ROIAttentionOutput
    from smm.layers.embedding import ROIEmbedding
    from smm.layers.message_space import MessageSpaceHead, MessageSpaceOutput
    from smm.layers.sign_vehicle import SignVehicleHead, SignVehicleOutput
    from smm.losses import MultiTaskLoss, MultiTaskLossOutput, ccc, ccc_loss, multitask_loss, weighted_bce, weighted_ce
    from smm.model import SMMEmotionNet, SMMOutput
    from smm.presets import ABAW3, SMMConfig
    from smm.registry import list_models
    from smm.runtime import Precision


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"smm.{name}")
    elif name in _RENAMED:
        new, module = _RENAMED[name]
        _warn_renamed(f"smm.{name}", f"smm.{new}")
        return getattr(importlib.import_module(module), new)
    elif name in _MOVED_MODULES:
        return _moved_module(name)
    else:
        raise AttributeError(f"module 'smm' has no attribute {name!r}")
    globals()[name] = value
    return value


def _warn_renamed(old: str, new: str) -> None:
    from smm._deprecation import warn_renamed

    warn_renamed(old, new, stacklevel=4)


def _moved_module(name: str) -> Any:
    """A stand-in for a 0.1 module path: warns, then finds each name in the modules it moved to."""
    module = importlib.import_module(f"smm.{name}")  # through _MovedFinder below
    globals()[name] = module
    return module


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets ``import smm.predictions`` (and the other 0.1 paths) keep working for one release."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        prefix, _, name = fullname.partition(".")
        if prefix != "smm" or name not in _MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: Any) -> Any:
        return None

    def exec_module(self, module: Any) -> None:
        name = module.__name__.split(".", 1)[1]
        homes = _MOVED_MODULES[name]
        _warn_renamed(module.__name__, " / ".join(homes))

        def lookup(attribute: str) -> Any:
            if attribute.startswith("__"):
                raise AttributeError(attribute)
            for home in homes:
                found = importlib.import_module(home)
                if hasattr(found, attribute):
                    return getattr(found, attribute)
            raise AttributeError(f"{attribute!r} is not in {module.__name__}'s new homes ({', '.join(homes)})")

        module.__doc__ = f"Moved in 0.2: see {', '.join(homes)}."
        module.__getattr__ = lookup  # type: ignore[method-assign]


sys.meta_path.append(_MovedFinder())


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


__all__ = [
    "ABAW3",
    "CheckpointError",
    "FramePredictions",
    "MessageSpaceHead",
    "MessageSpaceOutput",
    "MultiTaskLoss",
    "MultiTaskLossOutput",
    "Precision",
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
    "predict_frames",
    "predict_images",
    "predict_video",
    "save_checkpoint",
    "weighted_bce",
    "weighted_ce",
]
