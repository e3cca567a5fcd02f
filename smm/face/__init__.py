"""From raw photos and videos to model inputs: face detection, five-point alignment, tracking, prediction.

Needs the ``face`` extra for the default detector (``pip install "smm-emotionnet[face]"``)
and the ``video`` extra to read videos; the rest of the library works without them. To add
a face detector, implement :class:`FaceDetector` (``detect(images) -> list[Faces]``) in a
module here and pass it as ``detector=``.
"""

from __future__ import annotations

from smm.face.align import TEMPLATE_112, align_faces, similarity_transform
from smm.face.detector import FaceDetector, Faces, MTCNNDetector
from smm.face.pipeline import VideoFeatures, aligned_crops, predict_images, predict_video, video_features
from smm.face.track import FaceTracker, box_iou

__all__ = [
    "TEMPLATE_112",
    "FaceDetector",
    "FaceTracker",
    "Faces",
    "MTCNNDetector",
    "VideoFeatures",
    "align_faces",
    "aligned_crops",
    "box_iou",
    "predict_images",
    "predict_video",
    "similarity_transform",
    "video_features",
]
