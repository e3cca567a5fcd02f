"""A submission in parts: plan the videos, predict each into its own part, merge the parts into the folder.

:func:`smm.submission.write_submission` is these three steps in one process. Split, they let
many processes or machines share one submission: each predicts a share of the plan's videos
(``share([job.images for job in plan.jobs], world)[rank]``) into a common parts folder, and one
of them merges. A part holds one video's challenge files and its rows of the multi-task file,
so the merged files are the same, byte for byte, however the videos were shared out.

Example
-------
>>> plan = plan_submission(root, au_videos=au, mtl_list=mtl, frame_counts=counts)  # doctest: +SKIP
>>> for job in my_share_of(plan.jobs):  # doctest: +SKIP
...     predict_part(model, job, "parts/")
>>> merge_parts(plan, "parts/", "submission/")  # once, after every part is written  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smm._atomic import atomic_write
from smm.data.frames import frame_number, list_frames
from smm.data.test_lists import MultiTaskTestList
from smm.formats.abaw_files import write_au_file, write_expr_file, write_multitask_file, write_va_file
from smm.formats.codes import MULTITASK_FILE
from smm.inference.engines import Engine
from smm.inference.frames import frame_predictions
from smm.inference.options import PredictOptions
from smm.inference.results import FramePredictions
from smm.models.emotionnet import SMMEmotionNet

#: The single-task tracks, in the order their folders are written.
TRACKS = ("AU", "EXPR", "VA")


@dataclass(frozen=True)
class VideoJob:
    """One video of a submission: where its frames are and what is written for it.

    Attributes
    ----------
    video : str
        The video's name.
    folder : Path
        Its cropped-aligned frames.
    tracks : tuple of str
        The single-task tracks that list it (``"AU"``, ``"EXPR"``, ``"VA"``).
    num_frames : int
        Rows of its single-task files (and frames predicted).
    include : tuple of int or None
        For a video only the multi-task list names: the listed frames, the only images used.
    listed : tuple of int
        Its frames in the multi-task list, in the list's order (empty if not listed).
    counted : bool
        Whether its frame count was given (see ``uncounted`` of :class:`smm.submission.SubmissionReport`).
    images : int
        Frame images in its folder: the work, for sharing videos between processes.
    """

    video: str
    folder: Path
    tracks: tuple[str, ...]
    num_frames: int
    include: tuple[int, ...] | None
    listed: tuple[int, ...]
    counted: bool
    images: int


@dataclass(frozen=True)
class SubmissionPlan:
    """Every video of a submission (:class:`VideoJob`, in order of first appearance) and the multi-task list."""

    jobs: tuple[VideoJob, ...]
    mtl_list: MultiTaskTestList | None = None
    mtl_file: str = MULTITASK_FILE

    def fingerprint(self) -> str:
        """A digest of everything that decides the files (videos, tracks, frames, list order, file name)."""
        jobs = [
            [j.video, str(j.folder.resolve()), j.tracks, j.num_frames, j.include, j.listed, j.counted]
            for j in self.jobs
        ]
        images = list(self.mtl_list.images) if self.mtl_list is not None else None
        text = json.dumps([jobs, images, self.mtl_file])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_submission(
    frames: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
    *,
    au_videos: Sequence[str] | None = None,
    expr_videos: Sequence[str] | None = None,
    va_videos: Sequence[str] | None = None,
    mtl_list: MultiTaskTestList | None = None,
    frame_counts: Mapping[str, int] | None = None,
    mtl_file: str = MULTITASK_FILE,
) -> SubmissionPlan:
    """Check the test lists against the frame folders and say what each video needs; predicts nothing.

    Parameters are those of :func:`smm.submission.write_submission`. Every folder is listed
    here, so a missing folder or a frame count smaller than a video's last image stops the
    plan before any prediction.

    Returns
    -------
    SubmissionPlan

    Raises
    ------
    ValueError
        Naming the video and the argument (``frame_counts['video9']``), or when no list is given.
    FileNotFoundError
        For a video whose folder is missing or holds no image.
    """
    tracks = {"AU": au_videos, "EXPR": expr_videos, "VA": va_videos}
    if all(v is None for v in tracks.values()) and mtl_list is None:
        raise ValueError("give at least one test list: au_videos, expr_videos, va_videos or mtl_list")
    counts = {video: _frame_count(video, count) for video, count in (frame_counts or {}).items()}
    listed = mtl_list.by_video() if mtl_list is not None else {}
    whole = {v: None for videos in tracks.values() if videos is not None for v in videos}
    jobs = []
    for video in dict.fromkeys([*whole, *listed]):
        folder = Path(frames[video]) if isinstance(frames, Mapping) else Path(frames) / video
        images = list_frames(folder)
        last = frame_number(images[-1]) or 0  # list_frames keeps numbered images only
        count = counts.get(video)
        if count is not None and last > count:
            raise ValueError(
                f"frame_counts[{video!r}]={count}, but {folder} has an image of frame {last}; "
                "the count is too small (from another video, or off by one?)"
            )
        in_list = tuple(int(n) for n in listed.get(video, ()))
        if video in whole:
            include = None
            num_frames = count if count is not None else max((last, *in_list))
        else:
            include = in_list
            num_frames = count if count is not None else max(in_list)
        jobs.append(
            VideoJob(
                video=video,
                folder=folder,
                tracks=tuple(t for t, videos in tracks.items() if videos is not None and video in videos),
                num_frames=num_frames,
                include=include,
                listed=in_list,
                counted=count is not None,
                images=len(images),
            )
        )
    return SubmissionPlan(tuple(jobs), mtl_list, mtl_file)


def plan_folders(
    folders: Sequence[str | os.PathLike[str]],
    *,
    tracks: Collection[str] = (*TRACKS, "MTL"),
    frame_counts: Mapping[str, int] | None = None,
    mtl_file: str = MULTITASK_FILE,
) -> SubmissionPlan:
    """The plan of a submission of your own video folders, without test lists: every track, every frame image.

    Parameters
    ----------
    folders : sequence of path-like
        One folder of cropped-aligned frames per video; the folder's name is the video's name.
    tracks : collection of {"AU", "EXPR", "VA", "MTL"}
        The files to write: each single-task track lists every video, and ``"MTL"`` writes a
        multi-task file naming every frame image, in folder then frame order.
    frame_counts, mtl_file
        As for :func:`plan_submission`.

    Raises
    ------
    ValueError
        For two folders of one name, or an unknown track.
    """
    named = {Path(folder).name: Path(folder) for folder in folders}
    if len(named) != len(folders):
        raise ValueError("folders must have different names (the folder name is the video name)")
    unknown = sorted(set(tracks) - {*TRACKS, "MTL"})
    if unknown:
        raise ValueError(f"tracks must be among {(*TRACKS, 'MTL')}, got {unknown}")
    videos = list(named)
    lists: dict[str, Any] = {f"{track.lower()}_videos": videos for track in TRACKS if track in tracks}
    if "MTL" in tracks:
        images = [f"{video}/{path.name}" for video, folder in named.items() for path in list_frames(folder)]
        lists["mtl_list"] = MultiTaskTestList(
            tuple(images),
            tuple(image.rsplit("/", 1)[0] for image in images),
            np.asarray([int(Path(image).stem) for image in images], dtype=np.int64),
        )
    return plan_submission(named, frame_counts=frame_counts, mtl_file=mtl_file, **lists)


def _frame_count(video: str, count: object) -> int:
    """A frame count as an int; integral floats (OpenCV's counts) are accepted."""
    if isinstance(count, (float, np.floating)) and float(count).is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"frame_counts[{video!r}] must be a positive integer, got {count!r}")
    return int(count)


