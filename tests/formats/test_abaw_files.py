"""The challenge's prediction files: exact bytes, round trips, and writers that refuse scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smm.data import read_annotation_file, read_multitask_csv
from smm.formats.abaw_files import write_au_file, write_expr_file, write_multitask_file, write_va_file

AU_HEADER = b"AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26\n"
EXPR_HEADER = b"Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n"


def test_au_file_bytes(tmp_path: Path) -> None:
    au = np.zeros((2, 12), dtype=np.int64)
    au[0, [0, 11]] = 1
    path = write_au_file(tmp_path / "AU" / "v.txt", torch.from_numpy(au))
    assert path.read_bytes() == AU_HEADER + b"1,0,0,0,0,0,0,0,0,0,0,1\n0,0,0,0,0,0,0,0,0,0,0,0\n"
    bools = write_au_file(tmp_path / "b.txt", torch.from_numpy(au).bool())
    floats = write_au_file(tmp_path / "f.txt", au.astype(np.float32))
    assert bools.read_bytes() == floats.read_bytes() == path.read_bytes()


def test_expr_and_va_file_bytes(tmp_path: Path) -> None:
    path = write_expr_file(tmp_path / "e.txt", torch.tensor([0, 7, 3]))
    assert path.read_bytes() == EXPR_HEADER + b"0\n7\n3\n"
    va = write_va_file(tmp_path / "va.txt", np.array([[0.5, -0.25], [1.25, -1.0]]))
    assert va.read_bytes() == b"valence,arousal\n0.500000,-0.250000\n1.250000,-1.000000\n"


def test_multitask_file_bytes_and_round_trip(tmp_path: Path) -> None:
    au = np.zeros((2, 12), dtype=np.int64)
    au[1] = 1
    path = write_multitask_file(
        tmp_path / "MTL_predictions.txt",
        ["video1/00001.jpg", "video1/00003.jpg"],
        np.array([[0.1, -0.2], [0.0, 1.0]]),
        np.array([4, 0]),
        au,
    )
    assert path.read_bytes() == (
        b"image,valence,arousal,expression,aus\n"
        b"video1/00001.jpg,0.100000,-0.200000,4,0,0,0,0,0,0,0,0,0,0,0,0\n"
        b"video1/00003.jpg,0.000000,1.000000,0,1,1,1,1,1,1,1,1,1,1,1,1\n"
    )
    back = read_multitask_csv(path)
    assert back.images == ("video1/00001.jpg", "video1/00003.jpg")
    np.testing.assert_array_equal(back.au, au)
    np.testing.assert_array_equal(back.expr, [4, 0])
    np.testing.assert_allclose(back.va, [[0.1, -0.2], [0.0, 1.0]], atol=1e-6)


def test_round_trips_of_random_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    au, expr, va = rng.integers(0, 2, (50, 12)), rng.integers(0, 8, 50), rng.uniform(-1, 1, (50, 2))
    np.testing.assert_array_equal(read_annotation_file(write_au_file(tmp_path / "a.txt", au), "AU").labels, au)
    np.testing.assert_array_equal(
        read_annotation_file(write_expr_file(tmp_path / "e.txt", expr), "EXPR").labels[:, 0], expr
    )
    np.testing.assert_allclose(read_annotation_file(write_va_file(tmp_path / "v.txt", va), "VA").labels, va, atol=1e-6)


@pytest.mark.parametrize(
    ("write", "value", "message"),
    [
        (write_au_file, torch.rand(3, 12), r"au must hold 0/1 decisions, got 0\.\d+ \(threshold"),
        (write_au_file, torch.randn(3, 12), r"au must hold 0/1 decisions"),
        (write_au_file, torch.full((3, 12), 2), r"au must hold 0/1 decisions, got 2"),
        (write_au_file, torch.full((3, 12), -1), r"au must hold 0/1 decisions, got -1"),
        (write_au_file, torch.zeros(3, 11, dtype=torch.long), r"au must have shape \(frames, 12\), got \(3, 11\)"),
        (
            write_expr_file,
            torch.softmax(torch.randn(3, 8), -1),
            r"expr must be class indices of shape \(frames,\), got shape \(3, 8\) \(scores",
        ),
        (write_expr_file, torch.tensor([0, 9]), r"expr must hold class indices in \[0, 7\], got 9"),
        (write_expr_file, torch.tensor([0, -1]), r"expr must hold class indices in \[0, 7\], got -1"),
        (write_expr_file, torch.tensor([0.0, 2.5]), r"expr must hold class indices in \[0, 7\], got 2\.5"),
        (write_va_file, torch.tensor([[0.1, float("nan")]]), r"va must be finite, got nan"),
        (write_va_file, torch.zeros(3, 1), r"va must have shape \(frames, 2\), got \(3, 1\)"),
    ],
)
def test_writers_refuse_scores_and_bad_codes(tmp_path: Path, write, value: torch.Tensor, message: str) -> None:
    path = tmp_path / "x.txt"
    with pytest.raises(ValueError, match=message):
        write(path, value)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_multitask_writer_checks_every_argument(tmp_path: Path) -> None:
    images, va, expr, au = ["v/00001.jpg"], np.zeros((1, 2)), np.array([1]), np.zeros((1, 12), dtype=int)
    with pytest.raises(ValueError, match=r"au must hold 0/1 decisions"):
        write_multitask_file(tmp_path / "m.txt", images, va, expr, au + 0.5)
    with pytest.raises(ValueError, match=r"expr must hold class indices in \[0, 7\], got 8"):
        write_multitask_file(tmp_path / "m.txt", images, va, np.array([8]), au)
    with pytest.raises(ValueError, match=r"one row per image, got 2, 1, 1, 1"):
        write_multitask_file(tmp_path / "m.txt", [*images, "v/00002.jpg"], va, expr, au)
    with pytest.raises(ValueError, match=r"images must be non-empty paths without commas, got 'a,b'"):
        write_multitask_file(tmp_path / "m.txt", ["a,b"], va, expr, au)
    with pytest.raises(TypeError, match=r"va must be numbers"):
        write_multitask_file(tmp_path / "m.txt", images, [["x", "y"]], expr, au)


def test_writer_messages_name_the_argument_and_its_first_bad_value(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"^au must be numbers \(a tensor or array\), got dtype <U1$"):
        write_au_file(tmp_path / "a.txt", np.full((1, 12), "1"))
    with pytest.raises(TypeError, match=r"^expr must be numbers \(a tensor or array\), got dtype <U1$"):
        write_expr_file(tmp_path / "e.txt", np.array(["1"]))
    au = np.zeros((2, 12))
    au[0, 3], au[1, 0] = 0.75, 2.0  # two bad values: the first one in reading order is named
    with pytest.raises(ValueError, match=r"^au must hold 0/1 decisions, got 0\.75 \(threshold"):
        write_au_file(tmp_path / "a.txt", au)
    with pytest.raises(ValueError, match=r"^expr must be class indices of shape \(frames,\), got shape \(1, 2, 8\)$"):
        write_expr_file(tmp_path / "e.txt", np.zeros((1, 2, 8)))  # no hint about scores: not (frames, classes)
    with pytest.raises(ValueError, match=r"^names must name 2 columns \(valence, arousal\), got \['valence'\]$"):
        write_va_file(tmp_path / "v.txt", np.zeros((1, 2)), names=("valence",))
    assert list(tmp_path.iterdir()) == []


def test_multitask_writer_takes_any_number_of_aus_and_refuses_bad_image_names(tmp_path: Path) -> None:
    """The AU count is the array's (the challenge's file has 12); a 1-D array is checked against 12."""
    va, expr = np.array([[0.5, -0.25]]), np.array([4])
    path = write_multitask_file(tmp_path / "m.txt", ["v/00001.jpg"], va, expr, np.array([[1, 0, 1]]))
    assert path.read_text().splitlines()[1] == "v/00001.jpg,0.500000,-0.250000,4,1,0,1"
    with pytest.raises(ValueError, match=r"^au must have shape \(frames, 12\), got \(12,\)$"):
        write_multitask_file(tmp_path / "n.txt", ["v/00001.jpg"], va, expr, np.zeros(12, int))
    for image in ("", 7, None):
        with pytest.raises(ValueError, match=rf"^images must be non-empty paths without commas, got {image!r}$"):
            write_multitask_file(tmp_path / "n.txt", [image], va, expr, np.zeros((1, 12), int))  # type: ignore[list-item]
    assert not (tmp_path / "n.txt").exists()


def test_frames_csv_rows_written_out(tmp_path: Path) -> None:
    """The per-frame CSV of a hand-made result, line by line: quoting, decimals, empty fields, defaults."""
    from smm.formats import csv_columns, write_frames_csv
    from smm.inference import FramePredictions

    au_names, expressions = ("AU1", "AU2"), ("Neutral", "Happiness", "Other")
    result = FramePredictions(
        au_prob=torch.tensor([[0.1234567, 0.9], [0.5, 0.5], [0.25, 0.75]]),
        au=torch.tensor([[0, 1], [0, 0], [0, 1]]),
        expr_prob=torch.tensor([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]]),
        expr=torch.tensor([1, 2, 0]),
        va=torch.tensor([[0.5, -0.25], [0.0, 0.0], [-1.5, 0.125]]),
        frame=torch.tensor([1, 2, 3]),
        observed=torch.tensor([True, False, True]),
        time=torch.tensor([0.0, 1.23456789, 2.5], dtype=torch.float64),
        box=torch.tensor([[10.0, 20.5, 110.25, 120.0], [float("nan")] * 4, [1.0, 2.0, 3.0, 4.0]]),
        landmarks=torch.arange(30, dtype=torch.float32).reshape(3, 5, 2) + 0.125,
        source=('clip "a", take 1.mp4', 'clip "a", take 1.mp4', "plain.mp4"),
    )
    path = write_frames_csv(tmp_path / "out.csv", result, au_names, expressions)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(csv_columns(au_names, expressions))
    assert lines[0] == (
        "source,frame,time,face,face_id,x0,y0,x1,y1,left_eye_x,left_eye_y,right_eye_x,right_eye_y,nose_x,nose_y,"
        "mouth_left_x,mouth_left_y,mouth_right_x,mouth_right_y,yaw,pitch,roll,AU1,AU2,Neutral,Happiness,Other,"
        "expression,valence,arousal,reason"
    )
    marks = ",".join(f"{v:.2f}" for v in (torch.arange(10) + 0.125).tolist())
    from smm.inference.pose import head_pose  # tested by value in test_pose

    pose = ",".join(f"{v:.2f}" for v in head_pose(result.landmarks[0].numpy()).tolist())
    assert lines[1] == (
        '"clip ""a"", take 1.mp4",1,0.000000,1,0,10.00,20.50,110.25,120.00,' + marks + "," + pose
        + ",0.123457,0.900000,0.200000,0.700000,0.100000,Happiness,0.500000,-0.250000,"
    )  # fmt: skip
    assert pose == "-12.27,9.01,27.46"
    # No face: the 26 value fields empty, and the reason last.
    assert lines[2] == '"clip ""a"", take 1.mp4",2,1.234568,0' + "," * 27 + "no face found"
    assert lines[3].startswith("plain.mp4,3,2.500000,1,0,1.00,2.00,3.00,4.00,20.12,21.12,")
    assert lines[3].endswith(",0.250000,0.750000,0.600000,0.300000,0.100000,Neutral,-1.500000,0.125000,")
    assert all(line.count(",") == lines[0].count(",") for line in lines[1:] if '"' not in line)
    # A result of frame folders has no times, boxes or sources: zeros, empty geometry and names.
    bare = result._replace(time=None, box=None, landmarks=None, source=None)
    lines = write_frames_csv(tmp_path / "bare.csv", bare, au_names, expressions).read_text().splitlines()
    values = ",0.123457,0.900000,0.200000,0.700000,0.100000,Happiness,0.500000,-0.250000,"
    assert lines[1] == ",1,0.000000,1,0" + "," * 17 + values
    assert lines[2] == ",2,0.000000,0" + "," * 27 + "no face found"
    # Boxes without landmarks (or the reverse) are no geometry to write; plain names are not quoted.
    half = result._replace(landmarks=None, source=("X.mp4",) * 3)
    lines = write_frames_csv(tmp_path / "half.csv", half, au_names, expressions).read_text().splitlines()
    assert lines[1] == "X.mp4,1,0.000000,1,0" + "," * 17 + values
    # Face ids and reasons as given; the names default to the result's own.
    from smm.inference import LabelNames

    named = result._replace(
        face_id=torch.tensor([3, -1, 7]),
        reason=("", "image too small, 9x9", ""),
        names=LabelNames(au_names, expressions),
    )
    lines = write_frames_csv(tmp_path / "named.csv", named).read_text().splitlines()
    assert lines[1].startswith('"clip ""a"", take 1.mp4",1,0.000000,1,3,10.00,')
    assert lines[2].endswith("," * 27 + '"image too small, 9x9"')  # quoted: it holds a comma
    assert lines[3].startswith("plain.mp4,3,2.500000,1,7,1.00,")
    with pytest.raises(ValueError, match=r"these predictions carry no label names: pass au_names and"):
        write_frames_csv(tmp_path / "x.csv", result)
    with pytest.raises(ValueError, match=r"must name the 2 AU and 3 expression outputs, got 3 and 3"):
        write_frames_csv(tmp_path / "x.csv", result, ("a", "b", "c"), expressions)


def test_to_pandas_has_the_csv_columns_and_the_values_put_there(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    from smm.formats import write_frames_csv
    from smm.inference import FramePredictions, LabelNames

    names = LabelNames(("AU1", "AU2"), ("Neutral", "Happiness", "Other"))
    result = FramePredictions(
        au_prob=torch.tensor([[0.125, 0.875], [float("nan")] * 2]),
        au=torch.tensor([[0, 1], [-1, -1]]),
        expr_prob=torch.tensor([[0.25, 0.5, 0.25], [float("nan")] * 3]),
        expr=torch.tensor([1, -1]),
        va=torch.tensor([[0.5, -0.75], [float("nan")] * 2]),
        frame=torch.tensor([4, 5]),
        observed=torch.tensor([True, False]),
        time=torch.tensor([0.5, 0.625], dtype=torch.float64),
        box=torch.tensor([[1.0, 2.0, 3.0, 4.0], [float("nan")] * 4]),
        landmarks=torch.arange(20, dtype=torch.float32).reshape(2, 5, 2),
        source=("v.mp4", "v.mp4"),
        face_id=torch.tensor([2, -1]),
        reason=("", "no face found"),
        names=names,
    )
    table = result.to_pandas()
    csv_table = pd.read_csv(write_frames_csv(tmp_path / "t.csv", result), keep_default_na=False, na_values=[""])
    assert list(table.columns) == list(csv_table.columns)
    assert table["face_id"].tolist()[0] == 2
    assert table["face_id"].isna().tolist() == [False, True]
    assert str(table["face_id"].dtype) == "Int64"
    assert table["frame"].tolist() == [4, 5]
    assert table["face"].tolist() == [1, 0]
    assert table.loc[0, ["x0", "y1", "left_eye_x", "mouth_right_y"]].tolist() == [1.0, 4.0, 0.0, 9.0]
    assert table.loc[0, ["AU1", "AU2", "Happiness", "valence", "arousal"]].tolist() == [0.125, 0.875, 0.5, 0.5, -0.75]
    assert table.loc[0, "expression"] == "Happiness"
    assert table["reason"].tolist() == ["", "no face found"]
    assert table.loc[1, ["AU1", "valence", "x0"]].isna().all()
    numeric = [c for c in table.columns if c not in ("source", "expression", "reason", "face_id")]
    np.testing.assert_allclose(table[numeric].to_numpy(float), csv_table[numeric].to_numpy(float), atol=5e-3)
    assert table.columns.tolist() == result.select([0]).to_pandas().columns.tolist()  # select keeps the names


def test_facs_labels_name_the_action_unit_after_its_code() -> None:
    from smm.formats.codes import FACS_NAMES, facs_label

    assert facs_label("AU12") == "AU12 Lip corner puller"
    assert facs_label("AU1", sep="\n") == "AU1\nInner brow raiser"
    assert facs_label("AU99") == "AU99"  # not a FACS code: as it is
    assert facs_label("region_3", sep=": ") == "region_3"
    assert len(FACS_NAMES) == 17
    assert FACS_NAMES["AU26"] == "Jaw drop"
