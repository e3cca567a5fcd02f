"""Aff-Wild2 annotation readers, a frames ``Dataset`` and label statistics."""

from __future__ import annotations

from smm.data.annotations import (
    AnnotationError,
    MultiTaskAnnotations,
    VideoAnnotations,
    read_annotation_dir,
    read_annotation_file,
    read_multitask_csv,
)
from smm.data.dataset import AffWild2Frames, default_transform
from smm.data.stats import au_counts, au_pos_weight, expr_class_weight, expr_counts, va_count

__all__ = [
    "AffWild2Frames",
    "AnnotationError",
    "MultiTaskAnnotations",
    "VideoAnnotations",
    "au_counts",
    "au_pos_weight",
    "default_transform",
    "expr_class_weight",
    "expr_counts",
    "read_annotation_dir",
    "read_annotation_file",
    "read_multitask_csv",
    "va_count",
]
