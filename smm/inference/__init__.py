"""The one inference core: preprocessing, precision, the model, temporal smoothing, one result type.

- :func:`preprocess`: a face crop to the model's input, from ``model.data_config``.
- :func:`image_features` and :func:`~smm.inference.core.predictions`: the core every entry point runs.
- :func:`predict_frames`: Aff-Wild2-style frame folders; :func:`smm.predict_images` and
  :func:`smm.predict_video` (the ``face`` extra) build on the same core.
- :class:`FramePredictions`: the per-frame result of all of them (frames numbered from 1).
"""

from __future__ import annotations

from smm.inference.core import image_features, predictions
from smm.inference.frames import predict_frames
from smm.inference.preprocess import Preprocess, preprocess
from smm.inference.results import FramePredictions, LabelNames, fill_index

__all__ = [
    "FramePredictions",
    "LabelNames",
    "Preprocess",
    "fill_index",
    "image_features",
    "predict_frames",
    "predictions",
    "preprocess",
]
