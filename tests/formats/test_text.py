"""The text-file reader under every challenge file: line ends, byte-order marks, errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from smm.formats.text import AnnotationError, is_number, read_lines, split_fields


def test_every_line_end_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfhead\r\nwin\rmac\nunix\n\n\n")
    assert read_lines(path) == [(1, "head"), (2, "win"), (3, "mac"), (4, "unix")]  # trailing blank lines dropped
    path.write_bytes(b"a\x0cb\n")  # a form feed is not a line end
    assert read_lines(path) == [(1, "a\x0cb")]


def test_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path / 'gone.txt'} does not exist or is not a file$"):
        read_lines(tmp_path / "gone.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a\r\nb\r\nc\rd\n\xff\n")  # the bad byte is on line 5, whatever the line ends before it
    with pytest.raises(AnnotationError, match=rf"^{bad}:5: not UTF-8 text \(byte 10\)$"):
        read_lines(bad)
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b"a\r\n\r\nb\n")
    with pytest.raises(AnnotationError, match=rf"^{blank}:2: blank line inside the file"):
        read_lines(blank)


def test_fields_and_numbers() -> None:
    assert split_fields(" a, b ,c ") == ["a", "b", "c"]
    assert [is_number(t) for t in ("1", "-0.5", "1e3", "nan", "x", "", "1,5")] == [
        True, True, True, True, False, False, False,
    ]  # fmt: skip
