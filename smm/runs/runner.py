"""The one sharded, resumable prediction loop: photos and videos, or a challenge submission, over many processes.

Both entry points run the same loop:

1. the engine is made once for the run (:func:`smm.inference.engines.make_engine`) and said in
   one line;
2. rank 0 claims the run's record (:class:`~smm.runs.manifest.RunManifest`: the model's
   fingerprint, the engine and every option that changes the outputs), and every process
   learns whether it may go on; a folder holding another run is refused in one line;
3. each process takes its :func:`~smm.runs.processes.share` of the inputs (balanced by frames)
   and predicts every input of it that the record does not already hold complete, writing
   each output atomically and then recording it;
4. rank 0 gathers every process's records into ``summary.json``, in input order.

A run killed at any point loses at most the inputs it was predicting; the same call again
redoes only those. One process gives the same files, byte for byte, as several.

:func:`predict_inputs` writes a CSV per video (and the challenge files with ``abaw=True``) and
one for the photos; :func:`predict_submission` predicts each video of a
:class:`~smm.submission.parts.SubmissionPlan` into its part, beside the submission folder,
and rank 0 merges the parts into the folder once every video is done.

Example: many GPUs from Python, launched with ``torchrun --nproc_per_node=8 my_run.py``::

    import smm
    from smm.runs import Processes, predict_inputs

    processes = Processes()  # joins torchrun's group; one GPU per process
    model = smm.load_checkpoint("runs/abaw3").to(processes.device)
    report = predict_inputs(model, ["videos/"], "out/", abaw=True, processes=processes)
    processes.close()
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from smm._atomic import atomic_write
from smm.defaults import (
    BATCH_SIZE,
    CLAMP_VA,
    DEFAULT_ENGINE,
    DEFAULT_FACES,
    DEFAULT_PRECISION,
    DETECT_EVERY,
    DETECT_SIZE,
    THRESHOLD,
)
from smm.face.detector import FaceDetector, default_detector
from smm.face.video import PartialVideoWarning
from smm.formats.frames_csv import write_frames_csv
from smm.inference.core import Alpha
from smm.inference.engines import Engine, describe_engine
from smm.inference.options import PredictOptions, build_engine
from smm.inference.photos import photo_predictions
from smm.inference.runtime import Precision
from smm.inference.video import video_run
from smm.models.emotionnet import SMMEmotionNet
from smm.models.fingerprint import model_fingerprint
from smm.runs.inputs import (
    OVERLAY_SUFFIX,
    PHOTOS_CSV,
    InputPlan,
    abaw_name,
    csv_name,
    overlay_name,
    photos_key,
    plan_inputs,
)
from smm.runs.manifest import RunManifest
from smm.runs.processes import Processes, share
from smm.runs.voice import RunVoice
from smm.submission.parts import SubmissionPlan, VideoJob, merge_parts, predict_part
from smm.submission.write import write_video_files

#: The summary of a run: each input, its status and outputs, in input order.
SUMMARY = "summary.json"


@dataclass(frozen=True)
class RunReport:
    """What a run did, as rank 0 gathered it (other processes get ``None``).

    Attributes
    ----------
    items : list of dict
        Each input's record, in input order, as in ``summary.json``: its ``status``
        (``"done"``, ``"failed"``, ``"complete before this run"``) and what it wrote or why it failed.
    written : list of Path
        Files written into the output folder by this run.
    skipped : int
        Inputs that were complete before this run.
    failed : list of str
        Inputs that failed (a photo without a face is not a failure).
    state : Path
        Where the run's record and ``summary.json`` are.
    uncounted : list of str
        Submissions: videos whose frame count was not given (their files end at the last frame
        with an image).
    """

    items: list[dict[str, Any]]
    written: list[Path] = field(default_factory=list)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    state: Path = Path()
    uncounted: list[str] = field(default_factory=list)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a run between or within its inputs; what was complete is kept.

    Every output is written atomically and recorded only once written, so nothing is left
    half-written, and the same call again goes on from the first input that was not complete.
    A subclass of ``KeyboardInterrupt``: code that does not catch it stops as on any Ctrl-C.

    Attributes
    ----------
    complete : int
        Inputs of this process that are complete (this run's and earlier runs').
    total : int
        Inputs of this process.
    """

    def __init__(self, complete: int, total: int) -> None:
        super().__init__(f"interrupted: {complete} of {total} inputs complete; rerun the same command to continue")
        self.complete, self.total = complete, total


@dataclass(frozen=True)
class _Input:
    """One unit of work: its manifest key, its size (frames, for sharing), and how to predict it."""

    key: str
    size: int
    label: dict[str, Any]
    predict: Callable[[], tuple[dict[str, Any], list[Path]]]


