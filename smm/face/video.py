"""Every face of a video, frame by frame: decode, detect, refine the landmarks, track, align.

:class:`FaceFollower` turns chunks of decoded frames into rows, one per (frame, face), with the
face's track id, box and five landmarks, and the 112 x 112 aligned crop of each face. Full
detection runs every ``detect_every`` frames and finds new faces; on every frame in between
(and for tracked faces a detection missed) each tracked face's landmarks are re-located with
the detector's ``refine`` (MTCNN's O-Net on the face's predicted box), so every frame is
aligned on its own landmarks, at a small fraction of a detection's cost.

The prediction layer (:func:`smm.inference.video.video_features`) feeds the crops to the model; the
``align`` command (:mod:`smm.face.crops`) writes them as Aff-Wild2-style frame folders.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from smm.defaults import DEFAULT_FACES, DETECT_EVERY, DETECT_SIZE, FACES
from smm.face.align import TEMPLATE_112, align_faces, pixels_tensor, to_uint8
from smm.face.detector import FaceDetector, Faces, LandmarkRefiner, check_detector, detect_scaled
from smm.face.orientation import Orientation
from smm.face.track import MultiFaceTracker, box_iou

ALIGNED_SIZE = 112
FaceChoice = Literal["all", "largest"]
#: Frames decoded ahead of the face following, and frames it takes at a time (detection is
#: batched within them). Few: at 4K a frame is 25 MB.
READ_AHEAD = 2
FOLLOW_CHUNK = 4
#: The most bytes of decoded frames that each of the two may hold. At 4K (25 MB a frame) the
#: follower takes one frame at a time and one is read ahead; 720p frames (2.8 MB) are not
#: limited by it.
FRAME_BUDGET = 32 * 2**20
#: A track unseen for up to this many frames is still looked for, at its predicted box, on
#: every frame (a face hidden for a frame or two comes back before the next detection).
REFINE_GAP = 5
#: Two refined faces overlapping more than this are one face: the younger track gives way.
DUPLICATE_IOU = 0.5
#: A frame whose grey thumbnail (about 64 x 36) differs from the previous frame's by more than
#: this mean absolute level (of 255) is a cut: full detection runs on it at once, whatever
#: ``detect_every`` says, so a new scene's faces are found on its first frame.
CUT_THRESHOLD = 30.0


class FaceRows(NamedTuple):
    """R rows, one per (frame, face), plus one row for each frame without a face.

    Attributes
    ----------
    frame : numpy.ndarray
        ``(R,)`` int64 frame numbers, from 1.
    time : numpy.ndarray
        ``(R,)`` float64 seconds from the start.
    face_id : numpy.ndarray
        ``(R,)`` int64 track id, ``-1`` for a frame without a face.
    box : numpy.ndarray
        ``(R, 4)`` float32 ``x0, y0, x1, y1``, NaN without a face.
    landmarks : numpy.ndarray
        ``(R, 5, 2)`` float32, NaN without a face.
    crops : torch.Tensor
        ``[F, 112, 112, 3]`` uint8 aligned crops of the rows with a face, in row order.
    """

    frame: np.ndarray
    time: np.ndarray
    face_id: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray
    crops: torch.Tensor

    @classmethod
    def empty(cls) -> FaceRows:
        """No rows."""
        return cls(
            frame=np.zeros(0, np.int64),
            time=np.zeros(0, np.float64),
            face_id=np.zeros(0, np.int64),
            box=np.zeros((0, 4), np.float32),
            landmarks=np.zeros((0, 5, 2), np.float32),
            crops=torch.zeros(0, ALIGNED_SIZE, ALIGNED_SIZE, 3, dtype=torch.uint8),
        )

    @classmethod
    def concat(cls, parts: Sequence[FaceRows]) -> FaceRows:
        """The rows of ``parts``, one after the other (no rows for no parts)."""
        if not parts:
            return cls.empty()
        joined = {name: np.concatenate([getattr(part, name) for part in parts]) for name in cls._fields[:-1]}
        return cls(**joined, crops=torch.cat([part.crops for part in parts]))


def check_faces(faces: str) -> FaceChoice:
    """``faces`` if it is one of :data:`FACES`, else a ``ValueError``."""
    if faces not in FACES:
        raise ValueError(f"faces must be one of {', '.join(map(repr, FACES))}, got {faces!r}")
    return faces  # type: ignore[return-value]


def check_detect_every(detect_every: int) -> int:
    """``detect_every`` if it is a positive integer, else a ``ValueError``."""
    if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
        raise ValueError(f"detect_every must be a positive integer, got {detect_every!r}")
    return detect_every


def check_detect_size(detect_size: int | None) -> int | None:
    """``detect_size`` if it is a positive integer or None, else a ``ValueError``."""
    if detect_size is not None and (
        isinstance(detect_size, bool) or not isinstance(detect_size, int) or detect_size < 1
    ):
        raise ValueError(f"detect_size must be a positive integer or None, got {detect_size!r}")
    return detect_size


class PartialVideoWarning(UserWarning):
    """A video decoded only in part (truncated or damaged): its frames that decoded were predicted."""


def aligned_crops(
    frames: np.ndarray | torch.Tensor | Sequence[np.ndarray], landmarks: np.ndarray, index: np.ndarray
) -> torch.Tensor:
    """The 112 x 112 aligned face crops, ``Tensor[B, 112, 112, 3]`` uint8, of faces in ``frames``.

    Only the crops are computed in floating point: the frames stay ``uint8`` and are sampled
    where the crops need them, all faces together (:func:`~smm.face.align.align_faces`).

    Parameters
    ----------
    frames : array or Tensor[N, H, W, 3] of uint8, or a sequence of N (H, W, 3) uint8 arrays
        RGB frames; a sequence is not stacked (at 4K a frame is 25 MB).
    landmarks : numpy.ndarray
        ``(B, 5, 2)`` landmarks of each face, in its frame's pixels.
    index : numpy.ndarray
        ``(B,)`` the frame of each face.
    """
    if isinstance(frames, (np.ndarray, torch.Tensor)):
        frames = list(frames)
    images = [(pixels_tensor(frame) if isinstance(frame, np.ndarray) else frame).permute(2, 0, 1) for frame in frames]
    crops = align_faces(
        images,
        torch.from_numpy(np.asarray(landmarks, np.float32)).reshape(-1, 5, 2),
        index=torch.from_numpy(np.asarray(index, np.int64)),
        size=ALIGNED_SIZE,
        template=TEMPLATE_112,
    )
    return to_uint8(crops)


class FaceFollower:
    """Follows the faces of one video through its chunks of frames (see the module).

    Parameters
    ----------
    detector : FaceDetector
        Its ``refine`` (:class:`~smm.face.detector.LandmarkRefiner`), when it has one, runs on
        the frames between detections; without it those frames reuse each face's last
        landmarks.
    detect_every : int, default 10
        Full detection on frames 1, 1 + N, 1 + 2N, ..., and on every cut (a frame unlike the
        one before, :data:`CUT_THRESHOLD`): a face that enters a scene is picked up at the next
        such frame, a new scene's faces on its first frame. Tracked faces are re-located on
        every frame in between.
    faces : {"all", "largest"}, default "all"
        ``"largest"``: one face, the largest when following starts; when that face is not
        found at a detection round, the largest face found there is followed instead.
    tracker : MultiFaceTracker, optional
    detect_size : int or None, default 480
        Full detection runs on the frame scaled down so that its shorter side is at most this
        many pixels (boxes and landmarks are mapped back, then the landmarks are refined on the
        full frame): the detector's cost falls with the square of the scale (a 4K frame costs
        as much as a 480p one), at the price of the smallest face it finds growing in
        proportion (20 px at the detection's scale). ``None`` detects at full resolution.
    """

    def __init__(
        self,
        detector: FaceDetector,
        *,
        detect_every: int = DETECT_EVERY,
        faces: FaceChoice = DEFAULT_FACES,
        tracker: MultiFaceTracker | None = None,
        detect_size: int | None = DETECT_SIZE,
    ) -> None:
        check_detect_every(detect_every)
        self.detect_size = check_detect_size(detect_size)
        self.detector, self.detect_every, self.faces = check_detector(detector), detect_every, check_faces(faces)
        self.tracker = tracker if tracker is not None else MultiFaceTracker()
        self.frames = 0  # frames seen so far
        self.followed: int | None = None
        self.size: tuple[int, int] | None = None  # (width, height) of the frames
        self._landmarks: dict[int, np.ndarray] = {}  # last landmarks of each track
        self._thumbnail: np.ndarray | None = None  # the last frame's, to notice cuts

    def chunk(self, frames: list[tuple[float, np.ndarray]]) -> FaceRows:
        """The rows and crops of the next chunk of ``(time, (H, W, 3) uint8 RGB)`` frames."""
        first = self.frames
        rounds = [k for k, (_, image) in enumerate(frames) if self._cut(image) or (first + k) % self.detect_every == 0]
        detected = dict(zip(rounds, self._detect([frames[k][1] for k in rounds]), strict=True))
        rows: list[tuple[int, float, int, np.ndarray, np.ndarray]] = []
        for k, (time, image) in enumerate(frames):
            number = first + k + 1
            if self.size is None:
                self.size = (int(image.shape[1]), int(image.shape[0]))
            seen = self._step(number, image, detected.get(k))
            if not seen:
                rows.append((number, time, -1, np.full(4, np.nan, np.float32), np.full((5, 2), np.nan, np.float32)))
            rows += [(number, time, track_id, box, points) for track_id, (box, points) in seen.items()]
        self.frames += len(frames)
        with_face = [i for i, row in enumerate(rows) if row[2] >= 0]
        crops = torch.zeros(0, ALIGNED_SIZE, ALIGNED_SIZE, 3, dtype=torch.uint8)
        if with_face:
            # All the chunk's faces in one call; the frames are not stacked (that would copy 100 MB at 4K).
            crops = aligned_crops(
                [image for _, image in frames],
                np.stack([rows[i][4] for i in with_face]),
                np.asarray([rows[i][0] - first - 1 for i in with_face], np.int64),
            )
        if not rows:
            return FaceRows.empty()
        return FaceRows(
            frame=np.asarray([r[0] for r in rows], np.int64),
            time=np.asarray([r[1] for r in rows], np.float64),
            face_id=np.asarray([r[2] for r in rows], np.int64),
            box=np.stack([r[3] for r in rows]).astype(np.float32),
            landmarks=np.stack([r[4] for r in rows]).astype(np.float32),
            crops=crops,
        )

    def _cut(self, image: np.ndarray) -> bool:
        """Whether ``image`` is unlike the frame before it (see :data:`CUT_THRESHOLD`); the first frame is not."""
        height, width = image.shape[:2]
        thumbnail = image[:: max(1, height // 36), :: max(1, width // 64)].mean(axis=2, dtype=np.float32)
        previous, self._thumbnail = self._thumbnail, thumbnail
        return previous is not None and float(np.abs(thumbnail - previous).mean()) > CUT_THRESHOLD

    def _detect(self, images: list[np.ndarray]) -> list[Faces]:
        """Full detection, on frames scaled down to ``detect_size``; results in full-frame pixels."""
        return detect_scaled(self.detector, images, self.detect_size)

    def _step(self, number: int, image: np.ndarray, detected: Faces | None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Track one frame; the faces seen in it, ``{track id: (box, landmarks)}`` in id order."""
        tracker = self.tracker
        seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if detected is not None and len(detected):
            matches = tracker.match(detected.boxes, number)
            for d, track_id in enumerate(matches):
                if track_id is not None:
                    seen[track_id] = (detected.boxes[d], detected.landmarks[d])
            # New faces get their ids largest first (as the faces of a photo are numbered).
            for d in sorted((d for d, t in enumerate(matches) if t is None), key=lambda d: -detected.areas[d]):
                seen[tracker.start(detected.boxes[d], number)] = (detected.boxes[d], detected.landmarks[d])
        # Tracks seen lately and not (re)detected here: refine where they should be.
        recent = [i for i in tracker.ids if i not in seen and number - tracker.tracks[i].frame <= REFINE_GAP]
        if recent:
            if isinstance(self.detector, LandmarkRefiner):
                refined = self.detector.refine(image, tracker.predict(number, recent))
                for j, track_id in enumerate(recent):
                    if refined.scores[j] >= self.detector.refine_threshold:
                        seen[track_id] = (refined.boxes[j], refined.landmarks[j])
            elif detected is None:  # no refiner: between detections, keep the last landmarks
                for track_id in [i for i in recent if tracker.tracks[i].frame == number - 1]:
                    seen[track_id] = (tracker.tracks[track_id].box.astype(np.float32), self._landmarks[track_id])
        seen = _without_duplicates(seen)
        for track_id, (box, points) in seen.items():
            tracker.see(track_id, box, number)
            self._landmarks[track_id] = points
        tracker.end_frame(number)
        for track_id in [i for i in self._landmarks if i not in tracker.tracks]:
            del self._landmarks[track_id]
        seen = dict(sorted(seen.items()))
        if self.faces == "all":
            return seen
        if self.followed not in seen and (detected is not None or self.followed not in tracker.tracks) and seen:
            self.followed = max(seen, key=lambda i: _area(seen[i][0]))
        return {self.followed: seen[self.followed]} if self.followed in seen else {}


def _without_duplicates(seen: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Drop a younger track whose face is (almost) the same box as an older one's."""
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for track_id in sorted(seen):
        box = seen[track_id][0]
        if kept and box_iou(box, np.stack([b for b, _ in kept.values()])).max() > DUPLICATE_IOU:
            continue
        kept[track_id] = seen[track_id]
    return kept


def _area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


def frames_within(frame_bytes: int, count: int) -> int:
    """How many of ``count`` frames of ``frame_bytes`` each fit :data:`FRAME_BUDGET`; at least one."""
    return max(1, min(count, FRAME_BUDGET // max(frame_bytes, 1)))


def frame_chunks(frames: Iterable[tuple[float, np.ndarray]], size: int) -> Iterator[list[tuple[float, np.ndarray]]]:
    """``(time, frame)`` pairs in lists of ``size``, fewer when the frames are large (:func:`frames_within`)."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    size = frames_within(first[1].nbytes, size)
    yield from chunks(itertools.chain([first], frames), size)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def open_video(path: str | os.PathLike[str], *, ahead: int = 0) -> Iterator[tuple[VideoFrames, int | None]]:
    """Decoded RGB frames of a video file, upright, with their times, and its frame count when the file states it.

    Each frame is turned as the stream's display matrix says (:class:`~smm.face.orientation.Orientation`:
    a phone's portrait video comes out portrait), so its pixels are those a player shows.

    Parameters
    ----------
    path : path-like
    ahead : int, default 0
        Frames decoded ahead in a background thread (PyAV decodes without holding the GIL),
        so decoding overlaps detection and the model; fewer for large frames
        (:data:`FRAME_BUDGET`), at least one; 0 decodes in the caller's thread.

    Yields
    ------
    (VideoFrames, int or None)
        The frames, an iterable of ``(seconds, (H, W, 3) uint8 RGB)`` that also tells the
        orientation applied and whether decoding ended early (:attr:`VideoFrames.shortfall`),
        and the frame count the file announces.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When FFmpeg cannot read it, at opening or before its first frame, with the file's name
        and FFmpeg's reason (no errno). A file that fails after some frames is not an error:
        its frames end there, and :attr:`VideoFrames.shortfall` says so.
    """
    try:
        import av
    except ImportError as error:
        raise ImportError('reading videos needs PyAV: pip install "smm-emotionnet[video]"') from error
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    if isinstance(ahead, bool) or not isinstance(ahead, int) or ahead < 0:
        raise ValueError(f"ahead must be an integer >= 0, got {ahead!r}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: cannot be read as a video ({_reason(error)})") from None
    frames: VideoFrames | None = None
    try:
        if not container.streams.video:
            raise ValueError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = VideoFrames(
            path, container, stream, ahead=frames_within(stream.width * stream.height * 3, ahead) if ahead else 0
        )
        yield frames, frames.announced
    finally:
        if frames is not None:
            frames.stop()  # before the container closes under it
        container.close()


class VideoFrames:
    """The decoded frames of one open video, upright: iterate for ``(seconds, (H, W, 3) uint8 RGB)``.

    Made by :func:`open_video`. Iterate once.

    Attributes
    ----------
    path : Path
    announced : int or None
        The frame count the file states, ``None`` when it states none.
    orientation : Orientation
        What was applied to each frame (known once the first frame is decoded).
    decoded : int
        Frames decoded so far.
    stopped : str
        FFmpeg's reason when decoding failed after some frames (the frames end there), else ``""``.
    """

    def __init__(self, path: Path, container: Any, stream: Any, *, ahead: int = 0) -> None:
        self.path = path
        self.announced: int | None = int(stream.frames) or None
        self.orientation = Orientation()
        self.decoded = 0
        self.stopped = ""
        source = self._decode(container, stream)
        self._reader = _Reader(source, ahead) if ahead else None
        self._source = source

    def _decode(self, container: Any, stream: Any) -> Iterator[tuple[float, np.ndarray]]:
        import av

        turn: _Turn | None = None
        try:
            for frame in container.decode(stream):
                if not self.decoded:
                    matrix = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
                    self.orientation = Orientation.from_matrix(None if matrix is None else bytes(matrix))
                    turn = _Turn(self.orientation, frame) if not self.orientation.upright else None
                self.decoded += 1
                seconds = float(frame.time or 0.0)
                yield seconds, (turn(frame) if turn is not None else frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as error:
            if not self.decoded:
                raise ValueError(f"{self.path}: cannot be decoded ({_reason(error)})") from None
            self.stopped = _reason(error)

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        return iter(self._reader) if self._reader is not None else self._source

    @property
    def shortfall(self) -> str:
        """``""``, or one sentence naming the file when it decoded fewer frames than it announces, or failed.

        Meaningful once the frames are read to their end.
        """
        short = self.announced is not None and self.decoded < self.announced
        if not (short or self.stopped):
            return ""
        count = f"{self.decoded} of the {self.announced} frames it announces" if short else f"{self.decoded} frames"
        reason = f" (FFmpeg: {self.stopped})" if self.stopped else ""
        return f"{self.path}: decoded only {count}{reason}; predicted the frames that decoded"

    def stop(self) -> None:
        """Stop the background decoding, if any."""
        if self._reader is not None:
            self._reader.stop()


class _Reader:
    """Runs an iterator in a background thread, up to ``ahead`` items in front of its consumer."""

    _END = object()

    def __init__(self, items: Iterator[Any], ahead: int) -> None:
        import queue
        import threading

        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True, name="smm-video-reader")
        self._thread.start()

    def _run(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as error:
            self._put(error)

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        import queue

        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the video reader stopped before the end of the video") from None
                continue
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


class _Turn:
    """Turns decoded frames upright with FFmpeg's filters (:meth:`Orientation.filters`), then converts them to RGB.

    Falls back to turning the RGB array (:meth:`Orientation.apply`) for frames the filter graph
    does not take (another size or pixel format than the first frame's, or no graph at all).
    """

    def __init__(self, orientation: Orientation, first: Any) -> None:
        from fractions import Fraction

        from av.filter import Graph

        self.orientation = orientation
        self.shape = (first.width, first.height, first.format.name)
        self.graph: Any = None
        try:
            graph = Graph()
            node = graph.add_buffer(
                width=first.width, height=first.height, format=first.format, time_base=Fraction(1, 1000)
            )
            source = node
            for name, arguments in orientation.filters():
                step = graph.add(name, arguments)
                node.link_to(step)
                node = step
            sink = graph.add("buffersink")
            node.link_to(sink)
            graph.configure()
            self.graph, self.source = graph, source
        except Exception:  # any FFmpeg build or frame the graph refuses: turn the array instead
            self.graph = None

    def __call__(self, frame: Any) -> np.ndarray:
        if self.graph is None or (frame.width, frame.height, frame.format.name) != self.shape:
            return self.orientation.apply(frame.to_ndarray(format="rgb24"))
        frame.pts = None  # the filters do not look at time; the caller keeps the frame's own
        self.graph.push(frame)
        return self.graph.pull().to_ndarray(format="rgb24")


def _reason(error: BaseException) -> str:
    """FFmpeg's own words, without the errno and the file name PyAV adds."""
    return str(getattr(error, "strerror", None) or error).strip()


__all__ = [
    "ALIGNED_SIZE",
    "CUT_THRESHOLD",
    "FRAME_BUDGET",
    "FaceFollower",
    "FaceRows",
    "PartialVideoWarning",
    "VideoFrames",
    "aligned_crops",
    "check_detect_size",
    "check_faces",
    "frame_chunks",
    "frames_within",
    "open_video",
]
