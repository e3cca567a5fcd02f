"""Frame counts of videos and annotation files, the length every prediction file must have: by value, with the
messages that say which file is missing or doubled."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from smm.data.videos import (
    annotation_frame_count,
    count_video_frames,
    frame_counts,
    recorded_frame_count,
    video_file,
)
from smm.defaults import VIDEO_SUFFIXES
from tests.media import write_video

av = pytest.importorskip("av", reason='the video extra: pip install "smm-emotionnet[video]"')


def _frames(count: int) -> list[np.ndarray]:
    return [np.full((16, 16, 3), 10 * k, np.uint8) for k in range(count)]


def _with_sound(path: Path, video_frames: int, audio_frames: int) -> Path:
    """A Matroska (or WAV) file with ``video_frames`` FFV1 frames and ``audio_frames`` PCM frames of 800 samples."""
    from fractions import Fraction

    container = av.open(str(path), "w")
    streams = []
    if video_frames:
        video = container.add_stream("ffv1", rate=10)
        video.width = video.height = 16
        video.pix_fmt = "bgr0"
        streams.append((video, [av.VideoFrame.from_ndarray(f, format="rgb24") for f in _frames(video_frames)]))
    sound = container.add_stream("pcm_s16le", rate=8000)
    sound.layout = "mono"
    chunks = []
    for k in range(audio_frames):
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = 8000, 800 * k, Fraction(1, 8000)
        chunks.append(chunk)
    streams.append((sound, chunks))
    for stream, frames in streams:
        for frame in [*frames, None]:
            for packet in stream.encode(frame):
                container.mux(packet)
    container.close()
    return path


def test_only_the_video_streams_frames_are_counted(tmp_path: Path) -> None:
    both = _with_sound(tmp_path / "talk.mkv", 4, 6)
    assert count_video_frames(both) == 4  # not the 6 audio frames too
    sound = _with_sound(tmp_path / "sound.wav", 0, 5)
    with pytest.raises(ValueError, match=rf"^{sound}: no video stream$"):
        count_video_frames(sound)


def test_a_video_is_found_by_name_for_either_side(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "clip.MP4").write_bytes(b"")
    (tmp_path / "clip.txt").write_bytes(b"")  # not a video
    for name in ("clip", "clip_left", "clip_right"):
        assert video_file(tmp_path, name) == tmp_path / "sub" / "clip.MP4"
    suffixes = ", ".join(VIDEO_SUFFIXES)
    with pytest.raises(FileNotFoundError) as none:
        video_file(tmp_path, "other_left")
    assert str(none.value) == f"no video file named other ({suffixes}) under {tmp_path}, for video other_left"
    (tmp_path / "clip.avi").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as two:
        video_file(tmp_path, "clip")
    found = f"{tmp_path / 'clip.avi'}, {tmp_path / 'sub' / 'clip.MP4'}"
    assert str(two.value) == f"2 video files ({found}) named clip ({suffixes}) under {tmp_path}, for video clip"


def test_recorded_and_decoded_counts(tmp_path: Path) -> None:
    mp4 = write_video(tmp_path / "five.mp4", _frames(5))
    one = write_video(tmp_path / "one.mp4", _frames(1))
    mkv = write_video(tmp_path / "five.mkv", _frames(5), lossless=True)  # Matroska records no frame count
    assert (recorded_frame_count(mp4), recorded_frame_count(one), recorded_frame_count(mkv)) == (5, 1, None)
    assert [count_video_frames(p) for p in (mp4, one, mkv)] == [5, 1, 5]
    assert count_video_frames(mp4, exact=True) == 5
    assert recorded_frame_count(tmp_path / "gone.mp4") is None
    with pytest.raises(FileNotFoundError, match=rf"^video {tmp_path / 'gone.mp4'} does not exist$"):
        count_video_frames(tmp_path / "gone.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(ValueError, match=rf"^{broken}: cannot be decoded as a video \("):
        count_video_frames(broken)


def test_counting_without_pyav_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r'^counting video frames needs PyAV: pip install "smm-emotionnet\[video\]"$'):
        count_video_frames(tmp_path / "clip.mp4")
    assert recorded_frame_count(tmp_path / "clip.mp4") is None


def test_frame_counts_from_either_folder_and_what_is_missing(tmp_path: Path) -> None:
    videos, notes = tmp_path / "videos", tmp_path / "notes"
    videos.mkdir()
    notes.mkdir()
    write_video(videos / "clip.mp4", _frames(4))
    assert frame_counts(["clip", "clip_right"], video_folder=videos) == {"clip": 4, "clip_right": 4}  # no offset
    assert frame_counts(["clip"], video_folder=videos, offset=1) == {"clip": 5}
    (notes / "a.txt").write_text("AU1\n1\n0\n")
    (notes / "b.txt").write_text("AU1\n")  # a header alone: no frame
    assert frame_counts(["a", "b"], annotation_folder=notes) == {"a": 2, "b": 0}
    assert annotation_frame_count(notes / "b.txt") == 0
    assert frame_counts(["a"]) == {}
    with pytest.raises(ValueError, match=r"^give at most one of video_folder and annotation_folder$"):
        frame_counts(["a"], video_folder=videos, annotation_folder=notes)
    with pytest.raises(FileNotFoundError, match=rf"^video folder {tmp_path / 'gone'} does not exist$"):
        frame_counts(["a"], video_folder=tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match=rf"^annotation folder {tmp_path / 'gone'} does not exist$"):
        frame_counts(["a"], annotation_folder=tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match=rf"^no annotation file c\.txt under {notes}$"):
        frame_counts(["a", "c", "d"], annotation_folder=notes)
