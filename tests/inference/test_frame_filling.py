"""One prediction line per video frame: frames without an image are filled as the published tester does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import smm
from smm.data import read_annotation_file, read_multitask_csv, read_multitask_test_list
from smm.data.dataset import default_transform
from smm.inference import fill_index, predict_frames
from smm.submission import write_submission

MAX_FRAMES = 14


def published_refill(frame_ids: list[int], length: int) -> list[int]:
    """The published tester's rule, re-written here: for each frame 1..length, the index of its image,
    else the previous frame's choice (0, the first image, before any image)."""
    chosen, previous = [], 0
    for frame in range(1, length + 1):
        if frame in frame_ids:
            previous = frame_ids.index(frame)
        chosen.append(previous)
    return chosen


@given(st.integers(1, 80), st.data())
def test_fill_index_matches_the_published_rule(length: int, data: st.DataObject) -> None:
    present = sorted(data.draw(st.sets(st.integers(1, length), min_size=1)))
    np.testing.assert_array_equal(fill_index(present, length), published_refill(present, length))


def test_fill_index_edges() -> None:
    np.testing.assert_array_equal(fill_index([3, 5], 7), [0, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(fill_index([1], 1), [0])
    with pytest.raises(ValueError, match=r"frames must be in \[1, num_frames=4\], got frame 5"):
        fill_index([2, 5], 4)
    with pytest.raises(ValueError, match="strictly increasing"):
        fill_index([2, 2], 4)
    with pytest.raises(ValueError, match="at least one frame"):
        fill_index([], 4)
    with pytest.raises(ValueError, match="num_frames must be a positive integer, got 0"):
        fill_index([1], 0)


@pytest.mark.parametrize(
    ("frames", "num_frames", "message"),
    [
        ([1, 5], 4, r"^frames must be in \[1, num_frames=4\], got frame 5$"),  # the last, not the first (1)
        ([1, 3, 5], 4, r"^frames must be in \[1, num_frames=4\], got frame 5$"),  # the last, not the second
        ([0, 2], 4, r"^frames must be in \[1, num_frames=4\], got frame 0$"),  # the first when it is below 1
        ([3, 2], 4, r"^frames must be strictly increasing frame numbers$"),
        ([], 4, r"^frames must list at least one frame with an image$"),
        ([1], True, r"^num_frames must be a positive integer, got True$"),
        ([1], 2.0, r"^num_frames must be a positive integer, got 2\.0$"),
        ([1.5, 2], 4, r"^frames must be integer frame numbers, got 1\.5$"),
    ],
)
def test_fill_index_errors_say_which_frame(frames: list, num_frames: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fill_index(frames, num_frames)


def test_fill_index_takes_any_integral_sequence() -> None:
    expected = [0, 0, 1, 1]
    np.testing.assert_array_equal(fill_index(np.array([[1], [3]]), 4), expected)  # a column of frame numbers
    np.testing.assert_array_equal(fill_index([1.0, 3.0], 4), expected)
    np.testing.assert_array_equal(fill_index(torch.tensor([1, 3]), np.int64(4)), expected)


def test_frame_predictions_select_and_rows() -> None:
    from smm.inference import FramePredictions

    rows = 4
    result = FramePredictions(
        au_prob=torch.arange(rows * 2, dtype=torch.float32).reshape(rows, 2),
        au=torch.tensor([[0, 1], [1, 0], [1, 1], [0, 0]]),
        expr_prob=torch.eye(rows)[:, :3],
        expr=torch.tensor([0, 1, 2, 0]),
        va=torch.arange(rows * 2, dtype=torch.float32).reshape(rows, 2) / 10,
        frame=torch.arange(1, rows + 1),
        observed=torch.tensor([True, False, True, True]),
        source=("a.mp4", "b.mp4", "c.mp4", "d.mp4"),
    )
    picked = result.select(result.observed)  # a boolean mask
    assert picked.frame.tolist() == [1, 3, 4]
    assert picked.source == ("a.mp4", "c.mp4", "d.mp4")
    assert picked.au.tolist() == [[0, 1], [1, 1], [0, 0]]
    assert picked.time is None
    reordered = result.select([3, 0])
    assert reordered.source == ("d.mp4", "a.mp4")
    torch.testing.assert_close(reordered.va, torch.tensor([[0.6, 0.7], [0.0, 0.1]]))
    by_frame = result.rows(np.array([2.0, 1.0]))  # frame numbers, even as floats
    assert by_frame.frame.tolist() == [2, 1]
    assert by_frame.source == ("b.mp4", "a.mp4")
    with pytest.raises(ValueError, match=r"^frames must be in \[1, 4\], got \[0, 1, 2, 3, 4\]\.\.\.$"):
        result.rows([0, 1, 2, 3, 4, 5, 6])


@pytest.fixture(scope="module")
def model() -> smm.SMMEmotionNet:
    torch.manual_seed(0)
    net = smm.SMMEmotionNet(
        "resnet18", num_regions=14, num_labelled=12, dim=8, nhead=2, dim_feedforward=16, image_size=64
    )  # small frames keep the test fast
    return net.eval()


@pytest.fixture(scope="module")
def all_frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames") / "all"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in range(1, MAX_FRAMES + 1):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{n:05d}.png")
    return folder


@pytest.fixture(scope="module")
def per_image(model: smm.SMMEmotionNet, all_frames: Path) -> dict[str, torch.Tensor]:
    """Each image's own prediction, straight from the model (no smoothing)."""
    transform = default_transform(64)
    images = []
    for n in range(1, MAX_FRAMES + 1):
        with Image.open(all_frames / f"{n:05d}.png") as image:
            images.append(transform(image))
    with torch.no_grad():
        out = model(torch.stack(images))
    return {"au": (torch.sigmoid(out.au) > 0.5).long(), "expr": out.expr.argmax(-1), "va": out.va}


@settings(max_examples=12)
@given(st.integers(1, MAX_FRAMES), st.data())
def test_written_files_have_one_line_per_frame(
    tmp_path_factory: pytest.TempPathFactory,
    model: smm.SMMEmotionNet,
    all_frames: Path,
    per_image: dict[str, torch.Tensor],
    length: int,
    data: st.DataObject,
) -> None:
    present = sorted(data.draw(st.sets(st.integers(1, length), min_size=1), label="frames with an image"))
    root = tmp_path_factory.mktemp("video")
    folder = root / "vid"
    folder.mkdir()
    for n in present:
        shutil.copy(all_frames / f"{n:05d}.png", folder / f"{n:05d}.png")
    out = root / "out"
    report = write_submission(
        model,
        root,
        out,
        au_videos=["vid"],
        expr_videos=["vid"],
        va_videos=["vid"],
        frame_counts={"vid": length},
        precision="fp32",
    )
    assert report.frames == {"vid": length}
    assert report.uncounted == []
    source = [present[i] - 1 for i in published_refill(present, length)]  # image shown on each line
    au = read_annotation_file(out / "AU" / "vid.txt", "AU").labels
    expr = read_annotation_file(out / "EXPR" / "vid.txt", "EXPR").labels[:, 0]
    va = read_annotation_file(out / "VA" / "vid.txt", "VA").labels
    assert len(au) == len(expr) == len(va) == length
    np.testing.assert_array_equal(au, per_image["au"][source].numpy())
    np.testing.assert_array_equal(expr, per_image["expr"][source].numpy())
    np.testing.assert_allclose(va, per_image["va"][source].numpy(), atol=1e-5)


def test_predict_frames_marks_observed_frames_and_fills(
    tmp_path: Path, model: smm.SMMEmotionNet, all_frames: Path, per_image: dict[str, torch.Tensor]
) -> None:
    for n in (2, 3, 6):
        shutil.copy(all_frames / f"{n:05d}.png", tmp_path / f"{n:05d}.png")
    result = predict_frames(model, tmp_path, num_frames=8, precision="fp32")
    assert result.frame.tolist() == list(range(1, 9))
    assert result.observed.tolist() == [False, True, True, False, False, True, False, False]
    # frame 1 from frame 2 (the first image), 4-5 from 3, 7-8 from 6
    torch.testing.assert_close(result.va, per_image["va"][[1, 1, 2, 2, 2, 5, 5, 5]], atol=1e-5, rtol=1e-4)
    short = predict_frames(model, tmp_path, precision="fp32")  # no count: up to the last image
    assert len(short.frame) == 6
    selected = predict_frames(model, tmp_path, include=[3, 6], num_frames=6, precision="fp32")
    assert selected.observed.tolist() == [False, False, True, False, False, True]
    torch.testing.assert_close(selected.va[0], per_image["va"][2], atol=1e-5, rtol=1e-4)
    rows = result.rows([6, 1])
    torch.testing.assert_close(rows.va, per_image["va"][[5, 1]], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match=r"num_frames=5, but there is an image of frame 6"):
        predict_frames(model, tmp_path, num_frames=5, precision="fp32")
    with pytest.raises(ValueError, match=r"frames must be in \[1, 8\]"):
        result.rows([9])
    with pytest.raises(FileNotFoundError, match="holds none of the 1 requested frame"):
        predict_frames(model, tmp_path, include=[7], precision="fp32")


def test_va_is_raw_by_default_and_clamped_on_request(model: smm.SMMEmotionNet) -> None:
    frames = [torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    with torch.no_grad():
        model.message_space.va.bias.add_(5.0)  # push VA outside [-1, 1]
        try:
            raw = predict_frames(model, frames, precision="fp32")
            clamped = predict_frames(model, frames, clamp_va=True, precision="fp32")
            expected = model(torch.stack(frames)).va
        finally:
            model.message_space.va.bias.sub_(5.0)
    assert float(raw.va.max()) > 1
    torch.testing.assert_close(raw.va, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(clamped.va, expected.clamp(-1, 1), atol=1e-5, rtol=1e-4)


def test_smoothing_strength_per_output(model: smm.SMMEmotionNet) -> None:
    frames = [torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(9)]
    with torch.no_grad():
        out = model(torch.stack(frames))
    result = predict_frames(model, frames, alpha={"AU": 7, "EXPR": 9}, precision="fp32")
    with torch.no_grad():
        au = model.sign_vehicle.classify(smm.temporal.exponential_smoothing(out.au_features, 7.0))
        expr = model.message_space.classify(smm.temporal.exponential_smoothing(out.message, 9.0))[0]
    torch.testing.assert_close(result.au_prob, torch.sigmoid(au), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(result.expr_prob, torch.softmax(expr, -1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(result.va, out.va, atol=1e-5, rtol=1e-4)  # VA not smoothed
    with pytest.raises(ValueError, match=r"alpha keys must be among \('AU', 'EXPR', 'VA'\), got \['V'\]"):
        predict_frames(model, frames, alpha={"V": 3}, precision="fp32")
    with pytest.raises(ValueError, match=r"alpha\['EXPR'\] must be a finite number >= 0, got -1"):
        predict_frames(model, frames, alpha={"EXPR": -1}, precision="fp32")


def test_au_threshold_is_strict(model: smm.SMMEmotionNet) -> None:
    frames = [torch.randn(3, 64, 64)]
    result = predict_frames(model, frames, threshold=0.0, precision="fp32")
    assert bool((result.au == 1).all())
    exact = float(result.au_prob[0, 0])
    at = predict_frames(model, frames, threshold=exact, precision="fp32")
    assert int(at.au[0, 0]) == 0  # a probability equal to the threshold is not a positive


def test_frame_folder_errors(tmp_path: Path, model: smm.SMMEmotionNet, all_frames: Path) -> None:
    shutil.copy(all_frames / "00001.png", tmp_path / "00001.png")
    shutil.copy(all_frames / "00002.png", tmp_path / "frame_b.png")
    with pytest.raises(ValueError, match=r"frame_b\.png: frame images must be named by frame number"):
        predict_frames(model, tmp_path, precision="fp32")
    (tmp_path / "frame_b.png").rename(tmp_path / "00001.jpg")
    with pytest.raises(ValueError, match=r"a second image of frame 1"):
        predict_frames(model, tmp_path, precision="fp32")


def test_multitask_rows_fill_missing_images_from_the_previous_listed_one(
    tmp_path: Path, model: smm.SMMEmotionNet, all_frames: Path, per_image: dict[str, torch.Tensor]
) -> None:
    folder = tmp_path / "frames" / "vid"
    folder.mkdir(parents=True)
    for n in (2, 3, 5, 9):  # 9 exists but is not listed: it must not be used
        shutil.copy(all_frames / f"{n:05d}.png", folder / f"{n:05d}.png")
    listed = [1, 2, 3, 4, 5, 6]
    (tmp_path / "list.txt").write_text("image\n" + "".join(f"vid/{n:05d}.jpg\n" for n in listed))
    write_submission(
        model,
        tmp_path / "frames",
        tmp_path / "out",
        mtl_list=read_multitask_test_list(tmp_path / "list.txt"),
        precision="fp32",
    )
    rows = read_multitask_csv(tmp_path / "out" / "MTL_predictions.txt")
    assert rows.images == tuple(f"vid/{n:05d}.jpg" for n in listed)
    source = [1, 1, 2, 2, 4, 4]  # 1 <- 2 (first image), 4 <- 3, 6 <- 5 (0-based image indices)
    np.testing.assert_allclose(rows.va, per_image["va"][source].numpy(), atol=1e-5)
    np.testing.assert_array_equal(rows.au, per_image["au"][source].numpy())
    np.testing.assert_array_equal(rows.expr, per_image["expr"][source].numpy())
