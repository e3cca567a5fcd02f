"""The training loop by its values: log rows, losses, learning rates, best model, resume state and refusals.

Small and fast on purpose (a few short runs of the demo model at 32 px), so that the loop can be
mutated against this file (``tools/mutate.py smm/training/loop.py tests/training/test_loop.py``).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import Subset

import smm
import smm.training.loop as loop
from smm.data import AffWild2Frames, eval_transform
from smm.data.synthetic import make_synthetic_affwild2
from smm.losses import MultiTaskLoss
from smm.metrics import ABAWMetrics, ABAWScores
from smm.models.config import ABAW3_AU_POS_WEIGHT, ABAW3_EXPRESSION_WEIGHT
from smm.training import DEMO_RECIPE, TaskBatchSampler, TrainingError, train, train_transform
from smm.training.loop import StepBatches, TrainResult, describe, find_affwild2, validate

SEED = 3
SMALL = DEMO_RECIPE.replace(steps=4, image_size=32, batch_size=4, save_every=2, val_every=2)
COLUMNS = ["step", "lr", "loss", "loss_au", "loss_expr", "loss_va", "p_au", "p_expr", "ccc_v", "ccc_a", "p_va", "p_mtl"]
SCORES = {"p_au": "p_au", "p_expr": "p_expr", "ccc_v": "ccc_valence", "ccc_a": "ccc_arousal", "p_va": "p_va"}
SCORES["p_mtl"] = "p_mtl"
TASKS = ("AU", "EXPR", "VA")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("affwild2")
    make_synthetic_affwild2(root, videos=4, frames_per_video=16, validation_videos=2, image_size=32, seed=1)
    return root


def _shared(fixture_name: str, config: pytest.Config) -> str:
    """Module-wide, except under mutation testing (``tools/mutate.py`` sets ``SMM_MUTATION``): mutmut links
    each test to the functions it calls, and a module-wide fixture's calls only to the first test using it,
    so every other test of the run would never meet a mutant of the loop."""
    return "function" if os.environ.get("SMM_MUTATION") else "module"


@pytest.fixture(scope=_shared)
def run(tmp_path_factory: pytest.TempPathFactory, data: Path) -> tuple[Path, TrainResult, list[str]]:
    """Four fp32 steps with validation and saving every second step."""
    out = tmp_path_factory.mktemp("runs") / "run"
    lines: list[str] = []
    result = train(SMALL, out, data=data, device="cpu", precision="fp32", seed=SEED, log=lines.append)
    return out, result, lines


def _copy(run: tuple[Path, TrainResult, list[str]], tmp_path: Path) -> Path:
    """A copy of the shared run's folder, to resume or spoil."""
    return Path(shutil.copytree(run[0], tmp_path / "run"))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def _sets(data: Path, split: str, transform: Any = None) -> dict[str, AffWild2Frames]:
    """Each task's ``split`` ("Train_Set" or "Validation_Set") of ``data``."""
    frames, folders = find_affwild2(data)
    return {t: AffWild2Frames(frames, **{f"{t.lower()}_dir": folders[t][split]}, transform=transform) for t in TASKS}


def _train_sets(data: Path, recipe: Any = SMALL) -> dict[str, AffWild2Frames]:
    """The training sets with ``recipe``'s augmentation, as the loop builds them."""
    augment = train_transform(recipe.image_size, color_jitter=recipe.color_jitter, hflip=recipe.hflip)
    return _sets(data, "Train_Set", augment)


def _card(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text())["card"]


def _scores(p_mtl: float) -> ABAWScores:
    return ABAWScores((0.5,) * 12, p_mtl / 4, p_mtl / 4, p_mtl / 3, p_mtl / 6, p_mtl / 4, p_mtl)


def test_log_rows_hold_each_steps_learning_rate_losses_and_scores(run: tuple[Path, TrainResult, list[str]]) -> None:
    out, result, _ = run
    with (out / "log.csv").open(newline="") as file:
        assert next(csv.reader(file)) == COLUMNS
    rows = _rows(out / "log.csv")
    assert [int(r["step"]) for r in rows] == [0, 1, 2, 3, 4]
    # Row k: the learning rate of the next step, cosine-annealed to 0 over the 4 steps (no warm-up).
    expected = [0.5 * SMALL.lr * (1 + math.cos(math.pi * k / SMALL.steps)) for k in range(5)]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], expected, rtol=1e-12, atol=1e-15)
    assert rows[0]["loss"] == rows[0]["loss_au"] == ""  # before training: scores only
    for row in rows[1:]:
        parts = [float(row[k]) for k in ("loss_au", "loss_expr", "loss_va")]
        assert all(p > 0 for p in parts)
        assert float(row["loss"]) == pytest.approx(sum(parts), rel=1e-6)
    assert [step for step, _ in result.history] == [0, 2, 4]
    for step, scores in result.history:
        for column, name in SCORES.items():
            assert float(rows[step][column]) == pytest.approx(getattr(scores, name), rel=1e-12, abs=1e-15)
    for step in (1, 3):
        assert all(rows[step][column] == "" for column in SCORES)
    assert (result.steps, result.out, result.finished) == (4, out, False)
    assert result.last == result.history[-1][1]
    assert TrainResult(steps=1).last is None