def predict_inputs(
    model: SMMEmotionNet,
    inputs: InputPlan | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    detector: FaceDetector | None = None,
    faces: str = DEFAULT_FACES,
    detect_every: int = DETECT_EVERY,
    detect_size: int | None = DETECT_SIZE,
    batch_size: int = BATCH_SIZE,
    engine: str | Engine = DEFAULT_ENGINE,
    precision: Precision | str = DEFAULT_PRECISION,
    alpha: Alpha = None,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
    abaw: bool = False,
    processes: Processes | None = None,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
    overlay: bool = False,
) -> RunReport | None:
    """Photos and videos to per-frame CSVs: ``out/<video>.csv`` per video, ``out/images.csv`` for the photos.

    Each input stands alone: one that cannot be read is said in one line and has no output (a
    photo gets a row without a face and its reason); the others are written. See the module
    for the loop (shares, record, resume).

    Parameters
    ----------
    model : SMMEmotionNet
        On this process's device.
    inputs : InputPlan or sequence of path-like
        Photos, videos and folders of photos, or their plan (:func:`smm.runs.inputs.plan_inputs`,
        made with the same ``abaw``), to check them before the model is loaded.
    out : path-like
        The output folder; its record is ``out/.smm-run``.
    detector : smm.face.FaceDetector, optional
        Default MTCNN on the model's device.
    faces, detect_every, detect_size, batch_size, threshold, clamp_va
        As for :func:`smm.predict_video`.
    engine, precision
        What runs the model (:func:`smm.inference.engines.make_engine`), made once for the run.
    alpha : float, mapping, "published" or None
        Smoothing of the CSV's rows along each face's track (default none).
    abaw : bool, default False
        Also write each video's challenge files (``AU/``, ``EXPR/``, ``VA/<video>.txt``, per side
        where two faces meet), smoothed as ``alpha`` says, or as published when it is ``None``.
    processes : Processes, optional
        This process among several (under torchrun); default the processes of the environment
        (one, outside torchrun).
    quiet : bool, default False
        Say only what failed.
    log : callable, optional
        Where the lines go (default stderr).
    overlay : bool, default False
        Also write each video annotated with its predictions, ``out/<video>.overlay.mp4``
        (:func:`smm.viz.overlay_video`).

    Returns
    -------
    RunReport or None
        In rank 0; ``None`` in the other processes.

    Raises
    ------
    FileNotFoundError, ValueError
        Before anything is predicted: an input that does not exist or is neither photo nor
        video, two inputs that would write one file, or an ``out`` holding another run.
    """
    options = PredictOptions(
        faces=faces,
        detect_every=detect_every,
        detect_size=detect_size,
        batch_size=batch_size,
        engine=engine,
        precision=precision,
        alpha=alpha,
        threshold=threshold,
        clamp_va=clamp_va,
    )
    plan = inputs if isinstance(inputs, InputPlan) else plan_inputs(inputs, abaw=abaw)
    if plan.abaw != abaw:
        raise ValueError(f"inputs were planned with abaw={plan.abaw}, but abaw={abaw}: plan them with this run's abaw")
    photos, videos = list(plan.photos), list(plan.videos)
    out = Path(out)
    with _joined(processes, model) as procs:
        voice = RunVoice(quiet, procs.rank, procs.world, log)
        options = replace(options, progress=voice.progress)
        units = [_video_input(video) for video in videos] + ([_photos_input(photos)] if photos else [])
        mine = share([size for _, size in units], procs.world)[procs.rank]
        run = _engine(model, options, sum(units[i][1] for i in mine), voice)
        facts = {
            "model": model_fingerprint(model),
            **options.record(run),
            "abaw": abaw,
            **({"overlay": True} if overlay else {}),  # absent when off: earlier runs' records stay valid
        }
        found = detector if detector is not None else default_detector(procs.device)
        job = _Job(model, found, run, options, out, voice)
        work = [
            _Input(
                key,
                size,
                {"input": _shown(unit)},
                (lambda u=unit: _predict_photos(u, job))
                if isinstance(unit, list)
                else (lambda u=unit: _predict_video(u, job, abaw=abaw, overlay=overlay)),
            )
            for (key, size), unit in zip(units, [*videos, *([photos] if photos else [])], strict=True)
        ]
        manifest = RunManifest(out, facts)
        items = _share_and_run(work, manifest, procs, lambda error: str(error))
        if items is None:
            return None
        _write_summary(out, items)
        return RunReport(
            items=items,
            written=[out / name for item in items for name in item.get("outputs", [])],
            skipped=sum(item["status"] == "complete before this run" for item in items),
            failed=[failure for item in items for failure in item.get("failed", [])],
            state=manifest.folder,
        )


