"""The prediction layer: photos, videos and frame folders to per-frame predictions, through one core.

- :func:`predict_images`, :func:`predict_video`, :func:`video_features` (the ``face`` extra)
  and :func:`predict_frames` (Aff-Wild2-style frame folders): the entry points. Each takes its
  options as keywords and builds one :class:`PredictOptions` and one engine from them.
- :func:`preprocess`: a face crop to the model's input, from ``model.data_config``.
- :func:`image_features` and :func:`~smm.inference.core.predictions`: the core every entry point runs.
- :class:`FramePredictions`: the per-frame result of all of them (frames numbered from 1);
  :class:`VideoFeatures`: what the model saw in a video, to predict again without the model.
"""

from __future__ import annotations

from smm.inference.core import image_features, predictions
from smm.inference.features import VideoFeatures
from smm.inference.frames import predict_frames
from smm.inference.options import PredictOptions
from smm.inference.photos import predict_images
from smm.inference.preprocess import Preprocess, preprocess
from smm.inference.results import FramePredictions, LabelNames, fill_index
from smm.inference.video import predict_video, video_features

__all__ = [
    "FramePredictions",
    "LabelNames",
    "PredictOptions",
    "Preprocess",
    "VideoFeatures",
    "fill_index",
    "image_features",
    "predict_frames",
    "predict_images",
    "predict_video",
    "predictions",
    "preprocess",
    "video_features",
]