def _first_step_losses(recipe: Any, data: Path, seed: int) -> dict[str, float]:
    """The first step written out here: the seeded model, step 0's batches, the data's class weights."""
    sets = _train_sets(data, recipe)
    torch.manual_seed(seed)
    model = smm.create_model(recipe.model, image_size=recipe.image_size)
    au = np.asarray(sets["AU"].au)
    pos_weight = (au == 0).sum(0) / (au == 1).sum(0)
    expr = np.asarray(sets["EXPR"].expr)
    counts = np.bincount(expr[expr >= 0], minlength=8)
    criterion = MultiTaskLoss(pos_weight, counts.sum() / (8 * counts), va_correction=recipe.va_correction)
    sampler = TaskBatchSampler({t: len(s) for t, s in sets.items()}, recipe.batch_size, splits=recipe.splits, seed=seed)
    model.train()
    losses = {}
    for task, batch in StepBatches(sets, sampler, seed)[0].items():
        assert batch["image"].shape == (recipe.batch_size, 3, recipe.image_size, recipe.image_size)
        loss = criterion(model(batch["image"]), batch["au"], batch["expr"], batch["va"])
        losses[task] = {"AU": loss.au, "EXPR": loss.expr, "VA": loss.va}[task].item()
    return losses


def test_first_step_losses_are_each_tasks_loss_on_its_own_batch(
    run: tuple[Path, TrainResult, list[str]], data: Path
) -> None:
    first = _rows(run[0] / "log.csv")[1]
    for task, expected in _first_step_losses(SMALL, data, SEED).items():
        assert float(first[f"loss_{task.lower()}"]) == pytest.approx(expected, rel=1e-5)


def test_the_recipes_augmentation_and_the_models_input_size_reach_the_data(tmp_path: Path) -> None:
    # Frames of 48 px for a model of 32 px, flipped every time and colour-jittered: the first step's losses
    # and the validation before training, against both written out here.
    data = tmp_path / "data48"
    make_synthetic_affwild2(data, videos=3, frames_per_video=10, validation_videos=1, image_size=48, seed=2)
    recipe = SMALL.replace(steps=1, hflip=1.0, color_jitter=(0.4, 0.4, 0.4, 0.1), val_every=100)
    lines: list[str] = []
    result = train(recipe, tmp_path / "run", data=data, device="cpu", precision="fp32", seed=SEED, log=lines.append)
    first = _rows(tmp_path / "run" / "log.csv")[1]
    for task, expected in _first_step_losses(recipe, data, SEED).items():
        assert float(first[f"loss_{task.lower()}"]) == pytest.approx(expected, rel=1e-5)
    torch.manual_seed(SEED)
    model = smm.create_model(recipe.model, image_size=32)
    sets = _sets(data, "Validation_Set", eval_transform(input_size=(3, 32, 32)))
    assert result.history[0][1] == validate(model, sets, "cpu", "fp32")
    assert smm.load_checkpoint(tmp_path / "run").data_config["input_size"] == (3, 32, 32)


def test_progress_lines(run: tuple[Path, TrainResult, list[str]], data: Path) -> None:
    out, result, lines = run
    rows = _rows(out / "log.csv")
    sets = _train_sets(data)
    validation = [len(s) for s in _sets(data, "Validation_Set").values()]
    assert lines[0] == (
        f"training smm_resnet18 (demo recipe) for 4 steps, 4 images per task and step, on cpu (fp32, channels_last) "
        f"x 1 process(es); train {[len(sets[t]) for t in TASKS]} val {validation} frames (AU, EXPR, VA)"
    )
    assert lines[1] == f"before training: {describe(result.history[0][1])}"
    progress = [line for line in lines if re.match(r"step \d+/", line)]
    assert [line.split(" loss")[0] for line in progress] == [f"step {k}/4" for k in range(1, 5)]  # every step of 4
    for line, row in zip(progress, rows[1:], strict=True):
        assert f" loss {float(row['loss']):.4f} lr {float(row['lr']):.2e} eta " in line
    assert re.fullmatch(r"step 4/4 loss \S+ lr 0\.00e\+00 eta 0s", progress[-1])
    validations = [line for line in lines if re.match(r"step \d+: ", line)]
    assert validations == [f"step {s}: {describe(scores)}" for s, scores in result.history[1:]]
    assert len(lines) == 2 + 4 + 2


