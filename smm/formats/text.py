"""Reading the challenge's small text files line by line, with errors that name file and line."""

from __future__ import annotations

import os
from pathlib import Path


class AnnotationError(ValueError):
    """A malformed annotation, test-list or prediction file; the message names the file and the line."""


def read_lines(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """The lines of a text file as ``(line number, text)``, numbered from 1.

    A UTF-8 byte-order mark and Windows (CRLF) or old Mac (CR) line ends are accepted.
    Blank lines at the end of the file are dropped; a blank line anywhere else is an
    error, because every later row would silently shift by one frame.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    AnnotationError
        For a blank line inside the file or bytes that are not UTF-8, naming file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = data[: error.start].replace(b"\r\n", b"\n")
        line = before.count(b"\n") + before.count(b"\r") + 1  # any line end, as below
        raise AnnotationError(f"{path}:{line}: not UTF-8 text (byte {error.start})") from None
    # Only \n, \r\n and \r end a line (str.splitlines would also split at form feeds & co.).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    numbered = list(enumerate(lines, start=1))
    for number, line in numbered:
        if not line.strip():
            raise AnnotationError(
                f"{path}:{number}: blank line inside the file (every later row would shift by one frame)"
            )
    return numbered


def split_fields(line: str) -> list[str]:
    """Comma-separated fields, each stripped of surrounding white space."""
    return [field.strip() for field in line.split(",")]


def is_number(text: str) -> bool:
    """Whether ``float(text)`` succeeds."""
    try:
        float(text)
    except ValueError:
        return False
    return True