def predict_submission(
    model: SMMEmotionNet,
    plan: SubmissionPlan,
    out: str | os.PathLike[str],
    *,
    alpha: Alpha = None,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
    batch_size: int = BATCH_SIZE,
    engine: str | Engine = DEFAULT_ENGINE,
    precision: Precision | str = DEFAULT_PRECISION,
    processes: Processes | None = None,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunReport | None:
    """The videos of a submission plan, shared between processes, each into its part; rank 0 merges the folder.

    The run's record, the parts and ``summary.json`` live beside the submission folder, in
    ``.<name>.smm-run``, so the folder holds only the challenge's files, and only once every
    video is done: a failed video leaves it as it was (the report names it), and the same call
    again redoes only what is missing or whose frame images changed.

    Parameters
    ----------
    model : SMMEmotionNet
    plan : SubmissionPlan
        From :func:`smm.submission.parts.plan_submission` or :func:`~smm.submission.parts.plan_folders`.
    out : path-like
        The submission folder.
    alpha, threshold, clamp_va, batch_size
        As for :func:`smm.submission.write_submission`.
    engine, precision, processes, quiet, log
        As for :func:`predict_inputs`.

    Returns
    -------
    RunReport or None
        In rank 0 (``written`` is empty when a video failed: nothing was merged); ``None`` in the others.
    """
    options = PredictOptions(
        alpha=alpha, threshold=threshold, clamp_va=clamp_va, batch_size=batch_size, engine=engine, precision=precision
    )
    out = Path(out).resolve()
    state = out.with_name(f".{out.name}.smm-run")
    with _joined(processes, model) as procs:
        voice = RunVoice(quiet, procs.rank, procs.world, log)
        options = replace(options, progress=voice.progress)
        mine = share([job.images for job in plan.jobs], procs.world)[procs.rank]
        run = _engine(model, options, sum(plan.jobs[i].images for i in mine), voice, calibrate=False)
        facts = {"model": model_fingerprint(model), **options.record(run, frames_only=True), "plan": plan.fingerprint()}

        def predicted(job: VideoJob) -> tuple[dict[str, Any], list[Path]]:
            try:
                files = predict_part(model, job, state / "parts", options, run, log=voice.tell)
            except (OSError, ValueError) as error:
                message = " ".join(str(error).split())
                voice.say(f"skipped {job.video}: {message}")
                return {"video": job.video, "status": "failed", "failed": message}, []
            return {"video": job.video, "status": "done", "parts": [str(f.relative_to(state)) for f in files]}, files

        work = [
            _Input(str(job.folder), job.images, {"video": job.video}, lambda j=job: predicted(j)) for job in plan.jobs
        ]
        manifest = RunManifest(state, facts, folder=state)
        items = _share_and_run(work, manifest, procs, lambda error: f"{Path(out)}: {error}")
        if items is None:
            return None
        _write_summary(state, items)
        failed = [item["video"] for item in items if item["status"] == "failed"]
        report = RunReport(
            items=items,
            skipped=sum(item["status"] == "complete before this run" for item in items),
            failed=failed,
            state=state,
            uncounted=[job.video for job in plan.jobs if job.tracks and not job.counted],
        )
        if failed:
            return report
        return replace(report, written=merge_parts(plan, state / "parts", out))


def _share_and_run(
    work: Sequence[_Input], manifest: RunManifest, procs: Processes, refused: Callable[[ValueError], str]
) -> list[dict[str, Any]] | None:
    """Claim the record (rank 0), predict this process's share, gather every record: the loop of both runs."""
    problem = None
    if procs.main:
        try:
            manifest.claim()
        except ValueError as error:
            problem = refused(error)
    problem = procs.broadcast(problem)
    if problem:
        raise ValueError(problem)
    done: dict[int, dict[str, Any]] = {}
    mine = share([unit.size for unit in work], procs.world)[procs.rank]
    try:
        for index in mine:
            unit = work[index]
            if manifest.complete(unit.key):
                done[index] = {**unit.label, "status": "complete before this run"}
                continue
            item, outputs = unit.predict()
            if outputs:
                manifest.record(unit.key, outputs)
            done[index] = {**unit.label, **item}
    except KeyboardInterrupt:
        complete = sum(item["status"] != "failed" for item in done.values())
        raise RunInterrupted(complete, len(mine)) from None
    merged: dict[int, dict[str, Any]] = {}
    for part in procs.gather(done):
        merged.update(part)
    if not procs.main:
        return None
    return [merged[i] for i in sorted(merged)]


@dataclass(frozen=True)
class _Job:
    """What every input of a run is predicted with: built once for the run."""

    model: SMMEmotionNet
    detector: FaceDetector
    engine: Engine
    options: PredictOptions
    out: Path
    voice: RunVoice


def _predict_video(video: Path, job: _Job, *, abaw: bool, overlay: bool) -> tuple[dict[str, Any], list[Path]]:
    """One video's CSV (and challenge files, and annotated copy): its record and outputs."""
    model, options, out, voice = job.model, job.options, job.out, job.voice
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PartialVideoWarning)
            features = video_run(model, video, options, job.engine, job.detector)
    except (OSError, ValueError) as error:
        message = named(video, error)
        voice.say(f"skipped {message}")
        return {"status": "failed", "outputs": [], "failed": [message]}, []
    partial = []
    for warning in caught:
        if issubclass(warning.category, PartialVideoWarning):
            partial.append(str(warning.message))
            voice.say(f"warning: {warning.message}")
        else:  # not ours to swallow
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    decided = {"threshold": options.threshold, "clamp_va": options.clamp_va}
    rows = features.predictions(model, alpha=options.alpha, **decided)
    written = [write_frames_csv(out / csv_name(video), rows)]
    if overlay:
        from smm.viz.overlay import overlay_video

        written.append(overlay_video(video, rows, out / overlay_name(video)))
    turned = f" ({described})" if (described := features.orientation.describe()) else ""
    voice.tell(  # after the progress line, which ends with the frames per second
        f"{video.name}{turned}: {features.num_frames} frames, a face in {len(set(features.frame[features.observed]))}, "
        f"{int(features.observed.sum())} face(s) in {len(features.tracks)} track(s)"
    )
    if abaw:
        # The challenge files are smoothed as published unless alpha says otherwise.
        alpha = "published" if options.alpha is None else options.alpha
        for side in features.sides:
            per_frame = features.per_frame(model, side, alpha=alpha, **decided)
            if bool(per_frame.observed.any()):
                written += write_video_files(out, abaw_name(video, side), per_frame, model)
    record = _done(written, out, [])
    record["rotation"], record["mirrored"] = features.orientation.rotation, features.orientation.mirrored
    if partial:
        record["warnings"] = partial
    return record, written