def test_progress_is_reported_every_twentieth_of_the_run(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: _scores(0.1))  # the steps alone, cheap ones

    class Clock:  # a second passes between two readings of the loop's clock
        now = 0.0

        def monotonic(self) -> float:
            Clock.now += 1.0
            return Clock.now

    monkeypatch.setattr(loop, "time", Clock())
    monkeypatch.setattr(
        loop, "_step_losses", lambda runner, *_: {t: sum(p.sum() for p in runner.parameters()) * 0 + 1 for t in TASKS}
    )
    lines: list[str] = []
    recipe = SMALL.replace(steps=41, val_every=100, save_every=100, batch_size=2)
    train(recipe, tmp_path / "run", data=data, device="cpu", log=lines.append)  # default precision and seed
    assert torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["seed"] == 0
    found = [(int(m.group(1)), m.group(2)) for line in lines if (m := re.match(r"step (\d+)/41 .* eta (\d+)s$", line))]
    assert [step for step, _ in found] == [*range(2, 41, 2), 41]  # every 41 // 20 = 2 steps, and the last
    # The time left: the seconds so far (one per report here) per step done, times the steps left.
    assert [eta for _, eta in found] == [f"{k / step * (41 - step):.0f}" for k, (step, _) in enumerate(found, 1)]
    assert torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["step"] == 41  # saved at the end
    # Resumed to 61 steps: the time left counts only the steps this process has done (its clock starts at 41).
    Clock.now, lines = 0.0, []
    train(recipe.replace(steps=61), tmp_path / "run", data=data, device="cpu", resume=True, log=lines.append)
    found = [(int(m.group(1)), m.group(2)) for line in lines if (m := re.match(r"step (\d+)/61 .* eta (\d+)s$", line))]
    assert [step for step, _ in found] == [*range(42, 61, 3), 61]  # every 61 // 20 = 3 steps, and the last
    assert [eta for _, eta in found] == [f"{k / (step - 41) * (61 - step):.0f}" for k, (step, _) in enumerate(found, 1)]


