"""Predict the videos of the test lists and write a complete submission folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from smm.data.test_lists import MultiTaskTestList
from smm.defaults import BATCH_SIZE, CLAMP_VA, DEFAULT_ENGINE, DEFAULT_PRECISION, THRESHOLD
from smm.formats.codes import MULTITASK_FILE
from smm.inference.engines import Engine
from smm.inference.options import PredictOptions, build_engine
from smm.inference.runtime import Precision
from smm.models.emotionnet import SMMEmotionNet
from smm.submission.parts import merge_parts, plan_submission, predict_part, write_video_files


@dataclass
class SubmissionReport:
    """What :func:`write_submission` did.

    Attributes
    ----------
    files : list of Path
        Every file written.
    frames : dict
        ``{video: frames written}`` for the single-task files.
    uncounted : list of str
        Videos whose frame count was not given: their single-task files end at the last
        frame that has an image, which is short of the video if its last frames have no face.
    """

    files: list[Path] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)


def write_submission(
    model: SMMEmotionNet,
    frames: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    au_videos: Sequence[str] | None = None,
    expr_videos: Sequence[str] | None = None,
    va_videos: Sequence[str] | None = None,
    mtl_list: MultiTaskTestList | None = None,
    frame_counts: Mapping[str, int] | None = None,
    alpha: float | Mapping[str, float] | None = None,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
    batch_size: int = BATCH_SIZE,
    precision: Precision | str = DEFAULT_PRECISION,
    mtl_file: str = MULTITASK_FILE,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
) -> SubmissionReport:
    """Predict every video a test list names and write the challenge's files.

    Each video is predicted once (:func:`smm.inference.frames.predict_frames`), smoothed per
    output with ``alpha``, and written to every track that lists it:
    ``out/AU/<video>.txt``, ``out/EXPR/<video>.txt``, ``out/VA/<video>.txt`` with one line
    per frame of the video, and ``out/MTL_predictions.txt`` with one row per image of the
    multi-task list, in its order. Frames without an image are filled from the nearest
    earlier frame with one (the published tester's rule).

    Parameters
    ----------
    model : SMMEmotionNet
    frames : path-like or mapping
        The cropped-aligned root (``<root>/<video>/00001.jpg``), or ``{video: folder}``.
    out : path-like
        The submission folder.
    au_videos : sequence of str, optional
        The single-task test lists (:func:`smm.data.read_video_list`).
    expr_videos : sequence of str, optional
        The single-task test lists (:func:`smm.data.read_video_list`).
    va_videos : sequence of str, optional
        The single-task test lists (:func:`smm.data.read_video_list`).
    mtl_list : MultiTaskTestList, optional
        The multi-task test list (:func:`smm.data.read_multitask_test_list`).
    frame_counts : mapping, optional
        ``{video: frames}``, e.g. from :func:`smm.data.videos.count_video_frames` (integral
        floats, as OpenCV gives, are accepted). Needed
        for single-task files that cover the whole video; see ``SubmissionReport.uncounted``.
    alpha : float or mapping, optional
        Smoothing per output, e.g. :data:`smm.temporal.PUBLISHED_ALPHA`.
    threshold, clamp_va, batch_size, precision, progress
        As in :func:`smm.inference.frames.predict_frames`.
    mtl_file : str, default "MTL_predictions.txt"
    log : callable, optional
        Called with one line of text per video.
    engine : {"auto", "eager", "onnxruntime", "onnxruntime-int8"} or Engine, default "auto"
        What runs the model (:mod:`smm.inference.engines`), made once for all videos.

    Returns
    -------
    SubmissionReport

    Raises
    ------
    ValueError
        Naming the video and the argument, e.g. for a frame count smaller than a video's last
        frame image. Nothing is written then: the files are staged beside ``out`` and moved
        into it only when every video succeeded, so a failed call leaves ``out`` as it was.
    """
    options = PredictOptions(
        alpha=alpha,
        threshold=threshold,
        clamp_va=clamp_va,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
        engine=engine,
    )
    plan = plan_submission(
        frames,
        au_videos=au_videos,
        expr_videos=expr_videos,
        va_videos=va_videos,
        mtl_list=mtl_list,
        frame_counts=frame_counts,
        mtl_file=mtl_file,
    )
    workload = sum(job.images for job in plan.jobs)
    run = build_engine(model, options, workload, calibrate=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        for job in plan.jobs:
            predict_part(model, job, parts, options, run, log=log)
        files = merge_parts(plan, parts, out)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return SubmissionReport(
        files=files,
        frames={job.video: job.num_frames for job in plan.jobs if job.tracks},
        uncounted=[job.video for job in plan.jobs if job.tracks and not job.counted],
    )


__all__ = ["SubmissionReport", "write_submission", "write_video_files"]
