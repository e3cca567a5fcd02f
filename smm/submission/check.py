"""Check a folder of ABAW3 prediction files against the test lists before submitting it.

The folder layout is the one :mod:`smm.formats.abaw_files` and ``smm-emotionnet predict``
write: ``AU/<video>.txt``, ``EXPR/<video>.txt``, ``VA/<video>.txt`` and the multi-task file
``MTL_predictions.txt``. :func:`check_submission` returns one :class:`Problem` per mistake
(file names, headers, line counts, value ranges, class codes, image order) so they can be
printed one per line; ``smm-emotionnet check-submission`` does that from the shell.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from smm.data.test_lists import MultiTaskTestList
from smm.formats.codes import MULTITASK_FILE, MULTITASK_HEADER
from smm.models.config import ABAW3_AU_NAMES, ABAW3_EXPRESSION_NAMES, ABAW3_VA_NAMES

_INTEGER = re.compile(r"[0-9]+")
TRACK_HEADERS: Mapping[str, tuple[str, ...]] = {
    "AU": ABAW3_AU_NAMES,
    "EXPR": ABAW3_EXPRESSION_NAMES,
    "VA": ABAW3_VA_NAMES,
}


@dataclass(frozen=True)
class Problem:
    """One mistake in a submission.

    Attributes
    ----------
    path : str
        The file (or folder) it is in.
    line : int or None
        1-based line number, when it is about one line.
    message : str
    severity : {"error", "warning"}
        Errors make a submission invalid; warnings are legal but suspicious (e.g. a
        valence outside [-1, 1], which the challenge scores but never labels).
    """

    path: str
    line: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


def check_submission(
    folder: str | os.PathLike[str],
    *,
    au_videos: Sequence[str] | None = None,
    expr_videos: Sequence[str] | None = None,
    va_videos: Sequence[str] | None = None,
    mtl_list: MultiTaskTestList | None = None,
    frame_counts: Mapping[str, int] | None = None,
    mtl_file: str = MULTITASK_FILE,
    max_per_file: int = 5,
) -> list[Problem]:
    """Check prediction files against the official test lists.

    Parameters
    ----------
    folder : path-like
        The submission folder.
    au_videos : sequence of str, optional
        A single-task track's test list (:func:`smm.data.read_video_list`); the track's
        folder must hold exactly one ``<video>.txt`` per listed video.
    expr_videos : sequence of str, optional
        A single-task track's test list (:func:`smm.data.read_video_list`); the track's
        folder must hold exactly one ``<video>.txt`` per listed video.
    va_videos : sequence of str, optional
        A single-task track's test list (:func:`smm.data.read_video_list`); the track's
        folder must hold exactly one ``<video>.txt`` per listed video.
    mtl_list : MultiTaskTestList, optional
        The multi-task test list (:func:`smm.data.read_multitask_test_list`); ``mtl_file``
        must have one row per listed image, in the listed order.
    frame_counts : mapping, optional
        Frames per video (:func:`smm.data.videos.count_video_frames`); where a video's
        count is known its files must have exactly that many lines after the header.
    mtl_file : str, default "MTL_predictions.txt"
    max_per_file : int, default 5
        Line problems reported per file; the rest are summed up in one more problem.

    Returns
    -------
    list of Problem
        Empty when everything checked is right.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return [Problem(str(folder), None, "submission folder does not exist")]
    tracks = {"AU": au_videos, "EXPR": expr_videos, "VA": va_videos}
    if all(v is None for v in tracks.values()) and mtl_list is None:
        raise ValueError("give at least one test list: au_videos, expr_videos, va_videos or mtl_list")
    problems: list[Problem] = []
    counts = dict(frame_counts or {})
    for track, videos in tracks.items():
        if videos is not None:
            problems += _check_track(folder / track, track, list(videos), counts, max_per_file)
    if mtl_list is not None:
        problems += _check_multitask(folder / mtl_file, mtl_list, max_per_file)
    return problems


def _check_track(
    folder: Path, track: str, videos: list[str], counts: Mapping[str, int], max_per_file: int
) -> list[Problem]:
    if not folder.is_dir():
        return [Problem(str(folder), None, f"no {track} folder: expected {len(videos)} file(s) <video>.txt in it")]
    problems = []
    present = {p.stem: p for p in folder.iterdir() if p.suffix == ".txt"}
    listed = set(videos)
    for video in videos:
        if video not in present:
            problems.append(
                Problem(str(folder / f"{video}.txt"), None, f"missing: {video} is in the {track} test list")
            )
    for name, path in sorted(present.items()):
        if name not in listed:
            problems.append(Problem(str(path), None, f"{name} is not in the {track} test list"))
    others = sorted(p.name for p in folder.iterdir() if p.suffix != ".txt" and not p.name.startswith("."))
    if others:
        problems.append(Problem(str(folder), None, f"files other than <video>.txt: {', '.join(others)}"))
    for video in videos:
        if video in present:
            lines = _check_lines(present[video], ",".join(TRACK_HEADERS[track]), problems)
            if lines is None:
                continue
            rows = lines[1:]
            if video in counts and len(rows) != counts[video]:
                problems.append(
                    Problem(
                        str(present[video]),
                        None,
                        f"{len(rows)} prediction line(s), but the video has {counts[video]} frames "
                        "(one line per frame after the header)",
                    )
                )
            issues = (
                message
                for number, line in rows
                for message in _row_problems(line.split(","), track, str(present[video]), number)
            )
            problems += _capped(issues, max_per_file, str(present[video]))
    return problems


