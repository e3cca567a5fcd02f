"""Aff-Wild2 annotation and test-list readers, a frames ``Dataset`` and label statistics."""

from __future__ import annotations

from smm.data.annotations import (
    MultiTaskAnnotations,
    VideoAnnotations,
    read_annotation_dir,
    read_annotation_file,
    read_multitask_csv,
)
from smm.data.dataset import AffWild2Frames
from smm.data.stats import au_counts, au_pos_weight, expr_class_weight, expr_counts, va_count
from smm.data.test_lists import MultiTaskTestList, read_multitask_test_list, read_video_list
from smm.data.transforms import default_transform, eval_transform
from smm.formats.text import AnnotationError

__all__ = [
    "AffWild2Frames",
    "AnnotationError",
    "MultiTaskAnnotations",
    "MultiTaskTestList",
    "VideoAnnotations",
    "au_counts",
    "au_pos_weight",
    "default_transform",
    "eval_transform",
    "expr_class_weight",
    "expr_counts",
    "read_annotation_dir",
    "read_annotation_file",
    "read_multitask_csv",
    "read_multitask_test_list",
    "read_video_list",
    "va_count",
]
