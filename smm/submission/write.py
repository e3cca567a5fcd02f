"""Predict the videos of the test lists and write a complete submission folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from smm.data.frames import frame_number, list_frames
from smm.data.test_lists import MultiTaskTestList
from smm.formats.abaw_files import write_au_file, write_expr_file, write_multitask_file, write_va_file
from smm.formats.codes import MULTITASK_FILE
from smm.inference.engine import Engine, make_engine
from smm.inference.frames import predict_frames
from smm.inference.results import FramePredictions
from smm.model import SMMEmotionNet


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
    threshold: float = 0.5,
    clamp_va: bool = False,
    batch_size: int = 64,
    precision: str = "auto",
    mtl_file: str = MULTITASK_FILE,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    engine: str | Engine = "eager",
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
    engine : {"eager", "onnxruntime", "auto"} or Engine, default "eager"
        What runs the model (:mod:`smm.inference.engine`), made once for all videos.

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
    tracks = {"AU": au_videos, "EXPR": expr_videos, "VA": va_videos}
    if all(v is None for v in tracks.values()) and mtl_list is None:
        raise ValueError("give at least one test list: au_videos, expr_videos, va_videos or mtl_list")
    out = Path(out)
    counts = {video: _frame_count(video, count) for video, count in (frame_counts or {}).items()}
    listed = mtl_list.by_video() if mtl_list is not None else {}
    whole = {v: None for videos in tracks.values() if videos is not None for v in videos}
    report = SubmissionReport()
    mtl_rows: dict[str, FramePredictions] = {}
    run = make_engine(model, engine, precision=precision) if isinstance(engine, str) else engine
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        staged: list[Path] = []
        for video in dict.fromkeys([*whole, *listed]):
            folder = Path(frames[video]) if isinstance(frames, Mapping) else Path(frames) / video
            include = None
            num_frames = counts.get(video)
            images = list_frames(folder)
            last = frame_number(images[-1])
            if num_frames is not None and last > num_frames:
                raise ValueError(
                    f"frame_counts[{video!r}]={num_frames}, but {folder} has an image of frame {last}; "
                    "the count is too small (from another video, or off by one?)"
                )
            if video in whole:
                if num_frames is None:
                    report.uncounted.append(video)
                    if video in listed:
                        num_frames = max(last, int(listed[video].max()))
            else:
                include = listed[video].tolist()
                num_frames = num_frames if num_frames is not None else int(listed[video].max())
            result = predict_frames(
                model,
                folder,
                num_frames=num_frames,
                include=include,
                batch_size=batch_size,
                alpha=alpha,
                threshold=threshold,
                clamp_va=clamp_va,
                precision=precision,
                progress=progress,
                engine=run,
            )
            if video in whole:
                report.frames[video] = len(result.frame)
            wanted = [track for track, videos in tracks.items() if videos is not None and video in videos]
            if wanted:
                staged += write_video_files(staging, video, result, model, wanted)
            if video in listed:
                mtl_rows[video] = result.rows(listed[video])
            if log is not None:
                log(f"{video}: {int(result.observed.sum())} images, {len(result.frame)} frames")
        if mtl_list is not None:
            va, expr, au = _in_list_order(mtl_list, mtl_rows)
            staged.append(write_multitask_file(staging / mtl_file, mtl_list.images, va, expr, au))
        report.files = [_move_into(path, staging, out) for path in staged]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _frame_count(video: str, count: object) -> int:
    """A frame count as an int; integral floats (OpenCV's counts) are accepted."""
    if isinstance(count, (float, np.floating)) and float(count).is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"frame_counts[{video!r}] must be a positive integer, got {count!r}")
    return int(count)


def _move_into(path: Path, staging: Path, out: Path) -> Path:
    target = out / path.relative_to(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target


def write_video_files(
    out: str | os.PathLike[str],
    video: str,
    result: FramePredictions,
    model: SMMEmotionNet,
    tracks: Sequence[str] = ("AU", "EXPR", "VA"),
) -> list[Path]:
    """Write one video's ABAW files, ``out/<TRACK>/<video>.txt``, one line per row of ``result``.

    Parameters
    ----------
    out : path-like
    video : str
        The video's name.
    result : FramePredictions
        One row per video frame (filled frames included), e.g. from :func:`smm.predict_video`.
    model : SMMEmotionNet
        For the AU and expression names of the headers.
    tracks : sequence of {"AU", "EXPR", "VA"}

    Raises
    ------
    ValueError
        If a row has no prediction (a video in which no face was found), naming the video.
    """
    if not bool(result.observed.any()):
        raise ValueError(f"{video}: no face was found in any frame; the ABAW files need at least one prediction")
    unknown = sorted(set(tracks) - {"AU", "EXPR", "VA"})
    if unknown:
        raise ValueError(f"tracks must be among ('AU', 'EXPR', 'VA'), got {unknown}")
    return [_write_track(Path(out) / track / f"{video}.txt", track, result, model) for track in tracks]


def _write_track(path: Path, track: str, result: FramePredictions, model: SMMEmotionNet) -> Path:
    if track == "AU":
        return write_au_file(path, result.au, model.au_names)
    if track == "EXPR":
        return write_expr_file(path, result.expr, model.expression_names)
    return write_va_file(path, result.va)


def _in_list_order(
    test_list: MultiTaskTestList, rows: Mapping[str, FramePredictions]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VA, EXPR and AU rows of every listed image, in the list's order."""
    videos = np.asarray(test_list.videos, dtype=object)
    va = torch.empty(len(test_list), 2)
    expr = torch.empty(len(test_list), dtype=torch.int64)
    au = torch.empty(len(test_list), next(iter(rows.values())).au.shape[1], dtype=torch.int64)
    for video, result in rows.items():
        where = torch.from_numpy(np.flatnonzero(videos == video))
        va[where], expr[where], au[where] = result.va.float(), result.expr, result.au
    return va, expr, au