def _check_multitask(path: Path, test_list: MultiTaskTestList, max_per_file: int) -> list[Problem]:
    if not path.exists() and not path.is_symlink():
        return [Problem(str(path), None, f"missing: the multi-task file for {len(test_list)} listed images")]
    problems: list[Problem] = []
    lines = _check_lines(path, ",".join(MULTITASK_HEADER), problems)
    if lines is None:
        return problems
    rows = lines[1:]
    if len(rows) != len(test_list):
        problems.append(Problem(str(path), None, f"{len(rows)} row(s), but the test list has {len(test_list)} images"))

    def issues() -> Iterator[Problem]:
        for (number, line), image in zip(rows, test_list.images, strict=False):
            fields = line.split(",")
            if fields[0] != image:
                yield Problem(str(path), number, f"image {fields[0]!r}, but the test list has {image!r} here")
                continue
            if len(fields) != 4 + len(ABAW3_AU_NAMES):
                yield Problem(
                    str(path),
                    number,
                    f"expected {4 + len(ABAW3_AU_NAMES)} fields (image, VA, EXPR, AUs), got {len(fields)}",
                )
                continue
            yield from _row_problems(fields[1:3], "VA", str(path), number)
            yield from _row_problems(fields[3:4], "EXPR", str(path), number)
            yield from _row_problems(fields[4:], "AU", str(path), number)

    return problems + _capped(issues(), max_per_file, str(path))


#: A prediction file larger than this is not one (the largest ABAW3 file is a few MB).
MAX_FILE_BYTES = 256 * 2**20


def _file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a prediction file, or ``None``."""
    if path.is_symlink():
        target = "a missing file" if not path.exists() else "another file"
        return f"a symbolic link (to {target}); submissions hold plain files"
    if path.is_dir():
        return "a folder where a prediction file should be"
    if not path.is_file():
        return "not a regular file"
    try:
        size = path.stat().st_size
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if size > MAX_FILE_BYTES:
        return f"{size} bytes, too large to be a prediction file (at most {MAX_FILE_BYTES})"
    return None


def _check_lines(path: Path, header: str, problems: list[Problem]) -> list[tuple[int, str]] | None:
    """The file's lines, numbered; problems with the file, its encoding, line ends and header are appended."""
    problem = _file_problem(path)
    if problem is None:
        try:
            data = path.read_bytes()
        except OSError as error:
            problem = f"cannot be read ({error.strerror or error})"
    if problem is not None:
        problems.append(Problem(str(path), None, problem))
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        problems.append(Problem(str(path), 1, "starts with a UTF-8 byte-order mark"))
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(Problem(str(path), line, "not UTF-8 text"))
        return None
    if "\r" in text:
        problems.append(Problem(str(path), None, "Windows (CRLF) line ends; use \\n", "warning"))
    lines = list(enumerate(text.splitlines(), start=1))
    while lines and not lines[-1][1].strip():
        lines.pop()
    if not lines:
        problems.append(Problem(str(path), None, f"empty file, expected the header {header!r}"))
        return None
    if lines[0][1] != header:
        problems.append(Problem(str(path), 1, f"header {lines[0][1]!r}, expected {header!r}"))
    blank = [number for number, line in lines if not line.strip()]
    if blank:
        problems.append(Problem(str(path), blank[0], "blank line inside the file"))
        return None
    return lines


def _row_problems(fields: list[str], kind: str, path: str, number: int) -> Iterator[Problem]:
    """Problems of one row's fields of one task."""
    if kind == "AU":
        if len(fields) != len(ABAW3_AU_NAMES):
            yield Problem(path, number, f"expected {len(ABAW3_AU_NAMES)} AU values, got {len(fields)}")
        elif any(f not in ("0", "1") for f in fields):
            bad = next(f for f in fields if f not in ("0", "1"))
            yield Problem(path, number, f"AU values must be 0 or 1, got {bad!r}")
    elif kind == "EXPR":
        if len(fields) != 1:
            yield Problem(path, number, f"expected one expression class, got {len(fields)} fields")
        elif not _INTEGER.fullmatch(fields[0]) or int(fields[0]) >= len(ABAW3_EXPRESSION_NAMES):
            yield Problem(path, number, f"expression must be a class 0..7, got {fields[0]!r}")
    else:
        if len(fields) != len(ABAW3_VA_NAMES):
            yield Problem(path, number, f"expected valence and arousal, got {len(fields)} fields")
            return
        try:
            values = [float(f) for f in fields]
        except ValueError:
            yield Problem(path, number, f"valence/arousal must be numbers, got {','.join(fields)!r}")
            return
        if not all(math.isfinite(v) for v in values):
            yield Problem(path, number, f"valence/arousal must be finite, got {','.join(fields)!r}")
        elif any(abs(v) > 1 for v in values):
            yield Problem(path, number, f"valence/arousal outside [-1, 1]: {','.join(fields)}", "warning")


def _capped(problems: Iterator[Problem], limit: int, path: str) -> list[Problem]:
    kept, more, severity = [], 0, "warning"
    for problem in problems:
        if len(kept) < limit:
            kept.append(problem)
        else:
            more += 1
            if problem.severity == "error":
                severity = "error"
    if more:
        kept.append(Problem(path, None, f"... and {more} more line problem(s) in this file", severity))
    return kept