def named(path: str | os.PathLike[str], error: BaseException) -> str:
    """``error``'s words on one line, naming ``path`` once: at their start, unless they already do."""
    message = " ".join(str(error).split())
    return message if str(path) in message else f"{path}: {message}"


def _predict_photos(photos: list[Path], job: _Job) -> tuple[dict[str, Any], list[Path]]:
    """The photos' CSV: its record and output."""
    result = photo_predictions(
        job.model, photos, job.options, job.engine, job.detector, errors="report", shown=job.voice.progress
    )
    written = [write_frames_csv(job.out / PHOTOS_CSV, result)]
    unreadable = [
        reason for reason in result.reason if reason and not reason.startswith(("no face", "image too small"))
    ]
    for reason in unreadable:
        job.voice.say(f"skipped {reason}")
    with_face = len({s for s, seen in zip(result.source, result.observed.tolist(), strict=True) if seen})
    job.voice.tell(f"{len(photos)} photo(s): {int(result.observed.sum())} face(s) in {with_face} photo(s)")
    return _done(written, job.out, unreadable), written


def _done(written: list[Path], out: Path, failures: list[str]) -> dict[str, Any]:
    return {
        "status": "failed" if failures and not written else "done",
        "outputs": [str(Path(o).relative_to(out)) for o in written],
        "failed": failures,
    }


def _video_input(video: Path) -> tuple[str, int]:
    """A video's manifest key and work: its frame count as its file states it (1 when it states none)."""
    from smm.data.videos import recorded_frame_count

    return str(video), recorded_frame_count(video) or 1  # an unreadable video fails later, in one line


def _photos_input(photos: list[Path]) -> tuple[str, int]:
    return photos_key(photos), len(photos)


def _shown(unit: Path | list[Path]) -> str:
    return f"{len(unit)} photo(s)" if isinstance(unit, list) else str(unit)


def _engine(
    model: SMMEmotionNet, options: PredictOptions, workload: int, voice: RunVoice, *, calibrate: bool = True
) -> Engine:
    """The run's engine, made once (real aligned faces at hand for int8 where the inputs are faces), said by rank 0."""
    run = build_engine(model, options, workload, calibrate=calibrate, log=voice.say)
    voice.announce(f"engine: {describe_engine(run)}")
    return run


@contextmanager
def _joined(given: Processes | None, model: SMMEmotionNet) -> Iterator[Processes]:
    """The given processes, or those of the environment (joined, and left afterwards, here)."""
    if given is not None:
        yield given
        return
    made = Processes(str(next(model.parameters()).device))
    try:
        yield made
    finally:
        made.close()


def _write_summary(folder: Path, items: Sequence[Mapping[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(list(items), indent=1) + "\n"
    atomic_write(folder / SUMMARY, lambda path: path.write_text(text))


__all__ = ["OVERLAY_SUFFIX", "SUMMARY", "RunInterrupted", "RunReport", "predict_inputs", "predict_submission"]