def test_workers_load_the_training_and_validation_batches(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``workers`` reaches every DataLoader of the run (recorded; they are built as asked)."""
    made: list[int] = []

    def recording(*args: Any, **kwargs: Any) -> torch.utils.data.DataLoader:
        made.append(kwargs.get("num_workers", 0))
        return torch.utils.data.DataLoader(*args, **kwargs)

    monkeypatch.setattr(loop, "DataLoader", recording)
    train(SMALL.replace(steps=1), tmp_path / "run", data=data, device="cpu", precision="fp32", workers=1)
    assert made == [1] * 7  # training; then validation before and after, one loader per task each


def test_describe_rounds_each_measure_to_three_places() -> None:
    scores = ABAWScores((0.5,) * 12, 0.51249, 0.3006, 0.4204, -0.0004, 0.4, 1.2131)
    assert describe(scores) == ("P_AU 0.512 | P_EXPR 0.301 | CCC-V 0.420 CCC-A -0.000 (P_VA 0.400) | P_MTL 1.213")


def test_best_model_is_the_first_best_trained_validation(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before training 5.0 (never a candidate), then -0.2 at step 2, a tie at step 4 and less at 6:
    # best/ is step 2's model, even though every trained score is below the untrained one.
    scripted = iter([5.0, -0.2, -0.2, -0.3])
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: _scores(next(scripted)))
    out = tmp_path / "run"
    recipe = SMALL.replace(steps=6, momentum=0.8, weight_decay=1e-4)
    result = train(recipe, out, data=data, device="cpu", precision="fp32", seed=SEED, log=print)
    assert result.best_step == 2
    assert [(step, scores.p_mtl) for step, scores in result.history] == [(0, 5.0), (2, -0.2), (4, -0.2), (6, -0.3)]
    best, last = _card(out / "best"), _card(out)
    assert (best["step"], last["step"]) == (2, 6)
    assert best["metrics"] == {k: round(getattr(_scores(-0.2), n), 6) for k, n in SCORES.items()}
    assert last["metrics"] == {k: round(getattr(_scores(-0.3), n), 6) for k, n in SCORES.items()}
    assert best["training_data"] == last["training_data"] == str(data)
    assert "synthetic_data" not in last
    assert best["recipe"] == last["recipe"] == "demo"
    weights, final = load_file(out / "best" / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not torch.equal(weights[k], final[k]) for k in final)  # steps 3 to 6 moved the weights
    state = torch.load(out / "resume.pt", weights_only=True)
    assert (state["step"], state["best"], state["seed"]) == (6, -0.2, SEED)
    assert state["recipe"] == recipe.to_dict()
    group = state["optimizer"]["param_groups"][0]
    assert (group["momentum"], group["weight_decay"], group["initial_lr"]) == (0.8, 1e-4, SMALL.lr)
    assert state["config"] == smm.load_checkpoint(out).config.to_dict()
    assert [rng.dtype for rng in state["rng"]] == [torch.uint8]
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-15)  # annealed to 0 at step 6
    assert state["schedule"]["last_epoch"] == 6
    model = smm.load_checkpoint(out)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items() if v.is_floating_point())


def test_demo_data_is_generated_once_and_marked_synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: _scores(0.1))
    made: list[dict[str, Any]] = []
    real = make_synthetic_affwild2

    def tiny(root: Path, **kwargs: Any) -> Any:
        made.append(kwargs)
        return real(root, **{**kwargs, "videos": 3, "frames_per_video": 8, "validation_videos": 1})

    monkeypatch.setattr("smm.data.synthetic.make_synthetic_affwild2", tiny)
    lines: list[str] = []
    out = tmp_path / "demo"
    train(SMALL.replace(steps=2), out, device="cpu", precision="fp32", seed=SEED, log=lines.append)
    assert made == [{"seed": SEED, "image_size": 32}]
    assert lines[0] == f"demo: generated a synthetic Aff-Wild2 layout in {out / 'demo-data'}"
    card = _card(out)
    assert card["synthetic_data"] is True
    assert card["training_data"] == f"synthetic (generated in {out / 'demo-data'})"
    assert _card(out / "best")["synthetic_data"] is True
    lines.clear()
    train(SMALL.replace(steps=3), out, device="cpu", precision="fp32", seed=SEED, resume=True, log=lines.append)
    assert len(made) == 1  # generated once
    assert not any(line.startswith("demo:") for line in lines)
    assert lines[0] == f"resumed {out} at step 2 of 3"
    lines.clear()
    done = train(SMALL.replace(steps=3), out, device="cpu", precision="fp32", seed=SEED, resume=True, log=lines.append)
    assert done.finished
    assert lines == [f"{out} is already finished (step 3 of 3): nothing to resume"]


def test_a_resumed_log_drops_the_rows_after_the_saved_step(
    tmp_path: Path, run: tuple[Path, TrainResult, list[str]], data: Path
) -> None:
    out = _copy(run, tmp_path)
    before = _rows(out / "log.csv")
    with (out / "log.csv").open("a", newline="") as file:  # logged after step 4 was saved, then killed
        file.write("5,9.0,9.0,3.0,3.0,3.0,,,,,,\n6,9.0,9.0,3.0,3.0,3.0,,,,,,\n")
    result = train(SMALL.replace(steps=6), out, data=data, device="cpu", precision="fp32", seed=SEED, resume=True)
    after = _rows(out / "log.csv")
    assert [int(r["step"]) for r in after] == [0, 1, 2, 3, 4, 5, 6]
    assert after[:5] == before
    assert (float(after[5]["lr"]), float(after[6]["loss"])) != (9.0, 9.0)
    assert [step for step, _ in result.history] == [6]  # no validation before training on resume


def test_resume_refuses_another_seed_architecture_world_or_file(
    tmp_path: Path, run: tuple[Path, TrainResult, list[str]], data: Path
) -> None:
    out = _copy(run, tmp_path)
    state_path = out / "resume.pt"
    state = torch.load(state_path, weights_only=True)
    again = SMALL.replace(steps=6)

    def resume(**kwargs: Any) -> TrainResult:
        return train(again, out, data=data, device="cpu", precision="fp32", resume=True, **kwargs)

    with pytest.raises(TrainingError, match=rf"^{re.escape(str(state_path))} was started with seed 3, not 4$"):
        resume(seed=4)
    torch.save({**state, "config": {**state["config"], "backbone": "resnet34"}}, state_path)
    with pytest.raises(TrainingError, match=r"is a run of another architecture \(backbone resnet34\)$"):
        resume(seed=SEED)
    torch.save({**state, "rng": state["rng"] * 2}, state_path)
    with pytest.raises(TrainingError, match=r"was written by 2 process\(es\); resume it with as many$"):
        resume(seed=SEED)
    state_path.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match=r"resume\.pt: cannot be read as a resume state \(.+\)$"):
        resume(seed=SEED)


def test_a_non_finite_loss_names_the_step_and_the_kept_state(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "boom"
    exploding = SMALL.replace(lr=1e12, steps=20, val_every=100, save_every=1)
    with pytest.raises(TrainingError) as error:
        train(exploding, out, data=data, device="cpu", precision="fp32", log=lambda _: None)
    found = re.fullmatch(
        rf"loss became (nan|inf) at step (\d+); stopped\. The last saved state \({re.escape(str(out / 'resume.pt'))}, "
        rf"step (\d+)\) and models in {re.escape(str(out))} are kept",
        str(error.value),
    )
    assert found, str(error.value)
    failed, saved = int(found.group(2)), int(found.group(3))
    assert saved == torch.load(out / "resume.pt", weights_only=True)["step"] == _card(out)["step"]
    assert saved == failed - 1 >= 1  # the step before the failed one


def test_batch_size_must_divide_between_the_processes(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Three(loop.Processes):
        def __init__(self, device: str = "auto") -> None:
            super().__init__(device)
            self.world = 3

    monkeypatch.setattr(loop, "Processes", Three)
    with pytest.raises(TrainingError, match=r"^batch_size=4 must be divisible by the 3 processes$"):
        train(SMALL, tmp_path / "run", data=data)
    assert not (tmp_path / "run").exists()


def test_step_batches_are_functions_of_seed_and_step_and_shared_by_rank(data: Path) -> None:
    sets = _sets(data, "Train_Set", train_transform(32, scale=1.0, color_jitter=None, hflip=0.0))  # not random
    sampler = TaskBatchSampler({t: len(s) for t, s in sets.items()}, 4, splits=1, seed=0)
    whole = StepBatches(sets, sampler, seed=0)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    step = whole[5]
    assert torch.equal(torch.get_rng_state(), state)  # the global generator (dropout's) is untouched
    assert set(step) == set(TASKS)
    assert {"image", "au", "expr", "va"} <= set(step["AU"])
    assert not {"video", "frame"} & set(step["AU"])  # the names are dropped
    for task in TASKS:
        index = sampler.step(5)[task]
        items = [sets[task][i] for i in index]
        torch.testing.assert_close(step[task]["image"], torch.stack([item["image"] for item in items]))
        for rank in (0, 1):
            share = StepBatches(sets, sampler, seed=0, rank=rank, world=2)[5][task]
            torch.testing.assert_close(share["image"], step[task]["image"][rank::2])
            torch.testing.assert_close(share["au"], step[task]["au"][rank::2])
    assert len(whole) >= 10**9
    # With random augmentation: the same (seed, step) gives the same batch; another step or seed does not.
    jittered = _sets(data, "Train_Set", train_transform(32, hflip=0.5))  # colour jitter and flips
    random = StepBatches(jittered, sampler, seed=0)
    again = random[5]["EXPR"]["image"]
    assert torch.equal(random[5]["EXPR"]["image"], again)
    assert not torch.equal(random[6]["EXPR"]["image"][:1], random[5]["EXPR"]["image"][:1])
    assert not torch.equal(StepBatches(jittered, sampler, seed=1)[5]["EXPR"]["image"], again)


def test_task_forward_runs_each_task_alone_or_all_at_once() -> None:
    torch.manual_seed(0)
    model = smm.create_model("smm_resnet18", image_size=32)
    images = {"AU": torch.randn(3, 3, 32, 32), "EXPR": torch.randn(2, 3, 32, 32), "VA": torch.randn(4, 3, 32, 32)}
    per_task, joint = loop._TaskForward(model, "per-task"), loop._TaskForward(model, "concatenated")
    model.eval()  # the same numbers either way, with the running statistics
    alone, together = per_task(images), joint(images)
    assert list(together) == list(TASKS)
    for task, x in images.items():
        expected = model(x)
        for name in ("au", "expr", "va"):
            torch.testing.assert_close(getattr(alone[task], name), getattr(expected, name))
            torch.testing.assert_close(getattr(together[task], name), getattr(expected, name), atol=1e-5, rtol=1e-4)
    model.train()  # batch statistics: each task's own batch, or all of them
    torch.manual_seed(1)
    alone = per_task(images)["EXPR"].expr
    torch.manual_seed(1)
    for task in ("AU", "EXPR"):  # the same dropout draws in the same order as per_task's
        own = model(images[task])
    torch.testing.assert_close(alone, own.expr)
    torch.manual_seed(1)
    assert not torch.allclose(joint(images)["EXPR"].expr, alone, atol=1e-3)
    with pytest.raises(ValueError, match=r"^forward must be 'per-task' or 'concatenated', got 'joint'$"):
        loop._TaskForward(model, "joint")


def test_find_affwild2_finds_nested_layouts_and_names_what_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "download"
    make_synthetic_affwild2(root / "release" / "v1", videos=2, frames_per_video=4, validation_videos=1, seed=0)
    frames, sets = find_affwild2(root)
    assert frames == root / "release" / "v1" / "cropped_aligned"
    annotations = root / "release" / "v1" / "annotations"
    names = {"AU": "AU_Detection_Challenge", "EXPR": "EXPR_Classification_Challenge", "VA": "VA_Estimation_Challenge"}
    assert sets == {
        t: {s: annotations / name / s for s in ("Train_Set", "Validation_Set")} for t, name in names.items()
    }
    shutil.rmtree(annotations / "VA_Estimation_Challenge" / "Validation_Set")
    with pytest.raises(TrainingError, match=rf"^no Validation_Set/ in {re.escape(str(annotations))}/VA_Estimation"):
        find_affwild2(root)
    with pytest.raises(
        TrainingError, match=rf"^no cropped_aligned/ folder of frame images under {re.escape(str(annotations))}$"
    ):
        find_affwild2(annotations)
    (tmp_path / "frames" / "cropped_aligned").mkdir(parents=True)
    expected = f"no AU_Detection_Challenge/ annotation folder under {tmp_path / 'frames'} (the ABAW3 layout: "
    with pytest.raises(TrainingError, match=f"^{re.escape(expected)}AU_Detection_Challenge/Train_Set/\\*\\.txt\\)$"):
        find_affwild2(tmp_path / "frames")
    (tmp_path / "file").write_text("")
    with pytest.raises(TrainingError, match=r"^data folder .*file does not exist$"):
        find_affwild2(tmp_path / "file")


def _model_and_validation_sets(data: Path) -> tuple[smm.SMMEmotionNet, dict[str, AffWild2Frames]]:
    torch.manual_seed(0)
    model = smm.create_model("smm_resnet18", image_size=32)
    return model, _sets(data, "Validation_Set", eval_transform(model.data_config))


def test_validate_scores_each_task_on_its_own_set_whatever_the_batch(data: Path) -> None:
    model, whole = _model_and_validation_sets(data)
    sets = {t: Subset(s, range(12)) for t, s in whole.items()}
    # Written here: one forward over each whole set, each task scored on its own.
    model.eval()
    metric = ABAWMetrics(12, 8, 2)
    with torch.no_grad():
        for task, dataset in sets.items():
            items = [dataset[i] for i in range(len(dataset))]
            output = model(torch.stack([item["image"] for item in items]))
            key = task.lower()
            targets = torch.stack([torch.as_tensor(item[key]) for item in items])
            metric.update(**{f"{key}_preds": getattr(output, key), f"{key}_targets": targets})
    expected = metric.compute()
    model.train()
    for batch_size in (5, 64):
        got = validate(model, sets, "cpu", batch_size=batch_size)
        assert not model.training
        np.testing.assert_allclose(got.au_f1, expected.au_f1, atol=1e-9)
        for name in ("p_au", "p_expr", "ccc_valence", "ccc_arousal", "p_mtl"):
            assert getattr(got, name) == pytest.approx(getattr(expected, name), abs=1e-5)
    fp32, bf16 = validate(model, sets, "cpu", None), validate(model, sets, "cpu", torch.bfloat16)
    assert fp32 == validate(model, sets, "cpu", torch.float32)
    assert bf16 == validate(model, sets, "cpu", "bf16") != fp32
    with pytest.raises(
        ValueError, match=r"^precision must be float32, bfloat16 or float16 as a dtype, got torch.float64$"
    ):
        validate(model, sets, "cpu", torch.float64)


@pytest.mark.parametrize("weights", ["published", "data"])
def test_the_criterion_follows_the_recipes_loss_weights(data: Path, weights: str) -> None:
    sets = _train_sets(data)
    recipe = SMALL.replace(loss_weights=weights, va_correction=1)
    criterion = loop._criterion(recipe, sets)
    assert criterion.va_correction == 1
    if weights == "published":
        np.testing.assert_allclose(criterion.au_pos_weight.numpy(), ABAW3_AU_POS_WEIGHT, rtol=1e-6)
        np.testing.assert_allclose(criterion.expr_weight.numpy(), ABAW3_EXPRESSION_WEIGHT, rtol=1e-6)
        return
    au = np.asarray(sets["AU"].au)
    np.testing.assert_allclose(criterion.au_pos_weight.numpy(), (au == 0).sum(0) / (au == 1).sum(0), rtol=1e-6)
    expr = np.asarray(sets["EXPR"].expr)
    counts = np.bincount(expr[expr >= 0], minlength=8)
    np.testing.assert_allclose(criterion.expr_weight.numpy(), counts.sum() / (8 * counts), rtol=1e-6)


def test_data_weights_fall_back_to_none_where_a_class_has_no_sample(data: Path) -> None:
    sets = _train_sets(data)
    au, expr = sets["AU"].au.copy(), sets["EXPR"].expr.copy()
    sets["AU"].au[:, 3] = 0  # an AU that is never active
    sets["EXPR"].expr[sets["EXPR"].expr == 5] = 0  # a class that never occurs
    try:
        criterion = loop._criterion(SMALL, sets)
    finally:
        sets["AU"].au[:], sets["EXPR"].expr[:] = au, expr
    assert (criterion.au_pos_weight, criterion.expr_weight) == (None, None)


def test_resume_refuses_another_recipe_naming_each_difference(
    tmp_path: Path, run: tuple[Path, TrainResult, list[str]], data: Path
) -> None:
    out = _copy(run, tmp_path)
    state_path = out / "resume.pt"

    def resume(recipe: Any, seed: int = SEED) -> TrainResult:
        return train(recipe, out, data=data, device="cpu", precision="fp32", seed=seed, resume=True)

    expected = f"{state_path} is a run of another recipe: lr=0.02, momentum=0.9 (this run: lr=0.5, momentum=0.5)"
    with pytest.raises(TrainingError, match=f"^{re.escape(expected)}$"):
        resume(SMALL.replace(lr=0.5, momentum=0.5, steps=6))  # steps may grow: not a difference
    # A list and a tuple of the same numbers are the same recipe, whichever the run was saved with
    # (the wrong seed then stops the resume right after the recipe was accepted).
    state = torch.load(state_path, weights_only=True)
    jitter = (0.4, 0.4, 0.4, 0.1)
    for saved, given in ((jitter, list(jitter)), (list(jitter), jitter)):
        torch.save({**state, "recipe": SMALL.replace(color_jitter=saved).to_dict()}, state_path)
        with pytest.raises(TrainingError, match=r"was started with seed 3, not 4$"):
            resume(SMALL.replace(color_jitter=given), seed=4)


def test_training_errors_carry_the_command_lines_words(
    tmp_path: Path, run: tuple[Path, TrainResult, list[str]]
) -> None:
    assert TrainingError("plain").cli == "plain"
    assert TrainingError("python words", cli="command-line words").cli == "command-line words"
    with pytest.raises(TrainingError) as held:
        train(SMALL, run[0], data=tmp_path)
    assert str(held.value) == f"{run[0]} already holds a run (resume.pt); pass resume=True or another folder"
    assert (
        held.value.cli
        == f"{run[0]} already holds a run (resume.pt); add --resume to continue it, or give another --out"
    )


def test_an_unreadable_resume_state_is_named_with_the_loaders_first_line(
    tmp_path: Path, run: tuple[Path, TrainResult, list[str]], data: Path
) -> None:
    out = _copy(run, tmp_path)
    (out / "resume.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception) as loading:  # noqa: PT011 - whatever torch raises, its first line is quoted
        torch.load(out / "resume.pt", weights_only=True)
    first = str(loading.value).splitlines()[0]
    expected = f"{out / 'resume.pt'}: cannot be read as a resume state ({first})"
    with pytest.raises(TrainingError, match=f"^{re.escape(expected)}$"):
        train(SMALL, out, data=data, device="cpu", resume=True)


def test_a_loss_that_fails_before_any_save_names_step_0(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "boom"
    with pytest.raises(TrainingError, match=r"at step \d+; stopped\. The last saved state \(.*resume\.pt, step 0\)"):
        train(SMALL.replace(lr=1e12, steps=20, save_every=100, val_every=100), out, data=data, device="cpu")
    assert not (out / "resume.pt").exists()


def test_validate_in_a_process_of_several_scores_its_share_and_merges(data: Path) -> None:
    model, sets = _model_and_validation_sets(data)

    class Second:  # rank 1 of 3; merging is recorded and leaves the counts as they are
        rank, world = 1, 3
        merged = 0

        def merge(self, metric: ABAWMetrics) -> ABAWMetrics:
            Second.merged += 1
            return metric

    share = validate(model, sets, "cpu", procs=Second())  # type: ignore[arg-type]
    assert Second.merged == 1
    every_third = {t: Subset(s, range(1, len(s), 3)) for t, s in sets.items()}
    assert share == validate(model, every_third, "cpu")
    assert share != validate(model, sets, "cpu")


def test_fp16_by_dtype_is_fp16_by_name(data: Path) -> None:
    model = smm.create_model("smm_resnet18", image_size=32)
    with pytest.raises(ValueError, match=r"^precision 'fp16' needs a CUDA device"):
        validate(model, {}, "cpu", torch.float16)


def test_losses_are_computed_in_fp32_under_bf16_autocast(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = loop._criterion
    seen: list[tuple[torch.dtype, ...]] = []

    def recording(recipe: Any, train_sets: Any) -> MultiTaskLoss:
        criterion = real(recipe, train_sets)
        forward = criterion.forward

        def checked(output: Any, *targets: torch.Tensor) -> Any:
            seen.append((output.au.dtype, output.expr.dtype, output.va.dtype))
            return forward(output, *targets)

        criterion.forward = checked  # type: ignore[method-assign]
        return criterion

    validations: list[str] = []

    def validate(model: Any, val_sets: Any, device: Any, precision: Any, *args: Any, **kwargs: Any) -> ABAWScores:
        validations.append(precision.name)
        return _scores(0.1)

    monkeypatch.setattr(loop, "_criterion", recording)
    monkeypatch.setattr(loop, "validate", validate)
    train(SMALL.replace(steps=1), tmp_path / "run", data=data, device="cpu", precision="bf16", log=lambda _: None)
    assert seen == [(torch.float32,) * 3] * 3  # the model's bf16 outputs, cast for each task's loss
    assert validations == ["bf16", "bf16"]  # before training and after the last step, in the run's precision


class _Board:
    """Stands in for TensorBoard's ``SummaryWriter`` (not installed here): records what the loop writes."""

    made: ClassVar[list[tuple[str, int | None]]] = []
    scalars: ClassVar[list[tuple[str, float, int]]] = []
    closed: ClassVar[int] = 0

    def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
        _Board.made.append((log_dir, purge_step))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        _Board.scalars.append((tag, value, step))

    def close(self) -> None:
        _Board.closed += 1


def test_tensorboard_gets_every_logged_value_at_its_step(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    board = types.ModuleType("torch.utils.tensorboard")
    board.SummaryWriter = _Board  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", board)
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: _scores(0.4))
    out = tmp_path / "run"
    train(SMALL.replace(steps=2), out, data=data, device="cpu", precision="fp32", log=lambda _: None)
    assert _Board.made == [(str(out / "tensorboard"), None)]
    assert _Board.closed == 1
    rows = _rows(out / "log.csv")
    expected = [
        (column, float(row[column]), int(row["step"])) for row in rows for column in COLUMNS[1:] if row[column] != ""
    ]
    assert [(tag, pytest.approx(value, rel=1e-6), step) for tag, value, step in _Board.scalars] == expected
    _Board.made.clear()
    train(SMALL.replace(steps=3), out, data=data, device="cpu", precision="fp32", resume=True, log=lambda _: None)
    assert _Board.made == [(str(out / "tensorboard"), 3)]  # what was written after the saved step 2 is dropped
    assert _Board.scalars[-1][2] == 3


def test_a_fresh_run_starts_a_fresh_log(tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: _scores(0.4))
    out = tmp_path / "run"
    out.mkdir()
    (out / "log.csv").write_text(",".join(COLUMNS) + "\n0,9.0,,,,,,,,,,\n")  # a run killed before its first save
    published = SMALL.replace(steps=2, schedule="published")
    train(published, out, data=data, device="cpu", precision="fp32", log=lambda _: None)
    rows = _rows(out / "log.csv")
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    # The published schedule: cosine annealing over 10,000 steps, stepped once per step.
    expected = [0.5 * SMALL.lr * (1 + math.cos(math.pi * k / 10_000)) for k in range(3)]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], expected, rtol=1e-12)


