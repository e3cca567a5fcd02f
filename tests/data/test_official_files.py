"""The Aff-Wild2 files as distributed: multi-task annotations, test lists, and a malformed-file fuzz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smm.data import (
    AnnotationError,
    read_annotation_dir,
    read_annotation_file,
    read_multitask_csv,
    read_multitask_test_list,
    read_video_list,
)
from smm.models.config import ABAW3_AU_NAMES, ABAW3_EXPRESSION_NAMES

OFFICIAL_HEADER = "image,valence,arousal,expression,aus"
ROWS = [
    "video1/00001.jpg,0.25,-0.5,4,0,1,0,0,1,0,0,0,0,0,1,0",
    "video1/00002.jpg,-5,-5,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1",
    "video2/00010.jpg,1,-1,7,1,1,1,1,1,1,1,1,1,1,1,1",
]


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


@pytest.mark.parametrize("name", ["train_set.txt", "validation_set.csv"])
def test_official_multitask_file_with_five_name_header(tmp_path: Path, name: str) -> None:
    data = read_multitask_csv(_write(tmp_path / name, "\n".join([OFFICIAL_HEADER, *ROWS]) + "\n"))
    assert data.images == ("video1/00001.jpg", "video1/00002.jpg", "video2/00010.jpg")
    assert data.au_names == ABAW3_AU_NAMES
    np.testing.assert_allclose(data.va, [[0.25, -0.5], [-5, -5], [1, -1]])
    np.testing.assert_array_equal(data.expr, [4, -1, 7])
    np.testing.assert_array_equal(data.au[0], [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    assert (data.au[1] == -1).all()
    assert (data.au[2] == 1).all()


def test_multitask_header_naming_all_sixteen_columns(tmp_path: Path) -> None:
    header = "image,valence,arousal,expression," + ",".join(ABAW3_AU_NAMES)
    data = read_multitask_csv(_write(tmp_path / "m.csv", "\n".join([header, *ROWS])))
    assert data.au_names == ABAW3_AU_NAMES
    np.testing.assert_array_equal(data.expr, [4, -1, 7])


def test_multitask_official_header_with_other_au_count(tmp_path: Path) -> None:
    data = read_multitask_csv(_write(tmp_path / "m.txt", f"{OFFICIAL_HEADER}\nv/00001.jpg,0,0,1,1,0\n"), num_aus=2)
    assert data.au_names == ("aus1", "aus2")
    np.testing.assert_array_equal(data.au, [[1, 0]])
    with pytest.raises(AnnotationError, match=r"m\.txt:2: expected 16 fields"):
        read_multitask_csv(tmp_path / "m.txt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{OFFICIAL_HEADER}\n{ROWS[0]}\n\n{ROWS[1]}\n", r"m\.txt:3: blank line inside the file"),
        (f"{OFFICIAL_HEADER}\n{ROWS[0]},1\n", r"m\.txt:2: expected 16 fields"),
        (f"{OFFICIAL_HEADER}\n" + ROWS[0].replace("0.25", "high") + "\n", r"m\.txt:2: expected numbers"),
        (f"{OFFICIAL_HEADER}\n" + ROWS[0].replace(",4,", ",8,") + "\n", r"m\.txt:2: expression must be an integer"),
        (f"{OFFICIAL_HEADER}\n" + ROWS[0].replace("0.25", "1.5") + "\n", r"m\.txt:2: valence/arousal must be in"),
        (f"{OFFICIAL_HEADER}\n" + ROWS[0][:-1] + "2\n", r"m\.txt:2: AU labels must be 0, 1 or -1, got 2"),
        (f"{OFFICIAL_HEADER}\n," + ROWS[0].split(",", 1)[1] + "\n", r"m\.txt:2: the image field is empty"),
        ("image,valence,arousal\n", r"m\.txt:1: expected the header"),
    ],
)
def test_multitask_file_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        read_multitask_csv(_write(tmp_path / "m.txt", text))


def test_blank_line_inside_annotation_file_is_an_error(tmp_path: Path) -> None:
    header = ",".join(ABAW3_EXPRESSION_NAMES)
    with pytest.raises(AnnotationError, match=r"e\.txt:3: blank line inside the file"):
        read_annotation_file(_write(tmp_path / "e.txt", f"{header}\n1\n\n3\n4\n"), "EXPR")
    trailing = read_annotation_file(_write(tmp_path / "t.txt", f"{header}\n1\n3\n4\n\n\n"), "EXPR")
    np.testing.assert_array_equal(trailing.labels[:, 0], [1, 3, 4])


def test_bom_and_crlf_read_like_plain_files(tmp_path: Path) -> None:
    plain = "valence,arousal\n0.5,-0.25\n-5,-5\n"
    windows = b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode()
    a = read_annotation_file(_write(tmp_path / "a.txt", plain), "VA")
    b = read_annotation_file(_write(tmp_path / "b.txt", windows), "VA")
    assert b.names == ("valence", "arousal")
    np.testing.assert_array_equal(a.labels, b.labels)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"x\.txt:3: not UTF-8"):
        read_annotation_file(_write(tmp_path / "x.txt", b"valence,arousal\n0.1,0.2\n\xff,0.1\n"), "VA")


def test_video_list(tmp_path: Path) -> None:
    path = _write(tmp_path / "au_test.txt", "video10\r\n2-30-640x360_left\n  video3  \n\n")
    assert read_video_list(path) == ("video10", "2-30-640x360_left", "video3")
    with pytest.raises(AnnotationError, match=r"d\.txt:3: video 'a' is listed twice \(first on line 1\)"):
        read_video_list(_write(tmp_path / "d.txt", "a\nb\na\n"))
    with pytest.raises(AnnotationError, match=r"m\.txt:1: expected a video name, got 'image,valence'"):
        read_video_list(_write(tmp_path / "m.txt", "image,valence\n"))
    with pytest.raises(AnnotationError, match=r"b\.txt:2: blank line"):
        read_video_list(_write(tmp_path / "b.txt", "a\n \nb\n"))
    with pytest.raises(AnnotationError, match=r"e\.txt: empty file"):
        read_video_list(_write(tmp_path / "e.txt", "\n"))
    for name in ("video1/00001.jpg", "video1\\00001.jpg"):  # an image path, either slash: not a video name
        with pytest.raises(AnnotationError, match=r"s\.txt:2: expected a video name, got .*multi-task list"):
            read_video_list(_write(tmp_path / "s.txt", f"video0\n{name}\n"))


def test_multitask_test_list_edges(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"h\.txt:1: expected a header line, got an image path 'v/00001\.jpg'$"):
        read_multitask_test_list(_write(tmp_path / "h.txt", "v/00001.jpg\nv/00002.jpg\n"))
    for bad in ("v\\00001.jpg", "v/00001.jpg,x"):  # a backslash path or a CSV row is no image path
        with pytest.raises(AnnotationError, match=r"b\.txt:2: "):
            read_multitask_test_list(_write(tmp_path / "b.txt", f"image\n{bad}\n"))
    listed = read_multitask_test_list(_write(tmp_path / "ok.txt", "image\nv/00002.jpg\n"))
    assert listed.frames.dtype == np.int64


def test_multitask_test_list(tmp_path: Path) -> None:
    text = "image\nvideo2/00003.jpg\nvideo2/00001.jpg\n10-60-1280x720_right/00012.jpg\nvideo2/00002.jpg\n"
    listed = read_multitask_test_list(_write(tmp_path / "mtl_test.txt", text))
    assert len(listed) == 4
    assert listed.images[0] == "video2/00003.jpg"
    assert listed.videos == ("video2", "video2", "10-60-1280x720_right", "video2")
    np.testing.assert_array_equal(listed.frames, [3, 1, 12, 2])
    by_video = listed.by_video()
    assert list(by_video) == ["video2", "10-60-1280x720_right"]
    np.testing.assert_array_equal(by_video["video2"], [3, 1, 2])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("video1/00001.jpg\nvideo1/00002.jpg\n", r"l\.txt:1: expected a header line"),
        ("image\nvideo1/frame.jpg\n", r"l\.txt:2: expected an image path 'video/00001.jpg', got 'video1/frame.jpg'"),
        ("image\n00001.jpg\n", r"l\.txt:2: expected an image path"),
        ("image\nvideo1/00000.jpg\n", r"l\.txt:2: expected an image path"),
        ("image\nv/00001.jpg\nv/00001.jpg\n", r"l\.txt:3: image 'v/00001.jpg' is listed twice \(first on line 2\)"),
        ("image\nv/00001.jpg\n\nv/00002.jpg\n", r"l\.txt:3: blank line"),
        ("", r"l\.txt: empty file"),
    ],
)
def test_multitask_test_list_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        read_multitask_test_list(_write(tmp_path / "l.txt", text))


# --- malformed-file fuzz -------------------------------------------------------------

AU_TEXT = (
    ",".join(ABAW3_AU_NAMES)
    + "\n"
    + "1,0,0,0,0,0,0,0,0,0,1,0\n-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1\n0,0,1,0,0,0,0,0,0,0,0,1\n"
)
EXPR_TEXT = ",".join(ABAW3_EXPRESSION_NAMES) + "\n4\n-1\n7\n0\n"
VA_TEXT = "valence,arousal\n0.25,-0.5\n-5,-5\n1,-1\n"
MTL_TEXT = "\n".join([OFFICIAL_HEADER, *ROWS]) + "\n"
VIDEO_LIST_TEXT = "video1\nvideo2_left\nvideo3\n"
MTL_LIST_TEXT = "image\nvideo1/00001.jpg\nvideo1/00002.jpg\nvideo2/00005.jpg\n"

READERS = {
    "AU": (AU_TEXT, lambda p: read_annotation_file(p, "AU").labels),
    "EXPR": (EXPR_TEXT, lambda p: read_annotation_file(p, "EXPR").labels),
    "VA": (VA_TEXT, lambda p: read_annotation_file(p, "VA").labels),
    "MTL": (MTL_TEXT, lambda p: read_multitask_csv(p)),
    "video list": (VIDEO_LIST_TEXT, read_video_list),
    "MTL list": (MTL_LIST_TEXT, read_multitask_test_list),
}


def _corrupt(text: str, kind: str, line: int, field: int, junk: str) -> str:
    lines = text.split("\n")[:-1]
    line %= len(lines)
    fields = lines[line].split(",")
    field %= len(fields)
    if kind == "blank line":
        lines.insert(line, "")  # before an existing line, so always inside the file
    elif kind == "delete field":
        del fields[field]
    elif kind == "extra field":
        fields.insert(field, "0")
    elif kind == "text in field":
        fields[field] = junk
    elif kind == "wrong code":
        fields[field] = ("9", "-2", "1.5", "nan", "")[len(junk) % 5]
    if kind not in ("blank line", "crlf", "bom"):
        lines[line] = ",".join(fields)
    out = "\n".join(lines) + "\n"
    if kind == "crlf":
        out = out.replace("\n", "\r\n")
    elif kind == "bom":
        out = "\ufeff" + out
    return out


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(READERS)),
    st.sampled_from(["delete field", "extra field", "text in field", "wrong code", "blank line", "crlf", "bom"]),
    st.integers(0, 10),
    st.integers(0, 20),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n,"), max_size=6),
)
def test_corrupted_files_read_or_raise_the_file_and_line_error(
    tmp_path_factory: pytest.TempPathFactory, reader: str, kind: str, line: int, field: int, junk: str
) -> None:
    text, read = READERS[reader]
    path = tmp_path_factory.mktemp("fuzz") / "f.txt"
    path.write_text(_corrupt(text, kind, line, field, junk), encoding="utf-8")
    error: AnnotationError | None = None
    try:
        result = read(path)
    except AnnotationError as caught:  # any other exception type fails the test
        error = caught
    if error is not None:
        assert str(error).startswith(f"{path}:"), str(error)  # names the file, then the line (or says it is empty)
        return
    assert kind != "blank line", "a blank line inside a file must be an error"
    if kind in ("crlf", "bom"):  # harmless: reads exactly like the original
        original = tmp_path_factory.mktemp("fuzz") / "o.txt"
        original.write_text(text)
        expected = read(original)
        if isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(result, expected)
        else:
            assert repr(result) == repr(expected)


def test_multitask_rows_parse_to_integer_labels_and_name_the_bad_field(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("image,valence,arousal,expression,aus\nv/00001.jpg,0.5,-0.25,3," + ",".join("01" * 6) + "\n")
    read = read_multitask_csv(good)
    assert (read.expr.dtype, read.au.dtype, read.va.dtype) == (np.int64, np.int64, np.float32)
    assert read.expr.tolist() == [3]
    assert read.au.tolist() == [[0, 1] * 6]
    bad = tmp_path / "bad.txt"
    bad.write_text("image,valence,arousal,expression,aus\nv/00001.jpg,0.5,-0.25,3,x" + ",0" * 11 + "\n")
    with pytest.raises(AnnotationError, match=rf"^{bad}:2: expected numbers, got 'x,0,0,0,0,0,0,0,0,0,0,0'$"):
        read_multitask_csv(bad)


@pytest.mark.parametrize("header", ["frame,valence,arousal,expression,AU1", "a,b,c,d,e", "image,1,2,3,4"])
def test_a_five_field_header_must_be_the_multitask_one(tmp_path: Path, header: str) -> None:
    path = tmp_path / "mtl.txt"
    path.write_text(f"{header}\nv/00001.jpg,0,0,0,0\n")
    with pytest.raises(
        AnnotationError, match=rf"^{path}:1: expected the header 'image,valence,arousal,expression,aus'"
    ):
        read_multitask_csv(path)


def test_an_annotation_folder_must_exist_and_hold_text_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=rf"^annotation folder {tmp_path / 'gone'} does not exist$"):
        read_annotation_dir(tmp_path / "gone", "AU")
    (tmp_path / "notes.csv").write_text("x\n")
    with pytest.raises(AnnotationError, match=rf"^{tmp_path}: no \.txt annotation files$"):
        read_annotation_dir(tmp_path, "AU")


def test_a_windows_path_in_the_multitask_test_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mtl_test.txt"
    path.write_text("image\nclip\\part/00001.jpg\n")
    with pytest.raises(AnnotationError, match=rf"^{path}:2: expected an image path 'video/00001\.jpg', got 'clip"):
        read_multitask_test_list(path)
