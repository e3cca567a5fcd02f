"""Seeing a run: the per-frame CSV read back, the timeline figure, the annotated video, ``plot`` and ``--overlay``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from smm.formats import write_frames_csv
from smm.inference import FramePredictions, LabelNames
from tests.media import write_video

AUS, EXPRESSIONS = ("AU1", "AU12", "AU25"), ("Neutral", "Happiness", "Surprise")
NAMES = LabelNames(AUS, EXPRESSIONS)


def _two_faces() -> FramePredictions:
    """Six frames at a variable rate: face 0 on frames 1-4 and 6, face 1 on frames 3-6, nobody on frame 5 but 0's gap.

    Rows in frame order, faces by id within a frame; frame 5 has face 1 only, so face 0 has a gap there.
    """
    rng = np.random.default_rng(11)
    layout = [(1, 0), (2, 0), (3, 0), (3, 1), (4, 0), (4, 1), (5, 1), (6, 0), (6, 1)]
    times = {1: 0.0, 2: 0.04, 3: 0.1, 4: 0.35, 5: 0.4, 6: 0.52}
    count = len(layout)
    au_prob = torch.from_numpy(rng.uniform(0, 1, (count, 3))).float()
    expr_prob = torch.softmax(torch.from_numpy(rng.normal(0, 2, (count, 3))).float(), 1)
    boxes = {0: [20.0, 16.0, 60.0, 64.0], 1: [100.0, 20.0, 140.0, 70.0]}
    offsets = torch.tensor([[10.0, 15.0], [30.0, 15.0], [20.0, 28.0], [12.0, 38.0], [28.0, 38.0]])
    landmarks = torch.stack([torch.tensor(boxes[f][:2]) + offsets for _, f in layout])
    return FramePredictions(
        au_prob=au_prob,
        au=(au_prob > 0.5).long(),
        expr_prob=expr_prob,
        expr=expr_prob.argmax(1),
        va=torch.from_numpy(rng.uniform(-1, 1, (count, 2))).float(),
        frame=torch.tensor([f for f, _ in layout]),
        observed=torch.ones(count, dtype=torch.bool),
        time=torch.tensor([times[f] for f, _ in layout], dtype=torch.float64),
        box=torch.tensor([boxes[f] for _, f in layout]),
        landmarks=landmarks,
        source=("clip.mp4",) * count,
        face_id=torch.tensor([f for _, f in layout]),
        reason=("",) * count,
        names=NAMES,
    )


# --- the CSV read back -----------------------------------------------------------------------------------------------


def test_the_csv_reads_back_as_written(tmp_path: Path) -> None:
    written = _two_faces()
    empty = FramePredictions.empty(1, NAMES)._replace(
        frame=torch.tensor([7]),
        time=torch.tensor([0.6], dtype=torch.float64),
        box=torch.full((1, 4), float("nan")),
        landmarks=torch.full((1, 5, 2), float("nan")),
        source=('clip "x",\r\n2.mp4',),  # quoted, with a comma and a line break in it
        face_id=torch.tensor([-1]),
        reason=("no face found",),
    )
    both = FramePredictions(
        *(
            a if name == "names" else a + b if isinstance(a, tuple) else torch.cat([a, b])
            for name, a, b in zip(FramePredictions._fields, written, empty, strict=True)
        )
    )
    path = write_frames_csv(tmp_path / "clip.csv", both)
    read = FramePredictions.from_csv(path)
    assert read.names == NAMES
    for name in ("au_prob", "expr_prob", "va"):
        torch.testing.assert_close(getattr(read, name), getattr(both, name), atol=5e-7, rtol=0, equal_nan=True)
    for name in ("box", "landmarks"):
        torch.testing.assert_close(getattr(read, name), getattr(both, name), atol=5e-3, rtol=0, equal_nan=True)
    torch.testing.assert_close(read.time, both.time, atol=5e-7, rtol=0)
    assert read.frame.tolist() == both.frame.tolist()
    assert read.face_id.tolist() == both.face_id.tolist()
    assert read.observed.tolist() == [True] * 9 + [False]
    assert read.expr.tolist() == [*both.expr[:9].tolist(), -1]
    assert read.source == both.source
    assert read.reason == both.reason
    assert (read.frame.dtype, read.face_id.dtype, read.expr.dtype) == (torch.int64,) * 3
    torch.testing.assert_close(read.pose, both.pose, atol=0.05, rtol=0, equal_nan=True)


def test_reading_decides_the_aus_at_the_threshold(tmp_path: Path) -> None:
    rows = _two_faces()
    rows = rows._replace(au_prob=torch.tensor([[0.5, 0.25, 0.75]] * 9))
    path = write_frames_csv(tmp_path / "c.csv", rows)
    assert FramePredictions.from_csv(path).au[0].tolist() == [0, 0, 1]  # strictly above 0.5
    assert FramePredictions.from_csv(path, threshold=0.2).au[0].tolist() == [1, 1, 1]
    assert FramePredictions.from_csv(path, threshold=0.6).au[0].tolist() == [0, 0, 1]


def test_reading_names_and_old_headers(tmp_path: Path) -> None:
    path = write_frames_csv(tmp_path / "c.csv", _two_faces())
    named = FramePredictions.from_csv(path, au_names=AUS[:2], expression_names=(AUS[2], *EXPRESSIONS))
    assert named.names == LabelNames(AUS[:2], (AUS[2], *EXPRESSIONS))  # the split given, not guessed
    only_aus = FramePredictions.from_csv(path, au_names=AUS[:2])  # one of the two given: the other follows
    assert only_aus.names == LabelNames(AUS[:2], (AUS[2], *EXPRESSIONS))
    only_expressions = FramePredictions.from_csv(path, expression_names=EXPRESSIONS)
    assert only_expressions.names == NAMES
    from smm.formats.frames_csv import read_frames_table

    odd = write_frames_csv(tmp_path / "odd.csv", _two_faces(), ("AU1", "AU2", "AUX"), ("AUdience", "Neutral", "Other"))
    table = read_frames_table(odd)  # named like an AU is "AU" and digits: AUX is not one
    assert (table.au_names, table.expression_names) == (("AU1", "AU2"), ("AUX", "AUdience", "Neutral", "Other"))
    lines = path.read_text().splitlines()
    old = tmp_path / "old.csv"  # a CSV of 0.1, before the pose columns
    header = lines[0].split(",")
    cut = [header.index(name) for name in ("yaw", "pitch", "roll")]
    old.write_text(
        "\n".join(",".join(v for k, v in enumerate(line.split(",")) if k not in cut) for line in lines) + "\n"
    )
    torch.testing.assert_close(FramePredictions.from_csv(old).au_prob, FramePredictions.from_csv(path).au_prob)


def test_reading_bad_files_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_frames_csv(tmp_path / "c.csv", _two_faces())
    lines = path.read_text().splitlines()
    cases = {
        "short.csv": [lines[0], lines[1], ",".join(lines[2].split(",")[:-1])],
        "text.csv": [lines[0], lines[1].replace(",0.", ",zero.", 1)],
        "expression.csv": [lines[0], lines[1].replace(",Neutral,", ",Contempt,").replace(",Happiness,", ",Contempt,")
                           .replace(",Surprise,", ",Contempt,")],
        "header.csv": ["source,frame,when", lines[1]],
        "tail.csv": [lines[0].replace(",reason", ",why"), lines[1]],
        "frame.csv": [lines[0], ",".join(v if k != 1 else "" for k, v in enumerate(lines[1].split(",")))],
        "empty.csv": [],
    }  # fmt: skip
    expected = {
        "short.csv": r"short\.csv, line 3: \d+ fields, the header has \d+$",
        "text.csv": r"text\.csv, line 2: \w+ is '[^']*', not a number$",
        "expression.csv": r"expression\.csv, line 2: expression 'Contempt' is not a column$",
        "header.csv": r"header\.csv, line 1: not a per-frame CSV header \(expected source, frame, time, face, "
        r"face_id, \.\.\.\)$",
        "tail.csv": r"tail\.csv, line 1: not a per-frame CSV header",
        "frame.csv": r"frame\.csv, line 2: frame is empty$",
        "empty.csv": r"empty\.csv, line 1: empty file",
    }
    for name, content in cases.items():
        (tmp_path / name).write_text("\n".join(content) + ("\n" if content else ""))
        with pytest.raises(ValueError, match=expected[name]):
            FramePredictions.from_csv(tmp_path / name)
    with pytest.raises(ValueError, match=r"c\.csv, line 1: the columns \[.*\] are not the AUs \['AU1'\]"):
        FramePredictions.from_csv(path, au_names=["AU1"], expression_names=EXPRESSIONS)
    with pytest.raises(FileNotFoundError, match=r"per-frame CSV .*gone\.csv does not exist"):
        FramePredictions.from_csv(tmp_path / "gone.csv")


# --- the timeline --------------------------------------------------------------------------------------------------

pytest.importorskip("matplotlib")


def _meshes(figure: object) -> dict[str, list[np.ma.MaskedArray]]:
    from matplotlib.collections import QuadMesh

    found: dict[str, list[np.ma.MaskedArray]] = {}
    for group in figure.subfigs:  # type: ignore[attr-defined]
        for axis in group.axes:
            for artist in axis.collections:
                if isinstance(artist, QuadMesh):
                    found.setdefault(artist.get_label(), []).append(artist.get_array())
    return found


def test_the_timeline_draws_the_csv_columns_with_gaps(tmp_path: Path) -> None:
    from smm.viz import plot_timeline

    path = write_frames_csv(tmp_path / "clip.csv", _two_faces())
    with path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    figure = plot_timeline(FramePredictions.from_csv(path))
    assert len(figure.subfigs) == 2  # two faces, two panel groups
    assert [group._suptitle.get_text() for group in figure.subfigs] == ["face 0", "face 1"]
    frames = sorted({int(r["frame"]) for r in table})
    meshes = _meshes(figure)
    for face, heat, band in zip((0, 1), meshes["au_prob"], meshes["expression"], strict=True):
        by_frame = {int(r["frame"]): r for r in table if r["face_id"] == str(face)}
        expected = np.array(
            [[float(by_frame[f][au]) if f in by_frame else np.nan for f in frames] for au in AUS]
        )  # (AU, frame): one row per AU
        np.testing.assert_allclose(np.ma.filled(heat.reshape(3, 6).astype(float), np.nan), expected)
        labels = [EXPRESSIONS.index(by_frame[f]["expression"]) if f in by_frame else np.nan for f in frames]
        np.testing.assert_allclose(np.ma.filled(band.reshape(-1).astype(float), np.nan), labels)
    curves = [a for group in figure.subfigs for a in group.axes if a.get_ylabel() == "VA"]
    assert len(curves) == 2
    for face, axis in zip((0, 1), curves, strict=True):
        by_frame = {int(r["frame"]): r for r in table if r["face_id"] == str(face)}
        valence, arousal = axis.get_lines()[:2]
        times = sorted({float(r["time"]) for r in table})
        np.testing.assert_allclose(valence.get_xdata(), times)  # seconds from the CSV's timestamps
        for line, column in ((valence, "valence"), (arousal, "arousal")):
            want = [float(by_frame[f][column]) if f in by_frame else np.nan for f in frames]
            np.testing.assert_allclose(line.get_ydata(), want)
    assert np.isnan(curves[0].get_lines()[0].get_ydata()[4])  # face 0 was not seen on frame 5: a gap
    assert curves[0].get_ylim() == pytest.approx((-1.05, 1.05))  # VA within [-1, 1]: the unit range
    assert np.isnan(curves[1].get_lines()[0].get_ydata()[:2]).all()  # face 1 came on frame 3


def test_the_timeline_cells_and_values_by_value() -> None:
    from smm.viz import plot_timeline, timeline_arrays

    rows = _two_faces()
    times, faces = timeline_arrays(rows)
    np.testing.assert_allclose(times, [0.0, 0.04, 0.1, 0.35, 0.4, 0.52])
    face0 = faces[0]
    seen = [0, 1, 2, 4, 7]  # face 0's rows, on frames 1, 2, 3, 4, 6
    np.testing.assert_allclose(face0["expr_prob"][[0, 1, 2, 3, 5]], rows.expr_prob[seen, rows.expr[seen]].numpy())
    np.testing.assert_allclose(face0["expr"][[0, 1, 2, 3, 5]], rows.expr[seen].numpy())
    assert np.isnan(face0["expr_prob"][4])
    heat = plot_timeline(rows).subfigs[0].axes[0].collections[0]
    corners = heat.get_coordinates()[0, :, 0]  # the cells' x edges along the first row
    middle = [0.02, 0.07, 0.225, 0.375, 0.46]  # midway between the frames' times
    np.testing.assert_allclose(corners, [-0.02, *middle, 0.58])  # half a step beyond each end
    later = plot_timeline(rows._replace(time=rows.time + 1.0)).subfigs[0].axes[0].collections[0]
    np.testing.assert_allclose(later.get_coordinates()[0, :, 0], [0.98, *(m + 1 for m in middle), 1.58])
    one = rows.select([0])
    single = plot_timeline(one).subfigs[0].axes[0].collections[0].get_coordinates()[0, :, 0]
    np.testing.assert_allclose(single, [-0.05, 0.05])  # one frame: a tenth of a second wide


def test_the_same_timeline_from_the_csv_as_from_memory(tmp_path: Path) -> None:
    from smm.viz import timeline_arrays

    rows = _two_faces()
    times, faces = timeline_arrays(rows)
    read_times, read_faces = timeline_arrays(FramePredictions.from_csv(write_frames_csv(tmp_path / "c.csv", rows)))
    np.testing.assert_allclose(read_times, times, atol=5e-7)
    assert list(read_faces) == list(faces) == [0, 1]
    for face in faces:
        for name in faces[face]:
            np.testing.assert_allclose(read_faces[face][name], faces[face][name], atol=5e-7)


def test_the_timeline_refuses_what_it_cannot_draw() -> None:
    from smm.viz import plot_timeline

    rows = _two_faces()
    with pytest.raises(
        ValueError, match=r"^predictions must have time and face_id \(those of predict_video, or a per-frame CSV\)$"
    ):
        plot_timeline(rows._replace(time=None))
    with pytest.raises(ValueError, match=r"carry no label names"):
        plot_timeline(rows._replace(names=None))
    with pytest.raises(ValueError, match=r"^no row of these predictions has a face"):
        plot_timeline(rows._replace(observed=torch.zeros(9, dtype=torch.bool)))
    wide = plot_timeline(rows._replace(va=rows.va * 4))  # raw VA beyond [-1, 1] stays in view
    reach = float(rows.va[rows.face_id == 0].abs().max()) * 4  # face 0's own values
    first = next(a for g in wide.subfigs for a in g.axes if a.get_ylabel() == "VA")
    assert first.get_ylim() == pytest.approx((-1.05 * reach, 1.05 * reach), rel=1e-5)
    figure = plot_timeline(rows, title="my clip")
    assert figure._suptitle.get_text() == "my clip"
    assert plot_timeline(rows)._suptitle.get_text() == "clip.mp4"


# --- the annotated video -------------------------------------------------------------------------------------------

av = pytest.importorskip("av")
TIMES = [0.0, 0.04, 0.1, 0.35, 0.4, 0.52]  # a variable rate, as _two_faces' frames


def _decoded(path: Path) -> tuple[list[float], list[np.ndarray]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        return [float(f.time) for f in frames], [f.to_ndarray(format="rgb24") for f in frames]


def test_the_overlay_draws_each_box_in_its_face_colour(tmp_path: Path) -> None:
    from smm.viz import overlay_video
    from smm.viz.overlay import FACE_COLOURS, face_colour

    assert face_colour(0) == FACE_COLOURS[0] != face_colour(1) == FACE_COLOURS[1]
    assert face_colour(12) == FACE_COLOURS[2]
    rows = _two_faces()
    for height in (160, 96):  # room for the text outside the boxes; and not, so that it goes inside
        grey = [np.full((height, 176, 3), 90, np.uint8) for _ in TIMES]
        video = write_video(tmp_path / f"clip{height}.mp4", grey, lossless=True, times=TIMES)
        out = overlay_video(video, rows, tmp_path / f"clip{height}.overlay.mp4", codec="ffv1")
        times, frames = _decoded(out)
        assert len(frames) == 6  # every frame, at its own time
        np.testing.assert_allclose(times, TIMES, atol=1e-3)
        assert frames[0].shape == (height, 176, 3)
        for number, frame in enumerate(frames, start=1):
            here = rows.frame == number
            for row in torch.nonzero(here).flatten().tolist():
                x0, y0, x1, y1 = (int(v) for v in rows.box[row].tolist())
                colour = face_colour(int(rows.face_id[row]))
                middle = (y0 + y1) // 2
                assert tuple(frame[middle, x0]) == colour  # the left edge, halfway down: never under text
                assert tuple(frame[middle, x1]) == colour  # the right edge
                assert tuple(frame[y1, (x0 + x1) // 2]) == colour  # the bottom edge
                if height == 160:
                    assert tuple(frame[middle, x0 + 5]) == (90, 90, 90)  # inside, by the edge: untouched
                    assert tuple(frame[y1 + 8, x0 + 2]) == (0, 0, 0)  # the AUs' strip below the box
            faces_here = {int(f) for f in rows.face_id[here]}
            if 1 not in faces_here:  # where face 1 is not, its box is not drawn
                assert tuple(frame[45, 100]) == (90, 90, 90)
            if 0 not in faces_here:
                assert tuple(frame[40, 20]) == (90, 90, 90)
    nobody = rows._replace(observed=torch.zeros(9, dtype=torch.bool))
    _, plain = _decoded(overlay_video(video, nobody, tmp_path / "none.mp4", codec="ffv1"))
    assert all(np.array_equal(a, b) for a, b in zip(plain, grey, strict=True))  # no face: frames as they were


def test_the_overlay_of_a_rotated_video_is_upright(tmp_path: Path) -> None:
    from smm.viz import overlay_video
    from smm.viz.overlay import face_colour

    upright = [np.full((96, 176, 3), 90, np.uint8) for _ in TIMES]
    stored = [np.ascontiguousarray(np.rot90(f, 1)) for f in upright]  # portrait on disk, -90 to display
    video = write_video(tmp_path / "phone.mp4", stored, lossless=True, rotation=-90, times=TIMES)
    _, frames = _decoded(overlay_video(video, _two_faces(), tmp_path / "phone.overlay.mp4", codec="ffv1"))
    assert frames[0].shape == (96, 176, 3)  # as a player shows the input
    assert tuple(frames[0][40, 20]) == face_colour(0)  # face 0's left edge where the predictions put it


def test_the_overlay_refuses_predictions_of_another_video(tmp_path: Path) -> None:
    from smm.viz import overlay_video

    video = write_video(tmp_path / "short.mp4", [np.full((96, 176, 3), 90, np.uint8)] * 3, lossless=True)
    with pytest.raises(ValueError, match=r"predictions name frame 4, but .*short\.mp4 has 3 frames"):
        overlay_video(video, _two_faces(), tmp_path / "o.mp4", codec="ffv1")
    assert not (tmp_path / "o.mp4").exists()  # nothing half-written
    for missing in ("box", "landmarks", "face_id"):
        with pytest.raises(ValueError, match=r"^predictions must have box, landmarks and face_id"):
            overlay_video(video, _two_faces()._replace(**{missing: None}), tmp_path / "o.mp4")


def test_the_overlay_encodes_h264_at_odd_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smm.viz import overlay_video

    for height, width in ((95, 175), (96, 175), (95, 176)):
        grey = [np.full((height, width, 3), 90, np.uint8)] * 6
        video = write_video(tmp_path / f"odd{height}x{width}.mp4", grey, lossless=True, times=TIMES)
        out = overlay_video(video, _two_faces(), tmp_path / f"odd{height}x{width}.overlay.mp4")
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.name == "h264"  # the default codec
        times, frames = _decoded(out)
        assert len(frames) == 6
        np.testing.assert_allclose(times, TIMES, atol=1e-3)
        assert frames[0].shape == (96, 176, 3)  # padded by a black row or column for 4:2:0
        if height == 95:
            assert (frames[0][95] < 20).all()
        if width == 175:
            assert (frames[0][:, 175] < 20).all()
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libx264"})  # a PyAV without x264
    out = overlay_video(video, _two_faces(), tmp_path / "fallback.mp4")
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"


# --- the command line -----------------------------------------------------------------------------------------------


def test_plot_writes_the_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from smm.cli import main

    path = write_frames_csv(tmp_path / "clip.csv", _two_faces())
    assert main(["plot", str(path)]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'clip.png'}\n"
    small = Image.open(tmp_path / "clip.png").size
    assert main(["plot", str(path), "--out", str(tmp_path / "big.png"), "--dpi", "240"]) == 0
    assert Image.open(tmp_path / "big.png").size == (small[0] * 2, small[1] * 2)  # dpi 240 against the default 120
    assert main(["plot", str(path), "--out", str(tmp_path / "c.svg")]) == 0
    assert (tmp_path / "c.svg").read_text().startswith("<?xml")
    capsys.readouterr()
    for argv, message in (
        (["--out", str(tmp_path / "c.txt")], "--out must end in .png, .pdf or .svg, got c.txt"),
        (["--dpi", "0"], "--dpi must be a positive integer, got 0"),
    ):
        assert main(["plot", str(path), *argv]) == 2
        assert capsys.readouterr().err == f"smm-emotionnet plot: error: {message}\n"
    assert main(["plot", str(tmp_path / "gone.csv")]) == 2
    assert "gone.csv does not exist" in capsys.readouterr().err


def test_predict_overlay_writes_the_annotated_video(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image
    from skimage import data

    from smm.cli import main

    head = Image.fromarray(data.astronaut()[20:260, 120:340]).resize((110, 120))
    frames = []
    for t in range(4):
        canvas = Image.new("RGB", (320, 240), (90, 90, 90))
        canvas.paste(head, (40 + 8 * t, 50))
        frames.append(np.asarray(canvas))
    video = write_video(tmp_path / "clip.mp4", frames)
    argv = ["predict", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--input", str(video)]
    assert main([*argv, "--overlay"]) == 0
    assert capsys.readouterr().out == f"wrote 2 file(s) to {tmp_path / 'out'}\n"
    _, drawn = _decoded(tmp_path / "out" / "clip.overlay.mp4")
    assert len(drawn) == 4
    assert np.abs(drawn[0].astype(int) - frames[0]).mean() > 1  # something was drawn
    assert main(argv) == 2  # the folder holds a run with --overlay: another run is refused, not mixed
    assert "holds a run with another model or other options" in capsys.readouterr().err
    assert main([*argv[:-2], "--frames", str(tmp_path), "--overlay"]) == 2
    assert capsys.readouterr().err.endswith("--overlay goes with --input videos (frame folders are already cropped)\n")
