"""Runs over many inputs: the one sharded, resumable prediction loop, its record, and the processes that share it.

- :mod:`smm.runs.runner`: :func:`predict_inputs` (photos and videos) and
  :func:`predict_submission` (challenge submissions): the loop ``smm-emotionnet predict`` runs,
  callable from Python, in one process or many;
- :mod:`smm.runs.inputs`: :func:`plan_inputs`, which paths are photos and videos, and the
  names of what each writes;
- :mod:`smm.runs.manifest`: :class:`RunManifest`, what a rerun skips;
- :mod:`smm.runs.processes`: :class:`Processes` under torchrun, and :func:`share` of the work;
- :mod:`smm.runs.voice`: :class:`RunVoice`, what each process says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smm._lazy import lazy_exports

if TYPE_CHECKING:
    from smm.runs.inputs import InputPlan, plan_inputs
    from smm.runs.manifest import MANIFEST_DIR, RunManifest
    from smm.runs.processes import Processes, share
    from smm.runs.runner import RunReport, predict_inputs, predict_submission
    from smm.runs.voice import RunVoice

__getattr__, __dir__, __all__ = lazy_exports(__name__)
