"""From raw photos and videos to aligned face crops: decoding, face detection, tracking, five-point alignment.

This package knows nothing of the model: the prediction layer (:mod:`smm.inference`:
:func:`smm.predict_images`, :func:`smm.predict_video`) feeds its crops to the model. Needs the
``face`` extra for the default detector (``pip install "smm-emotionnet[face]"``) and the
``video`` extra to read videos; the rest of the library works without them. To add a face
detector, implement :class:`FaceDetector` (``detect(images) -> list[Faces]`` and ``min_face_size``;
with ``refine``, also :class:`LandmarkRefiner`'s ``refine_threshold``) in a module here and pass
it as ``detector=``; :func:`check_detector` says what is missing.
"""

from __future__ import annotations

from smm.defaults import FACES
from smm.face.align import TEMPLATE_112, align_faces, similarity_transform
from smm.face.detector import (
    FaceDetector,
    Faces,
    LandmarkRefiner,
    MTCNNDetector,
    check_detector,
    default_detector,
)
from smm.face.orientation import Orientation
from smm.face.photos import load_photo
from smm.face.sides import side_rows
from smm.face.track import FaceTracker, MultiFaceTracker, box_iou
from smm.face.video import FaceFollower, FaceRows, PartialVideoWarning, VideoFrames, aligned_crops, open_video

__all__ = [
    "FACES",
    "TEMPLATE_112",
    "FaceDetector",
    "FaceFollower",
    "FaceRows",
    "FaceTracker",
    "Faces",
    "LandmarkRefiner",
    "MTCNNDetector",
    "MultiFaceTracker",
    "Orientation",
    "PartialVideoWarning",
    "VideoFrames",
    "align_faces",
    "aligned_crops",
    "box_iou",
    "check_detector",
    "default_detector",
    "load_photo",
    "open_video",
    "side_rows",
    "similarity_transform",
]
