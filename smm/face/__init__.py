"""From raw photos and videos to model inputs: face detection, five-point alignment, tracking, prediction.

Needs the ``face`` extra for the default detector (``pip install "smm-emotionnet[face]"``)
and the ``video`` extra to read videos; the rest of the library works without them.
"""

from __future__ import annotations

from smm.face.align import TEMPLATE_112, align_faces, similarity_transform
from smm.face.detector import FaceDetector, Faces, MTCNNDetector
from smm.face.pipeline import (
    FrameResult,
    abaw_rows,
    csv_columns,
    predict_images,
    predict_video,
    write_frames_csv,
)
from smm.face.track import FaceTracker, box_iou

__all__ = [
    "TEMPLATE_112",
    "FaceDetector",
    "FaceTracker",
    "Faces",
    "FrameResult",
    "MTCNNDetector",
    "abaw_rows",
    "align_faces",
    "box_iou",
    "csv_columns",
    "predict_images",
    "predict_video",
    "similarity_transform",
    "write_frames_csv",
]
