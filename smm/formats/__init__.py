"""Aff-Wild2 and ABAW3 file formats in one place: codes, headers, the readers' shared rules, the writers.

- :mod:`smm.formats.codes`: missing-label codes (-1, -5), task names, headers, FACS names;
- :mod:`smm.formats.text`: how every reader splits lines and fields, and its error type;
- :mod:`smm.formats.abaw_files`: the challenge prediction files (AU, EXPR, VA, multi-task);
- :mod:`smm.formats.frames_csv`: the per-frame CSV of photos and videos.

An output format goes in a module of its own here; the readers of the Aff-Wild2 download
(annotations, test lists) are in :mod:`smm.data`, built on :mod:`smm.formats.text`. Names are
imported on first use (the codes need no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smm._lazy import lazy_exports

if TYPE_CHECKING:
    from smm.formats.abaw_files import write_atomic, write_au_file, write_expr_file, write_multitask_file, write_va_file
    from smm.formats.codes import (
        FACS_NAMES,
        MISSING_LABEL,
        MISSING_VA,
        MULTITASK_FILE,
        MULTITASK_HEADER,
        TASK_FOLDERS,
        TASKS,
        facs_label,
    )
    from smm.formats.frames_csv import csv_columns, read_frames_table, write_frames_csv
    from smm.formats.text import AnnotationError

__getattr__, __dir__, __all__ = lazy_exports(__name__)
