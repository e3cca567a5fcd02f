"""The model and its weights: configuration, the ``nn.Module``, the registry, and the one door for checkpoints.

- :mod:`smm.models.config`: :class:`SMMConfig` (architecture and preprocessing) and the ABAW3 facts;
- :mod:`smm.models.emotionnet`: :class:`SMMEmotionNet`, a timm backbone and the four parts;
- :mod:`smm.models.registry`: the named models (``list_models``); a backbone preset goes here;
- :mod:`smm.models.builder`: :func:`create_model`, :func:`load_checkpoint`;
- :mod:`smm.models.loader`: any source -> weights, the config that wins, the model (the one door);
- :mod:`smm.models.checkpoint`: checkpoint files, read and written;
- :mod:`smm.models.convert`: the published code's key names -> ours;
- :mod:`smm.models.fingerprint`: a digest of a model's weights and config.

Names are imported on first use: the registry and the config need no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smm._lazy import lazy_exports

if TYPE_CHECKING:
    from smm.models.builder import create_model, load_checkpoint, load_reference_checkpoint
    from smm.models.checkpoint import CheckpointError, save_checkpoint
    from smm.models.config import ABAW3, SMMConfig
    from smm.models.emotionnet import SMMEmotionNet, SMMOutput
    from smm.models.fingerprint import model_fingerprint
    from smm.models.registry import ModelEntry, list_models, model_entry, register_model

__getattr__, __dir__, __all__ = lazy_exports(__name__)