def part_files(job: VideoJob, parts: str | os.PathLike[str]) -> list[Path]:
    """The files of ``job``'s part: ``parts/<TRACK>/<video>.txt`` per track, ``parts/MTL/<video>.npz`` if listed."""
    parts = Path(parts)
    files = [parts / track / f"{job.video}.txt" for track in job.tracks]
    return files + ([parts / "MTL" / f"{job.video}.npz"] if job.listed else [])


def predict_part(
    model: SMMEmotionNet,
    job: VideoJob,
    parts: str | os.PathLike[str],
    options: PredictOptions,
    engine: Engine,
    *,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Predict one video and write its part (:func:`part_files`), each file atomically.

    Parameters
    ----------
    model : SMMEmotionNet
    job : VideoJob
        From :func:`plan_submission`.
    parts : path-like
        The parts folder, shared by every process of a run.
    options : PredictOptions
        The run's options (``alpha``, ``threshold``, ``clamp_va``, ``batch_size``, ``progress``).
    engine : Engine
        The run's engine, built once (:func:`smm.inference.options.build_engine`).
    log : callable, optional
        Called with one line: the video, its images and frames.

    Returns
    -------
    list of Path
        The part's files.
    """
    result = frame_predictions(model, job.folder, options, engine, num_frames=job.num_frames, include=job.include)
    written = write_video_files(parts, job.video, result, model, job.tracks) if job.tracks else []
    if job.listed:
        rows = result.rows(job.listed)
        arrays = {"va": rows.va.float().numpy(), "expr": rows.expr.numpy(), "au": rows.au.numpy()}
        target = Path(parts) / "MTL" / f"{job.video}.npz"
        written.append(atomic_write(target, lambda path: _save_rows(path, arrays)))
    if log is not None:
        log(f"{job.video}: {int(result.observed.sum())} images, {len(result.frame)} frames")
    return written


def _save_rows(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with path.open("wb") as handle:  # a handle, so numpy does not add its own suffix to the temporary name
        np.savez(handle, **arrays)


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


def merge_parts(plan: SubmissionPlan, parts: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[Path]:
    """Write the submission folder from every job's part: the single-task files, then the multi-task file.

    Each file is written atomically; the parts are left as they are.

    Raises
    ------
    FileNotFoundError
        If a job's part is missing, naming the video and the file.
    """
    parts, out = Path(parts), Path(out)
    missing = [(job.video, path) for job in plan.jobs for path in part_files(job, parts) if not path.is_file()]
    if missing:
        video, path = missing[0]
        raise FileNotFoundError(
            f"{video}: its part {path} is missing ({len(missing)} file(s) in all); predict it first"
        )
    written = []
    for track in TRACKS:
        for job in plan.jobs:
            if track in job.tracks:
                source = parts / track / f"{job.video}.txt"
                written.append(atomic_write(out / track / source.name, lambda p, s=source: shutil.copyfile(s, p)))
    if plan.mtl_list is not None:
        rows = {job.video: _load_rows(parts / "MTL" / f"{job.video}.npz") for job in plan.jobs if job.listed}
        va, expr, au = _in_list_order(plan.mtl_list, rows)
        written.append(write_multitask_file(out / plan.mtl_file, plan.mtl_list.images, va, expr, au))
    return written


def _load_rows(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in ("va", "expr", "au")}


def _in_list_order(
    test_list: MultiTaskTestList, rows: Mapping[str, Mapping[str, Any]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VA, EXPR and AU rows of every listed image, in the list's order."""
    videos = np.asarray(test_list.videos)
    va = torch.empty(len(test_list), 2)
    expr = torch.empty(len(test_list), dtype=torch.int64)
    au = torch.empty(len(test_list), next(iter(rows.values()))["au"].shape[1], dtype=torch.int64)
    for video, part in rows.items():
        where = torch.from_numpy(np.flatnonzero(videos == video))
        va[where] = torch.from_numpy(part["va"])
        expr[where] = torch.from_numpy(part["expr"])
        au[where] = torch.from_numpy(part["au"])
    return va, expr, au


__all__ = [
    "TRACKS",
    "SubmissionPlan",
    "VideoJob",
    "merge_parts",
    "part_files",
    "plan_folders",
    "plan_submission",
    "predict_part",
    "write_video_files",
]