def test_step_augmentation_differs_from_step_to_step_on_the_same_images(data: Path) -> None:
    sets = _sets(data, "Train_Set", train_transform(32, hflip=0.5))

    class Same:  # the same four images of each task at every step
        def step(self, step: int) -> dict[str, list[int]]:
            return {t: [0, 1, 2, 3] for t in TASKS}

    batches = StepBatches(sets, Same(), seed=0)  # type: ignore[arg-type]
    images = [batches[k]["AU"]["image"] for k in range(6)]
    assert all(not torch.equal(a, b) for a, b in itertools.combinations(images, 2))
    torch.testing.assert_close(batches[3]["AU"]["image"], images[3])
    ranks = [StepBatches(sets, Same(), seed=0, rank=r, world=2)[0]["AU"]["image"] for r in (0, 1)]
    assert not torch.equal(ranks[0], ranks[1][:2])  # each process draws its own augmentation


def test_progress_goes_to_stderr_by_default_and_the_folder_is_made_with_its_parents(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(loop, "validate", lambda *args, **kwargs: _scores(0.4))
    out = tmp_path / "runs" / "today" / "run"
    expected = f"nothing to resume: {out / 'resume.pt'} does not exist"
    with pytest.raises(TrainingError, match=f"^{re.escape(expected)}$"):
        train(SMALL, out, data=data, resume=True)
    train(SMALL.replace(steps=1), out, data=data, device="cpu", precision="fp32")
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("training smm_resnet18 (demo recipe) for 1 steps, 4 images per task and step")
    assert lines[1:] == [
        f"before training: {describe(_scores(0.4))}",
        f"step 1: {describe(_scores(0.4))}",
        lines[3],
    ]
    assert re.fullmatch(r"step 1/1 loss \d+\.\d{4} lr 0\.00e\+00 eta 0s", lines[3])
    assert err.endswith("eta 0s\n")
    assert (out / "model.safetensors").is_file()


def test_a_run_stopped_after_a_save_resumes_to_the_same_weights_and_log(
    tmp_path: Path, run: tuple[Path, TrainResult, list[str]], data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run fixture went through its 4 steps in one go; this one stops at step 3 (after the save at
    # step 2), as a killed run would, then resumes.
    real, calls = loop._step_losses, []

    def stopping(*args: Any) -> dict[str, torch.Tensor]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(loop, "_step_losses", stopping)
        with pytest.raises(KeyboardInterrupt):
            train(SMALL, out, data=data, device="cpu", precision="fp32", seed=SEED, log=lambda _: None)
    assert torch.load(out / "resume.pt", weights_only=True)["step"] == 2
    lines: list[str] = []
    train(SMALL, out, data=data, device="cpu", precision="fp32", seed=SEED, resume=True, log=lines.append)
    assert lines[0] == f"resumed {out} at step 2 of 4"
    ours, theirs = load_file(out / "model.safetensors"), load_file(run[0] / "model.safetensors")
    assert [k for k in theirs if not torch.equal(ours[k], theirs[k])] == []
    assert _rows(out / "log.csv") == _rows(run[0] / "log.csv")
