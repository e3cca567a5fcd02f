"""Aff-Wild2 readers, label statistics and the frames dataset."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.utils.class_weight import compute_class_weight

from smm.data import (
    AffWild2Frames,
    AnnotationError,
    au_pos_weight,
    expr_class_weight,
    expr_counts,
    read_annotation_file,
    read_multitask_csv,
)
from smm.data.synthetic import make_synthetic_affwild2
from smm.models.config import ABAW3_AU_NAMES

AU_HEADER = ",".join(ABAW3_AU_NAMES)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_read_au_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "v1.txt", f"{AU_HEADER}\n" + "1,0,0,0,0,0,0,0,0,0,1,0\n" + ",".join(["-1"] * 12) + "\n")
    file = read_annotation_file(path, "AU")
    assert file.video == "v1"
    assert file.names == ABAW3_AU_NAMES
    assert file.labels.dtype == np.int64
    np.testing.assert_array_equal(file.labels[0, [0, 10]], [1, 1])
    assert (file.labels[1] == -1).all()


def test_read_expr_and_va_files(tmp_path: Path) -> None:
    expr = read_annotation_file(
        _write(tmp_path / "e.txt", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n4\n-1\n7\n"), "EXPR"
    )
    np.testing.assert_array_equal(expr.labels[:, 0], [4, -1, 7])
    va = read_annotation_file(_write(tmp_path / "va.txt", "valence,arousal\n0.25,-0.5\n-5,-5\n"), "VA")
    assert va.labels.dtype == np.float32
    np.testing.assert_allclose(va.labels, [[0.25, -0.5], [-5, -5]])


@pytest.mark.parametrize(
    ("task", "text", "message"),
    [
        ("AU", f"{AU_HEADER}\n1,0\n", r"v\.txt:2: expected 12 field\(s\), got 2"),
        ("AU", f"{AU_HEADER}\n" + ",".join(["2"] * 12) + "\n", r"v\.txt:2: AU labels must be 0, 1 or -1, got 2"),
        ("EXPR", "Neutral,Anger\n1\n9\n", r"v\.txt:3: expression must be an integer in \[0, 2\) or -1, got 9"),
        ("EXPR", "Neutral,Anger\n1\nhappy\n", r"v\.txt:3: expected numbers, got 'happy'"),
        ("VA", "valence,arousal\n0.1,3\n", r"v\.txt:2: valence/arousal must be in \[-1, 1\] or -5, got 3"),
        ("VA", "0.1,0.2\n", r"v\.txt:1: expected a header of names"),
        ("VA", "", r"v\.txt: empty file"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, task: str, text: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        read_annotation_file(_write(tmp_path / "v.txt", text), task)


def test_read_multitask_csv(tmp_path: Path) -> None:
    header = f"image,valence,arousal,expression,{AU_HEADER}\n"
    row = "v1/00001.jpg,0.5,-0.25,3," + ",".join(["0"] * 11 + ["1"]) + "\n"
    missing = "v1/00002.jpg,-5,-5,-1," + ",".join(["-1"] * 12) + "\n"
    data = read_multitask_csv(_write(tmp_path / "mtl.csv", header + row + missing))
    assert data.images == ("v1/00001.jpg", "v1/00002.jpg")
    np.testing.assert_allclose(data.va, [[0.5, -0.25], [-5, -5]])
    np.testing.assert_array_equal(data.expr, [3, -1])
    assert data.au.shape == (2, 12)
    assert data.au[0, 11] == 1
    assert data.au_names == ABAW3_AU_NAMES
    with pytest.raises(AnnotationError, match=r"mtl2\.csv:2: expected 16 fields \(image, .*, 12 AUs\), got 3"):
        read_multitask_csv(_write(tmp_path / "mtl2.csv", header + "a,1,2\n"))
    with pytest.raises(AnnotationError, match=r"mtl3\.csv:1: expected the header 'image,valence,arousal,expression"):
        read_multitask_csv(_write(tmp_path / "mtl3.csv", "path,v,a\n"))


def test_pos_weight_is_negatives_over_positives() -> None:
    labels = np.array([[1, 0], [0, 0], [1, -1], [0, 1], [-1, 0]])
    torch.testing.assert_close(au_pos_weight(labels), torch.tensor([2 / 2, 3 / 1]))
    with pytest.raises(ValueError, match=r"no positive label for AU\(s\) \['AU2'\]"):
        au_pos_weight(np.array([[1, 0], [0, 0]]), names=("AU1", "AU2"))


def test_expression_weights_match_sklearn_balanced() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 500)
    labels[rng.random(500) < 0.2] = -1
    expected = compute_class_weight("balanced", classes=np.arange(8), y=labels[labels != -1])
    np.testing.assert_allclose(expr_class_weight(labels).numpy(), expected, rtol=1e-6)
    assert expr_counts(labels).sum() == (labels != -1).sum()
    with pytest.raises(ValueError, match=r"no sample of expression class\(es\) \['Fear'\]"):
        expr_class_weight(np.array([0, 1, 2]), 4, names=("Neutral", "Anger", "Disgust", "Fear"))


def _frames(folder: Path, count: int, skip: tuple[int, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        if n not in skip:
            Image.new("RGB", (8, 8), (n * 10, 0, 0)).save(folder / f"{n:05d}.jpg")


def test_dataset_aligns_frames_with_lines_and_skips_missing(tmp_path: Path) -> None:
    _frames(tmp_path / "frames" / "vid", 4, skip=(2,))
    (tmp_path / "frames" / "vid" / "notes.txt").write_text("not an image")
    _write(
        tmp_path / "EXPR" / "vid.txt", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n1\n2\n-1\n5\n6\n"
    )
    _write(tmp_path / "VA" / "vid.txt", "valence,arousal\n0.1,0.2\n0.3,0.4\n-5,-5\n-5,-5\n")
    dataset = AffWild2Frames(tmp_path / "frames", expr_dir=tmp_path / "EXPR", va_dir=tmp_path / "VA")
    # frame 2 has no image, frame 3 no label in any task, line 5 has no image
    assert [dataset[i]["frame"] for i in range(len(dataset))] == [1, 4]
    first, last = dataset[0], dataset[1]
    assert first["expr"].item() == 1
    torch.testing.assert_close(first["va"], torch.tensor([0.1, 0.2]))
    assert bool(first["va_mask"].all())
    assert not bool(first["au_mask"].any())
    assert last["expr"].item() == 5
    assert not bool(last["va_mask"].any())
    assert first["image"].shape == (3, 299, 299)
    batch = torch.utils.data.default_collate([first, last])
    assert batch["image"].shape == (2, 3, 299, 299)
    assert batch["au"].shape == (2, 12)


def test_dataset_errors(tmp_path: Path) -> None:
    _write(tmp_path / "VA" / "ghost.txt", "valence,arousal\n0.1,0.2\n")
    (tmp_path / "frames" / "ghost").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no frame images .*frames/ghost, annotated in ghost\.txt"):
        AffWild2Frames(tmp_path / "frames", va_dir=tmp_path / "VA")
    with pytest.raises(ValueError, match=r"give at least one of"):
        AffWild2Frames(tmp_path / "frames")
    with pytest.raises(FileNotFoundError, match=r"frames_root .* is not a folder"):
        AffWild2Frames(tmp_path / "nowhere", va_dir=tmp_path / "VA")


def test_synthetic_dataset_is_deterministic_and_learnable(tmp_path: Path) -> None:
    a = make_synthetic_affwild2(tmp_path / "a", videos=3, frames_per_video=12, validation_videos=1, seed=3)
    b = make_synthetic_affwild2(tmp_path / "b", videos=3, frames_per_video=12, validation_videos=1, seed=3)
    for task, splits in a.annotations.items():
        for split, folder in splits.items():
            for file in folder.glob("*.txt"):
                assert file.read_text() == (b.annotations[task][split] / file.name).read_text()
    validation = AffWild2Frames(
        a.frames,
        au_dir=a.annotations["AU"]["Validation_Set"],
        expr_dir=a.annotations["EXPR"]["Validation_Set"],
        va_dir=a.annotations["VA"]["Validation_Set"],
    )
    assert len(validation) > 0
    assert set(np.unique(validation.au)) <= {-1.0, 0.0, 1.0}
    labelled_va = validation.va[(validation.va != -5).all(1)]
    assert labelled_va.min() >= -1
    assert labelled_va.max() <= 1


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_every_line_end_reads_the_same_labels(tmp_path: Path, end: str) -> None:
    header = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    path = tmp_path / "e.txt"
    path.write_bytes(end.join([header, "4", "-1", "7", ""]).encode())
    assert read_annotation_file(path, "EXPR").labels[:, 0].tolist() == [4, -1, 7]
    path.write_bytes(end.join([header, "4", "", "7", ""]).encode())
    with pytest.raises(AnnotationError, match=r"e\.txt:3: blank line inside the file"):
        read_annotation_file(path, "EXPR")
    path.write_bytes(end.join([header, "4", "1", "\xff"]).encode("latin-1"))
    with pytest.raises(AnnotationError, match=r"e\.txt:4: not UTF-8 text"):  # the line, whatever ends it
        read_annotation_file(path, "EXPR")


def test_frames_are_ordered_by_number_not_by_name(tmp_path: Path) -> None:
    from smm.data import read_multitask_test_list
    from smm.data.frames import list_frames

    folder = tmp_path / "frames" / "vid"
    folder.mkdir(parents=True)
    for n in (1, 2, 9, 10, 11):  # unpadded: by name "10.jpg" < "9.jpg"
        Image.fromarray(np.full((8, 8, 3), 20 * n, np.uint8)).save(folder / f"{n}.jpg")
    assert [p.name for p in list_frames(folder)] == ["1.jpg", "2.jpg", "9.jpg", "10.jpg", "11.jpg"]
    listed = _write(tmp_path / "mtl.txt", "image\nvid/10.jpg\nvid/9.jpg\nvid/2.jpg\n")
    assert read_multitask_test_list(listed).frames.tolist() == [10, 9, 2]
    _write(tmp_path / "EXPR" / "vid.txt", "Neutral,Anger\n" + "".join(f"{n % 2}\n" for n in range(1, 12)))
    dataset = AffWild2Frames(tmp_path / "frames", expr_dir=tmp_path / "EXPR", transform=np.asarray)
    frames = [dataset[i]["frame"] for i in range(len(dataset))]
    assert frames == [1, 2, 9, 10, 11]
    for i, n in enumerate(frames):
        assert dataset[i]["expr"].item() == n % 2  # line n of the file goes with frame n's image
        assert dataset[i]["image"][0, 0, 0] == pytest.approx(20 * n, abs=3)  # and its pixels


def test_frame_numbers_and_folder_errors(tmp_path: Path) -> None:
    from smm.data.frames import frame_number, list_frames

    assert [frame_number(name) for name in ("00042.jpg", "7.png", "0.jpg", "-1.jpg", "x1.jpg", "١٢.jpg")] == [
        42, 7, None, None, None, None,
    ]  # fmt: skip
    with pytest.raises(FileNotFoundError, match=r"^frames folder .*nowhere does not exist$"):
        list_frames(tmp_path / "nowhere")
    folder = tmp_path / "vid"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    (folder / ".00001.jpg").write_text("hidden")
    with pytest.raises(FileNotFoundError, match=r"^frames folder .*vid holds no images \(\.jpg, \.jpeg, \.png\)$"):
        list_frames(folder)
    Image.new("RGB", (4, 4)).save(folder / "00001.jpg")
    assert [p.name for p in list_frames(folder)] == ["00001.jpg"]  # the hidden file is not a frame
    Image.new("RGB", (4, 4)).save(folder / "1.png")
    with pytest.raises(ValueError, match=r"1\.png: a second image of frame 1 \(also 00001\.jpg\)$"):
        list_frames(folder)
    (folder / "1.png").unlink()
    Image.new("RGB", (4, 4)).save(folder / "face.jpg")
    with pytest.raises(
        ValueError, match=r"face\.jpg: frame images must be named by frame number \(00001\.jpg, \.\.\.\)$"
    ):
        list_frames(folder)


MTL_HEADER = "image,valence,arousal,expression,aus"
AUS = ",".join(["0"] * 12)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"v/00001.jpg,x,0.5,1,{AUS}", "expected numbers, got 'x,0.5'"),
        (f",0.1,0.5,1,{AUS}", "the image field is empty"),
        (f"v/00001.jpg,-1.5,0.5,1,{AUS}", r"valence/arousal must be in \[-1, 1\] or -5, got -1.5"),
        (f"v/00001.jpg,0.5,1.25,1,{AUS}", r"valence/arousal must be in \[-1, 1\] or -5, got 1.25"),
        (f"v/00001.jpg,0.5,0.5,8,{AUS}", r"expression must be an integer in \[0, 8\) or -1, got 8"),
        (f"v/00001.jpg,0.5,0.5,-2,{AUS}", r"expression must be an integer in \[0, 8\) or -1, got -2"),
        ("v/00001.jpg,0.5,0.5,1," + ",".join(["0"] * 10 + ["2", "3"]), "AU labels must be 0, 1 or -1, got 2"),
        ("v/00001.jpg,0.5,0.5,1," + ",".join(["0"] * 11), r"expected 16 fields \(image, valence, arousal"),
    ],
)
def test_multitask_rows_are_checked_field_by_field(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "train_set.txt"
    path.write_text(f"{MTL_HEADER}\nv/00001.jpg,0,0,0,{AUS}\n{row}\n")
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(path))}:3: {message}"):
        read_multitask_csv(path)


def test_multitask_values_at_the_edges_of_their_ranges(tmp_path: Path) -> None:
    path = tmp_path / "edges.csv"
    rows = [f"a/00001.jpg,-1,1,0,{AUS}", f"a/00002.jpg,-5,-5,7,{AUS}", "a/00003.jpg,1,-1,-1," + ",".join(["-1"] * 12)]
    path.write_text("\n".join([MTL_HEADER, *rows]) + "\n")
    read = read_multitask_csv(path)
    assert read.va.dtype == np.float32
    assert read.va.tolist() == [[-1, 1], [-5, -5], [1, -1]]
    assert read.expr.tolist() == [0, 7, -1]
    assert read.au[2].tolist() == [-1] * 12
    assert read.au_names == ABAW3_AU_NAMES
    with pytest.raises(AnnotationError, match=r"expression must be an integer in \[0, 7\) or -1, got 7"):
        read_multitask_csv(path, num_classes=7)
    # Another AU count behind the official header: generic names aus1..auN.
    path.write_text(f"{MTL_HEADER}\nb/00001.jpg,0,0,1,1,0,1\n")
    assert read_multitask_csv(path, num_aus=3).au_names == ("aus1", "aus2", "aus3")
    # A header naming its single AU column: five fields are enough.
    path.write_text("image,valence,arousal,expression,AU12\nb/00001.jpg,0,0,1,1\n")
    named = read_multitask_csv(path)
    assert named.au_names == ("AU12",)
    assert named.au.tolist() == [[1]]
    path.write_text("")
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(path))}: empty file, expected a header line$"):
        read_multitask_csv(path)


def test_annotation_task_names_and_records(tmp_path: Path) -> None:
    path = tmp_path / "video7.txt"
    path.write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n-1\n")
    read = read_annotation_file(path, "EXPR")
    assert (read.task, read.video) == ("EXPR", "video7")
    with pytest.raises(ValueError, match=r"^task must be one of \('AU', 'EXPR', 'VA'\), got 'MTL'$"):
        read_annotation_file(path, "MTL")
    path.write_text("AU1,AU2\n1,5\n")
    with pytest.raises(AnnotationError, match=r":2: AU labels must be 0, 1 or -1, got 5$"):
        read_annotation_file(path, "AU")
    path.write_text("AU1,AU2\n7,5\n")
    with pytest.raises(AnnotationError, match=r":2: AU labels must be 0, 1 or -1, got 7$"):  # the first bad one
        read_annotation_file(path, "AU")


def test_dataset_items_carry_each_task_and_mask_by_value(tmp_path: Path) -> None:
    """Three tasks over two videos, with files shorter than the video and labels missing here and there:
    each item's targets and masks, exactly; frames labelled by no task are not items."""
    _frames(tmp_path / "frames" / "a", 5)
    _frames(tmp_path / "frames" / "b", 2)
    au_header = ",".join(ABAW3_AU_NAMES)
    _write(
        tmp_path / "AU" / "a.txt",
        "\n".join([au_header, ",".join(["1"] + ["0"] * 11), ",".join(["-1"] * 12), ",".join(["-1"] * 12)]) + "\n",
    )
    _write(tmp_path / "EXPR" / "a.txt", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n-1\n7\n")
    _write(tmp_path / "VA" / "a.txt", "valence,arousal\n0.5,-0.5\n-5,-5\n-5,-5\n0.25,1\n")
    _write(tmp_path / "EXPR" / "b.txt", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n-1\n0\n")
    # c/1: labelled by AU only, its EXPR and VA lines missing: still an item.
    _frames(tmp_path / "frames" / "c", 1)
    _write(tmp_path / "AU" / "c.txt", au_header + "\n" + ",".join(["0"] * 11 + ["1"]) + "\n")
    _write(tmp_path / "EXPR" / "c.txt", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n-1\n")
    _write(tmp_path / "VA" / "c.txt", "valence,arousal\n-5,-5\n")
    dataset = AffWild2Frames(
        tmp_path / "frames",
        au_dir=tmp_path / "AU",
        expr_dir=tmp_path / "EXPR",
        va_dir=tmp_path / "VA",
        transform=lambda image: torch.zeros(1),
    )
    # a/2: every label missing; a/5: past every file; b/1: its only label missing.
    assert [(dataset[k]["video"], dataset[k]["frame"]) for k in range(len(dataset))] == [
        ("a", 1), ("a", 3), ("a", 4), ("b", 2), ("c", 1),
    ]  # fmt: skip
    assert dataset[4]["au"].tolist() == [0.0] * 11 + [1.0]
    first, third, fourth, other = (dataset[k] for k in range(4))
    assert first["au"].tolist() == [1.0] + [0.0] * 11
    assert first["au"].dtype == torch.float32
    assert first["au_mask"].tolist() == [True] * 12
    assert (first["expr"].item(), bool(first["expr_mask"])) == (3, True)
    assert first["va"].tolist() == [0.5, -0.5]
    assert first["va_mask"].tolist() == [True, True]
    assert third["au"].tolist() == [-1.0] * 12  # labelled by EXPR only
    assert third["au_mask"].tolist() == [False] * 12
    assert (third["expr"].item(), bool(third["expr_mask"])) == (7, True)
    assert third["va_mask"].tolist() == [False, False]
    assert third["va"].tolist() == [-5.0, -5.0]
    assert fourth["au"].tolist() == [-1.0] * 12  # past the AU and EXPR files: missing there
    assert (fourth["expr"].item(), bool(fourth["expr_mask"])) == (-1, False)
    assert fourth["va"].tolist() == [0.25, 1.0]
    assert fourth["va"].dtype == torch.float32
    assert (other["expr"].item(), bool(other["expr_mask"])) == (0, True)  # class 0 is a label, not missing
    assert other["va"].tolist() == [-5.0, -5.0]
    assert dataset.frames.dtype == np.int64
    assert dataset.au.shape == (5, 12)
    assert dataset.va.shape == (5, 2)
    assert dataset.expr.tolist() == [3, 7, -1, 0, -1]
    _write(tmp_path / "AU6" / "a.txt", "AU1,AU2,AU4,AU6,AU7,AU10\n1,0,0,0,0,0\n")
    with pytest.raises(ValueError, match=r"^AU file of a has 6 columns, expected 12$"):
        AffWild2Frames(tmp_path / "frames", au_dir=tmp_path / "AU6")
    assert len(AffWild2Frames(tmp_path / "frames", au_dir=tmp_path / "AU6", num_aus=6)) == 1  # a/1
    with pytest.raises(ValueError, match=r"^give at least one of au_dir, expr_dir, va_dir$"):
        AffWild2Frames(tmp_path / "frames")


def test_a_missing_or_folder_path_is_named(tmp_path: Path) -> None:
    """Every reader of the challenge's text files names a path that is not a file."""
    from smm.data import read_multitask_test_list, read_video_list

    (tmp_path / "folder.txt").mkdir()
    for path in (tmp_path / "missing.txt", tmp_path / "folder.txt"):
        message = f"^{re.escape(str(path))} does not exist or is not a file$"
        with pytest.raises(FileNotFoundError, match=message):
            read_annotation_file(path, "AU")
        with pytest.raises(FileNotFoundError, match=message):
            read_multitask_csv(path)
        with pytest.raises(FileNotFoundError, match=message):
            read_video_list(path)
        with pytest.raises(FileNotFoundError, match=message):
            read_multitask_test_list(path)
