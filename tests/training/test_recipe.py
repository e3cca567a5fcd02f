"""The training recipe: published transforms, per-task batches, the schedule, exact resume and faults."""

from __future__ import annotations

import csv
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torchvision import transforms

import smm
from smm.cli import main
from smm.data.synthetic import make_synthetic_affwild2
from smm.training import (
    DEMO_RECIPE,
    RECIPES,
    TaskBatchSampler,
    TrainingError,
    cosine_schedule,
    published_schedule,
    train,
    train_transform,
)
from tests.processes import child_env, run, torchrun

ROOT = Path(__file__).resolve().parents[2]


def test_train_transform_is_the_published_pipeline() -> None:
    published = transforms.Compose(
        [
            transforms.Resize([int(299 * 1.02), int(299 * 1.02)]),
            transforms.RandomCrop([299, 299]),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    ours = train_transform(299)
    face = Image.fromarray(np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8))
    different = 0
    for seed in range(6):
        torch.manual_seed(seed)
        expected = published(face)
        torch.manual_seed(seed)
        got = ours(face)
        torch.testing.assert_close(got, expected)
        torch.manual_seed(seed + 100)
        different += not torch.equal(ours(face), got)
    assert different  # the augmentation is random


def test_train_transform_options() -> None:
    face = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    plain = train_transform(32, scale=1.0, color_jitter=None, hflip=0.0)
    torch.testing.assert_close(plain(face), smm.data.eval_transform(input_size=(3, 32, 32))(face))
    always = train_transform(32, scale=1.0, color_jitter=None, hflip=1.0)
    torch.testing.assert_close(always(face), plain(face).flip(-1))
    with pytest.raises(ValueError, match="scale must be >= 1"):
        train_transform(32, scale=0.9)
    with pytest.raises(ValueError, match=r"^hflip must be a probability in \[0, 1\], got 2$"):
        train_transform(32, hflip=2)
    with pytest.raises(ValueError, match=r"^color_jitter_p must be a probability in \[0, 1\], got 1.5$"):
        train_transform(32, color_jitter_p=1.5)
    assert train_transform()(face).shape == (3, 299, 299)  # the published input size by default
    # Grey and RGBA crops become RGB first.
    grey = face.convert("L")
    torch.testing.assert_close(plain(grey), plain(grey.convert("RGB")))
    torch.testing.assert_close(plain(face.convert("RGBA")), plain(face))


def test_train_transform_draws_no_flip_when_hflip_is_zero() -> None:
    """With hflip=0 the random stream is the one of the pipeline without a flip (written here with torchvision)."""
    from torchvision import transforms

    faces = [Image.fromarray(np.random.default_rng(k).integers(0, 255, (40, 50, 3), dtype=np.uint8)) for k in (2, 3)]
    jitter = transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)
    reference = transforms.Compose(
        [
            transforms.Resize((34, 34)),
            transforms.RandomCrop(32),
            jitter,
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    ours = train_transform(32, scale=34 / 32, hflip=0.0)
    torch.manual_seed(7)
    expected = [reference(face) for face in faces]
    torch.manual_seed(7)
    got = [ours(face) for face in faces]
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def _published_epoch(lengths: dict[str, int], batch_size: int, splits: int, start: int, order: list[int]):
    """The published scheme, re-written: tile smaller sets to the largest, a strided split, batches."""
    reference = max(lengths.values())
    subset = list(range(start, reference, splits))
    shuffled = [subset[i] for i in order]
    batches = [shuffled[i : i + batch_size] for i in range(0, len(shuffled) - batch_size + 1, batch_size)]
    return [{task: [i % n for i in batch] for task, n in lengths.items()} for batch in batches]


def test_task_batch_sampler_follows_the_published_scheme() -> None:
    lengths = {"AU": 50, "EXPR": 7, "VA": 23}
    sampler = TaskBatchSampler(lengths, batch_size=3, splits=4, seed=5)
    assert sampler.steps_per_epoch == len(range(0, 50, 4)) // 3
    for epoch in range(3):
        generator = torch.Generator().manual_seed(5 * 1_000_003 + epoch)
        start = int(torch.randint(4, (1,), generator=generator))
        order = torch.randperm(len(range(start, 50, 4)), generator=generator).tolist()
        expected = _published_epoch(lengths, 3, 4, start, order)
        got = [sampler.step(epoch * sampler.steps_per_epoch + k) for k in range(sampler.steps_per_epoch)]
        assert got == expected
    iterated = iter(sampler)
    assert [next(iterated) for _ in range(5)] == [sampler.step(k) for k in range(5)]
    with pytest.raises(ValueError, match="an epoch has no full batch"):
        TaskBatchSampler({"AU": 10}, batch_size=4, splits=8)


def test_task_batch_sampler_limits() -> None:
    """Each limit at its edge: one sample, batch and split of one, an epoch of exactly one step."""
    assert TaskBatchSampler({"AU": 1}, batch_size=1, splits=1).step(0) == {"AU": [0]}
    assert TaskBatchSampler({"AU": 8}, batch_size=1, splits=8).steps_per_epoch == 1
    assert TaskBatchSampler({"AU": 16, "VA": 1}, batch_size=2, splits=8).steps_per_epoch == 1
    for lengths, message in (
        ({}, r"^every task needs at least one sample, got lengths \{\}$"),
        ({"AU": 5, "VA": 0}, r"^every task needs at least one sample, got lengths \{'AU': 5, 'VA': 0\}$"),
    ):
        with pytest.raises(ValueError, match=message):
            TaskBatchSampler(lengths, batch_size=1)
    for batch_size, splits in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match=rf"^batch_size and splits must be >= 1, got {batch_size} and {splits}$"):
            TaskBatchSampler({"AU": 5}, batch_size=batch_size, splits=splits)


def test_published_schedule_is_periodic_and_cosine_anneals_once() -> None:
    def lrs(make, steps):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        schedule = make(optimizer)
        values = []
        for _ in range(steps):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return values

    published = lrs(lambda o: published_schedule(o, t_max=10), 41)
    closed_form = [0.5e-3 * (1 + np.cos(np.pi * t / 10)) for t in range(41)]
    np.testing.assert_allclose(published, closed_form, atol=1e-12)
    assert published[10] == pytest.approx(0, abs=1e-12)
    assert published[20] == pytest.approx(1e-3)  # back up: a period of 2 T_max
    once = lrs(lambda o: cosine_schedule(o, 40), 41)
    assert once[40] == pytest.approx(0, abs=1e-12)
    assert all(a >= b for a, b in itertools.pairwise(once))


def test_abaw3_loss_uses_the_published_ccc_statistics() -> None:
    assert smm.MultiTaskLoss.abaw3().va_correction == 1
    assert RECIPES["abaw3"].va_correction == 1


def test_cli_takes_its_lists_from_the_recipes_and_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from smm.cli.main import build_parser
    from smm.models import registry

    extra = registry.ModelEntry("smm_test_extra", smm.ABAW3, "test entry")
    monkeypatch.setitem(registry._REGISTRY, extra.name, extra)
    monkeypatch.setitem(RECIPES, "tiny", RECIPES["demo"].replace(name="tiny"))
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    train = {a.dest: a for a in commands["train"]._actions}
    info = {a.dest: a for a in commands["info"]._actions}
    assert set(train["recipe"].choices) == {"abaw3", "demo", "tiny"}
    assert "smm_test_extra" in info["model"].choices
    assert "smm_test_extra" in train["model"].help
    assert tuple(train["precision"].choices) == ("auto", "fp32", "bf16", "fp16")


def test_cli_train_passes_every_option_to_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each ``train`` option sets the recipe field or the argument it names, and nothing else (a recording trainer)."""
    import dataclasses

    import smm.cli.common
    import smm.training
    from smm.metrics import ABAWScores
    from smm.training.loop import TrainResult

    first = ABAWScores((0.5,) * 12, 0.5, 0.25, 0.125, 0.375, 0.25, 1.0)
    last = ABAWScores((0.75,) * 12, 0.75, 0.5, 0.5, 0.25, 0.375, 1.625)
    calls: list[tuple[object, Path, dict[str, object]]] = []

    def recording(recipe: object, out: Path, **kwargs: object) -> TrainResult:
        calls.append((recipe, out, kwargs))
        return TrainResult(steps=9, history=[(0, first), (9, last)], best_step=6, out=out)

    monkeypatch.setattr(smm.training, "train", recording)
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 0
    recipe, out, kwargs = calls[-1]
    assert recipe == RECIPES["demo"]
    assert out == Path("runs") / "demo"
    assert kwargs == {
        "data": None, "resume": False, "device": "auto", "precision": "auto", "workers": 0, "seed": 0,
        "log": smm.cli.common.err,
    }  # fmt: skip
    assert capsys.readouterr().out.splitlines() == [
        "validation: P_AU 0.500 | P_EXPR 0.250 | CCC-V 0.125 CCC-A 0.375 (P_VA 0.250) | P_MTL 1.000 -> "
        "P_AU 0.750 | P_EXPR 0.500 | CCC-V 0.500 CCC-A 0.250 (P_VA 0.375) | P_MTL 1.625 (best at step 6)",
        f"model in {Path('runs') / 'demo'} (best: {Path('runs') / 'demo' / 'best'}); "
        f"try: smm-emotionnet info --checkpoint {Path('runs') / 'demo'}",
    ]
    options = {
        "--model": ("model", "smm_abaw3"), "--steps": ("steps", 12), "--batch-size": ("batch_size", 3),
        "--image-size": ("image_size", 48), "--lr": ("lr", 0.25), "--schedule": ("schedule", "cosine"),
        "--forward": ("forward", "concatenated"), "--val-every": ("val_every", 5), "--save-every": ("save_every", 4),
    }  # fmt: skip
    given = [word for option, (_, value) in options.items() for word in (option, str(value))]
    arguments = ["--data", "d", "--out", "o", "--resume", "--device", "cpu", "--precision", "fp32"]
    assert main(["train", "--recipe", "abaw3", *given, *arguments, "--workers", "3", "--seed", "7"]) == 0
    recipe, out, kwargs = calls[-1]
    expected = dataclasses.asdict(RECIPES["abaw3"]) | {field: value for field, value in options.values()}
    assert dataclasses.asdict(recipe) == expected  # type: ignore[call-overload]
    assert out == Path("o")
    assert kwargs == {
        "data": Path("d"), "resume": True, "device": "cpu", "precision": "fp32", "workers": 3, "seed": 7,
        "log": smm.cli.common.err,
    }  # fmt: skip
    capsys.readouterr()

    def finished(recipe: object, out: Path, **kwargs: object) -> TrainResult:
        return TrainResult(steps=9, out=out, finished=True)

    monkeypatch.setattr(smm.training, "train", finished)
    assert main(["train", "--out", "o", "--resume"]) == 0
    assert capsys.readouterr().out == "to train o longer, resume it with a larger --steps\n"

    def refused(recipe: object, out: Path, **kwargs: object) -> TrainResult:
        raise TrainingError("resume=True, but o has no resume.pt", cli="--resume, but o has no resume.pt")

    monkeypatch.setattr(smm.training, "train", refused)
    assert main(["train", "--out", "o", "--resume"]) == 2
    assert capsys.readouterr().err == "smm-emotionnet train: error: --resume, but o has no resume.pt\n"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("affwild2")
    make_synthetic_affwild2(root, videos=4, frames_per_video=16, validation_videos=2, image_size=32, seed=1)
    return root


TINY = ["--image-size", "32", "--batch-size", "4", "--val-every", "6"]


def _cli(out: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "smm.cli", "train", "--data", str(data), "--out", str(out), *TINY, *extra]


def _saved_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["step"])
    except Exception:
        return -1


def test_a_killed_run_resumes_to_the_same_weights(tmp_path: Path, tiny_data: Path) -> None:
    steps = ["--steps", "40", "--save-every", "3"]
    reference = subprocess.run(
        _cli(tmp_path / "ref", tiny_data, *steps), env=child_env(), capture_output=True, text=True
    )
    assert reference.returncode == 0, reference.stderr[-2000:]

    process = subprocess.Popen(
        _cli(tmp_path / "run", tiny_data, *steps), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while _saved_step(tmp_path / "run" / "resume.pt") < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = _saved_step(tmp_path / "run" / "resume.pt")
    assert 6 <= killed_at < 40

    resumed = subprocess.run(
        _cli(tmp_path / "run", tiny_data, *steps, "--resume"), env=child_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed {tmp_path / 'run'} at step {killed_at} of 40" in resumed.stderr
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(tmp_path / "run" / "model.safetensors")
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    with (tmp_path / "run" / "log.csv").open() as file:
        logged = [int(row["step"]) for row in csv.DictReader(file)]
    assert logged == sorted(set(logged))  # no step logged twice after the resume
    assert logged[-1] == 40


def test_demo_learns_every_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = train(DEMO_RECIPE.replace(steps=60, val_every=60), tmp_path / "demo", log=lambda _: None)
    before, after = result.history[0][1], result.history[-1][1]
    assert result.history[0][0] == 0
    assert after.p_au > before.p_au + 0.05
    assert after.p_expr > before.p_expr + 0.05
    assert after.p_va > before.p_va + 0.3
    model = smm.load_checkpoint(tmp_path / "demo")
    assert model.data_config["input_size"] == (3, 64, 64)
    assert smm.load_checkpoint(tmp_path / "demo" / "best").config == model.config


def test_training_faults_are_one_line_and_lose_nothing(
    tmp_path: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = DEMO_RECIPE.replace(steps=4, image_size=32, batch_size=4, save_every=2, val_every=4)
    with pytest.raises(TrainingError, match=r"no cropped_aligned/ folder of frame images under"):
        train(small, tmp_path / "x", data=tmp_path)
    (tmp_path / "layout" / "cropped_aligned").mkdir(parents=True)
    with pytest.raises(TrainingError, match=r"no AU_Detection_Challenge/ annotation folder under"):
        train(small, tmp_path / "x", data=tmp_path / "layout")
    with pytest.raises(TrainingError, match=r"data folder .*nowhere does not exist"):
        train(small, tmp_path / "x", data=tmp_path / "nowhere")
    assert not (tmp_path / "x").exists()  # a run that could not start leaves no folder behind
    with pytest.raises(TrainingError, match=r"nothing to resume: .*resume\.pt does not exist"):
        train(small, tmp_path / "y", data=tiny_data, resume=True)
    train(small, tmp_path / "run", data=tiny_data, log=lambda _: None)
    trained = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(TrainingError, match=r"already holds a run \(resume\.pt\); pass resume=True") as held:
        train(small, tmp_path / "run", data=tiny_data)
    assert held.value.cli.endswith(
        "already holds a run (resume.pt); add --resume to continue it, or give another --out"
    )
    said: list[str] = []
    finished = train(small, tmp_path / "run", data=tiny_data, resume=True, log=said.append)
    assert finished.finished
    assert finished.history == []
    assert said == [f"{tmp_path / 'run'} is already finished (step 4 of 4): nothing to resume"]
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == trained
    with pytest.raises(TrainingError, match=r"is a run of another recipe: lr=0\.02 \(this run: lr=0\.5\)"):
        train(small.replace(lr=0.5, steps=6), tmp_path / "run", data=tiny_data, resume=True)
    with pytest.raises(TrainingError, match=r"is a run of another recipe: model='smm_resnet18'"):
        train(small.replace(model="smm_mobilenetv3_large_100", steps=6), tmp_path / "run", data=tiny_data, resume=True)
    saved = (tmp_path / "run" / "model.safetensors").read_bytes()
    exploding = small.replace(lr=1e12, steps=8)
    with pytest.raises(TrainingError, match=r"loss became (nan|inf) at step \d+; stopped\. The last saved state"):
        train(exploding, tmp_path / "boom", data=tiny_data, log=lambda _: None)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == saved
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "z")]) == 2
    args = ["train", "--data", str(tiny_data), "--out", str(tmp_path / "run"), "--steps", "4", "--image-size", "32"]
    args += ["--batch-size", "4", "--save-every", "2", "--val-every", "4"]
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (  # the command line's words on the command line
        f"smm-emotionnet train: error: {tmp_path / 'run'} already holds a run (resume.pt); add --resume to continue "
        "it, or give another --out"
    )
    assert main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"to train {tmp_path / 'run'} longer, resume it with a larger --steps"


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available here")
def test_torchrun_trains_with_two_processes(tmp_path: Path, tiny_data: Path) -> None:
    args = ["--steps", "4", "--save-every", "2", "--val-every", "4"]
    command = [*torchrun(), "-m", "smm.cli", "train", "--data", str(tiny_data)]
    two = run([*command, "--out", str(tmp_path / "two"), *TINY, *args], child_env())
    assert two.returncode == 0, two.stderr[-3000:]
    assert "x 2 process(es)" in two.stderr
    one = subprocess.run(_cli(tmp_path / "one", tiny_data, *args), env=child_env(), capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]

    def before(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("before training:"))

    assert before(two.stderr) == before(one.stderr)  # validation split over 2 processes, merged exactly
    assert smm.load_checkpoint(tmp_path / "two").config == smm.load_checkpoint(tmp_path / "one").config
    assert int(torch.load(tmp_path / "two" / "resume.pt", weights_only=True)["step"]) == 4
    assert len(torch.load(tmp_path / "two" / "resume.pt", weights_only=True)["rng"]) == 2


@pytest.mark.parametrize(
    ("precision", "capability", "resolved", "expected"),
    [
        ("auto", "AVX512_BF16", "bf16", "(bf16, channels_last)"),  # a CPU with bf16 units
        ("auto", "AVX2", "fp32", "(fp32, channels_last)"),  # no bf16 units: fp32, channels_last
        ("auto", "DEFAULT", "fp32", "(fp32)"),  # x86 without AVX2: the published arithmetic and layout
        ("fp32", "AVX512", "fp32", "(fp32, channels_last)"),  # AVX512 without bf16: fp32, channels_last
    ],
)
def test_trainer_picks_precision_and_layout_from_the_machine(
    tmp_path: Path,
    tiny_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    precision: str,
    capability: str,
    resolved: str,
    expected: str,
) -> None:
    import smm.inference.runtime
    import smm.training.loop as loop

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(
        smm.inference.runtime, "cpu_supports_bf16", lambda flags=None: capability in ("AVX512_BF16", "AMX")
    )
    # (the capability stands for the whole CPU here: bf16 units only with AVX512_BF16 or AMX)
    models = []

    seen: list[tuple[bool, torch.dtype]] = []  # (training?, output dtype) of the backbone's first convolution

    def create(*args, **kwargs):
        models.append(smm.create_model(*args, **kwargs))
        first = next(m for m in models[-1].backbone.modules() if isinstance(m, torch.nn.Conv2d))
        first.register_forward_hook(lambda module, _, output: seen.append((module.training, output.dtype)))
        return models[-1]

    monkeypatch.setattr(loop, "create_model", create)
    lines: list[str] = []
    small = DEMO_RECIPE.replace(steps=2, image_size=32, batch_size=4, save_every=2, val_every=2)
    train(small, tmp_path / "run", data=tiny_data, device="cpu", precision=precision, log=lines.append)
    (started,) = [line for line in lines if line.startswith("training ")]
    assert f"on cpu {expected} x 1 process(es)" in started
    conv = next(m for m in models[0].modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == ("channels_last" in expected)
    assert conv.weight.dtype == torch.float32  # autocast: the weights stay fp32
    assert resolved in started
    # The arithmetic itself: the training steps' and the validations' convolutions ran in the resolved dtype.
    wanted = torch.bfloat16 if resolved == "bf16" else torch.float32
    assert {dtype for training, dtype in seen if training} == {wanted}
    assert {dtype for training, dtype in seen if not training} == {wanted}


def test_cosine_schedule_with_warmup_follows_its_closed_form() -> None:
    base, warmup, total = 0.1, 4, 20
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    schedule = cosine_schedule(optimizer, total, warmup_steps=warmup)
    got = []
    for _ in range(total + 1):
        got.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    # Linear from base / (warmup + 1) to base over the warm-up, then half a cosine to 0.
    expected = [base * (1 + t) / (warmup + 1) for t in range(warmup)]
    expected += [0.5 * base * (1 + np.cos(np.pi * t / (total - warmup))) for t in range(total - warmup + 1)]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_color_jitter_options_by_their_effect() -> None:
    face = Image.fromarray(np.random.default_rng(2).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    plain = train_transform(32, scale=1.0, color_jitter=None, hflip=0.0)(face)
    never = train_transform(32, scale=1.0, color_jitter=(0.4, 0.4, 0.4, 0.1), color_jitter_p=0.0, hflip=0.0)
    torch.manual_seed(0)
    assert all(torch.equal(never(face), plain) for _ in range(5))  # p = 0: never jittered
    always = train_transform(32, scale=1.0, color_jitter=(0.4, 0.0, 0.0, 0.0), color_jitter_p=1.0, hflip=0.0)
    torch.manual_seed(0)
    changed = [always(face) for _ in range(5)]
    assert all(not torch.equal(image, plain) for image in changed)  # p = 1: always
    # Brightness alone scales every pixel by one factor in [0.6, 1.4] (before normalisation).
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    raw, bright = plain * std + mean, changed[0] * std + mean
    ratio = (bright[raw > 0.2] / raw[raw > 0.2]).median()
    assert 0.6 <= ratio <= 1.4
    unclipped = (raw > 0.2) & (bright < 0.99)
    torch.testing.assert_close(bright[unclipped], (raw * ratio)[unclipped], atol=0.01, rtol=0)
    half = train_transform(32, scale=1.0, color_jitter=(0.4, 0.4, 0.4, 0.1), color_jitter_p=0.5, hflip=0.0)
    torch.manual_seed(1)
    share = sum(not torch.equal(half(face), plain) for _ in range(200)) / 200
    assert 0.4 < share < 0.6  # about half


def test_cosine_schedule_edges() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    single = cosine_schedule(optimizer, 1)  # one step: annealed to 0 after it
    optimizer.step()
    single.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    short = cosine_schedule(optimizer, 3, warmup_steps=1)  # one warm-up step at lr / 2, then anneal over 2
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        short.step()
    np.testing.assert_allclose(lrs, [0.05, 0.1, 0.05, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"^total_steps must be >= 1, got 0$"):
        cosine_schedule(optimizer, 0)
