"""A run's raw inputs (:mod:`smm.runs.inputs`): photos and videos told apart by suffix, folders read in name order,
and inputs that would write the same file refused before anything runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from smm.defaults import PHOTO_SUFFIXES, VIDEO_SUFFIXES
from smm.runs.inputs import PHOTOS_CSV, InputPlan, check_output_names, photos_key, plan_inputs, sort_inputs


def _touch(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(b"x")
    return paths


def test_inputs_are_sorted_into_photos_and_videos_by_suffix_in_the_order_given(tmp_path: Path) -> None:
    clip, still, upper = _touch(tmp_path, "clip.MP4", "still.png", "UPPER.JPG")
    folder = tmp_path / "album"
    _touch(folder, "b.jpg", "a.jpeg", "c.webp", "notes.txt", "film.mp4")  # a folder's photos only, by name
    (folder / "sub.png").mkdir()  # a folder named like a photo is not one
    photos, videos = sort_inputs([upper, folder, str(clip), still])
    assert videos == [clip]
    assert photos == [upper, folder / "a.jpeg", folder / "b.jpg", folder / "c.webp", still]
    # Every listed suffix is taken, in any case, and nothing else.
    for suffix in PHOTO_SUFFIXES:
        (path,) = _touch(tmp_path / "each", f"x{suffix.upper()}")
        assert sort_inputs([path]) == ([path], [])
    for suffix in VIDEO_SUFFIXES:
        (path,) = _touch(tmp_path / "each", f"v{suffix}")
        assert sort_inputs([path]) == ([], [path])
    assert ".png" in PHOTO_SUFFIXES
    assert {".mp4", ".avi"} <= set(VIDEO_SUFFIXES)


def test_a_missing_or_unknown_input_or_none_at_all_is_refused_in_one_line(tmp_path: Path) -> None:
    (notes,) = _touch(tmp_path, "notes.txt")
    with pytest.raises(FileNotFoundError, match=rf"^{re.escape(str(tmp_path / 'gone.txt'))} does not exist$"):
        sort_inputs([tmp_path / "gone.txt"])
    photos, videos = ", ".join(PHOTO_SUFFIXES), ", ".join(VIDEO_SUFFIXES)
    with pytest.raises(ValueError, match=rf"^{re.escape(f'{notes}: not a photo ({photos}) or video ({videos})')}$"):
        sort_inputs([notes])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"^inputs holds no photo or video$"):
        sort_inputs([tmp_path / "empty"])
    with pytest.raises(ValueError, match=r"^inputs holds no photo or video$"):
        sort_inputs([])
    # A photo or video that does not exist is the reader's to report (the run goes on without it).
    assert sort_inputs([tmp_path / "later.mp4"]) == ([], [tmp_path / "later.mp4"])


def test_inputs_that_would_write_the_same_file_are_refused_naming_both(tmp_path: Path) -> None:
    a, b = Path("one/clip.mp4"), Path("two/clip.avi")
    with pytest.raises(
        ValueError,
        match=r"^inputs: one/clip\.mp4 and two/clip\.avi would both write clip\.csv; rename one or predict them in "
        r"separate runs$",
    ):
        check_output_names([a, b], False, abaw=False)
    # The challenge files: clip_left.mp4 writes clip_left.csv, and clip.mp4 writes clip_left.txt for its left
    # face, as does clip_left.mp4 for its one face: a clash only when those files are written.
    pair = [Path("clip.mp4"), Path("clip_left.mp4")]
    check_output_names(pair, False, abaw=False)
    with pytest.raises(ValueError, match=r"^inputs: clip\.mp4 and clip_left\.mp4 would both write clip_left\.txt;"):
        check_output_names(pair, False, abaw=True)
    with pytest.raises(ValueError, match=r"^inputs: clip_right\.mp4 and clip\.mp4 would both write clip_right\.txt;"):
        check_output_names([Path("clip_right.mp4"), Path("clip.mp4")], False, abaw=True)
    # A video named images.* writes the photos' CSV: a clash only when there are photos.
    check_output_names([Path("images.mp4")], False, abaw=False)
    with pytest.raises(ValueError, match=rf"^inputs: images\.mp4 and the photos would both write {PHOTOS_CSV};"):
        check_output_names([Path("images.mp4")], True, abaw=False)
    with pytest.raises(ValueError, match=rf"would both write {PHOTOS_CSV};"):
        check_output_names([Path("images.mp4")], True, abaw=True)  # the CSV is written with the challenge files
    assert PHOTOS_CSV == "images.csv"
    check_output_names([Path("a.mp4"), Path("b.mp4")], True, abaw=True)  # distinct names pass


def test_the_plan_holds_the_checked_inputs(tmp_path: Path) -> None:
    clip, still = _touch(tmp_path, "clip.mp4", "still.png")
    assert plan_inputs([clip, still]) == InputPlan((still,), (clip,), False)
    assert plan_inputs([clip], abaw=True) == InputPlan((), (clip,), True)
    (images,) = _touch(tmp_path, "images.avi")
    with pytest.raises(ValueError, match=r"would both write images\.csv"):
        plan_inputs([images, still])  # the photos count, however many
    (left,) = _touch(tmp_path, "clip_left.mp4")
    plan_inputs([clip, left])
    with pytest.raises(ValueError, match=r"would both write clip_left\.txt"):
        plan_inputs([clip, left], abaw=True)


def test_the_photos_key_changes_with_any_photo_and_only_then(tmp_path: Path) -> None:
    a, b = _touch(tmp_path, "a.png", "b.png")
    key = photos_key([a, b])
    assert re.fullmatch(r"photos:[0-9a-f]{24}", key)
    assert photos_key([a, b]) == key
    assert photos_key([b, a]) != key  # the order is the CSV's order
    assert photos_key([a]) != key
    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 10**9))  # touched a second later
    touched = photos_key([a, b])
    assert touched != key
    when = b.stat().st_mtime_ns
    b.write_bytes(b"xy")  # another size, the same time
    os.utime(b, ns=(b.stat().st_atime_ns, when))
    assert photos_key([a, b]) != touched
    gone = tmp_path / "gone.png"
    assert photos_key([a, gone]) != photos_key([a])  # a missing photo still counts
    assert photos_key([Path(os.path.relpath(a))]) == photos_key([a])  # by where it is, not how it was named
