"""The training loop of a :class:`~smm.training.recipes.Recipe`, with exact resume.

Output folder:

- ``model.safetensors``, ``config.json``, ``README.md``: the model at the last step
  (:func:`smm.load_checkpoint` takes the folder);
- ``best/``: the model with the best validation ``P_MTL``;
- ``resume.pt``: model, optimiser, scheduler, grad scaler, step and random state, written
  atomically every ``save_every`` steps and at the end;
- ``log.csv``: one row per logged step (losses, learning rate) and per validation (ABAW3
  measures); ``tensorboard/`` too when TensorBoard is installed.

Resuming (``resume=True``) continues from ``resume.pt`` and ends with the same weights, to
the bit on the same CPU, as a run that was never interrupted: every step's batch and
augmentation are functions of ``(seed, step)`` only, and the model's random state (dropout)
is saved and restored.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from smm._atomic import atomic_write
from smm.data import AffWild2Frames, au_pos_weight, eval_transform, expr_class_weight
from smm.defaults import BATCH_SIZE, DEFAULT_PRECISION
from smm.formats.codes import TASK_FOLDERS, TASKS
from smm.inference.engines import precision_setup
from smm.inference.runtime import Precision
from smm.losses import MultiTaskLoss
from smm.metrics import ABAWMetrics, ABAWScores
from smm.models.builder import create_model
from smm.models.emotionnet import SMMEmotionNet
from smm.runs.processes import Processes
from smm.training.recipes import Recipe
from smm.training.sampler import TaskBatchSampler
from smm.training.schedule import cosine_schedule, published_schedule
from smm.training.transforms import train_transform

RESUME_NAME = "resume.pt"
LOG_COLUMNS = (
    "step",
    "lr",
    "loss",
    "loss_au",
    "loss_expr",
    "loss_va",
    "p_au",
    "p_expr",
    "ccc_v",
    "ccc_a",
    "p_va",
    "p_mtl",
)


class TrainingError(RuntimeError):
    """A run that cannot start or go on; the message is one line, says why and what is kept.

    ``cli`` is the same message in the command line's words (options instead of arguments),
    when they differ.
    """

    def __init__(self, message: str, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli or message


@dataclass
class TrainResult:
    """What :func:`train` did: the last and best validation, and where the models are."""

    steps: int
    history: list[tuple[int, ABAWScores]] = field(default_factory=list)
    best_step: int | None = None
    out: Path | None = None
    #: True when a resumed run had already reached its last step (nothing was trained).
    finished: bool = False

    @property
    def last(self) -> ABAWScores | None:
        return self.history[-1][1] if self.history else None


def find_affwild2(root: str | os.PathLike[str]) -> tuple[Path, dict[str, dict[str, Path]]]:
    """The ``cropped_aligned`` folder and ``{task: {"Train_Set": dir, "Validation_Set": dir}}`` under ``root``.

    Raises
    ------
    TrainingError
        Naming the folder that is missing.
    """
    root = Path(root)
    if not root.is_dir():
        raise TrainingError(f"data folder {root} does not exist")
    frames = (
        root / "cropped_aligned" if (root / "cropped_aligned").is_dir() else next(root.rglob("cropped_aligned"), None)
    )
    if frames is None:
        raise TrainingError(f"no cropped_aligned/ folder of frame images under {root}")
    sets: dict[str, dict[str, Path]] = {}
    for task, name in TASK_FOLDERS.items():
        folder = next((p for p in sorted(root.rglob(name)) if p.is_dir()), None)
        if folder is None:
            raise TrainingError(f"no {name}/ annotation folder under {root} (the ABAW3 layout: {name}/Train_Set/*.txt)")
        sets[task] = {}
        for split in ("Train_Set", "Validation_Set"):
            if not (folder / split).is_dir():
                raise TrainingError(f"no {split}/ in {folder}")
            sets[task][split] = folder / split
    return frames, sets


class StepBatches(Dataset):
    """Item ``k`` is the three task batches of step ``k``, augmented with a generator seeded by ``(seed, k)``."""

    def __init__(
        self,
        datasets: Mapping[str, AffWild2Frames],
        sampler: TaskBatchSampler,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.datasets, self.sampler, self.seed = dict(datasets), sampler, seed
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, step: int) -> dict[str, dict[str, Any]]:
        indices = {task: idx[self.rank :: self.world] for task, idx in self.sampler.step(step).items()}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + step) * 64 + self.rank)
            return {
                task: default_collate([_strip(self.datasets[task][i]) for i in idx]) for task, idx in indices.items()
            }


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("video", "frame")}


def train(
    recipe: Recipe,
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    resume: bool = False,
    device: str = "auto",
    precision: str = DEFAULT_PRECISION,
    workers: int = 0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a model with ``recipe`` and write it to ``out``.

    Parameters
    ----------
    recipe : Recipe
        :data:`~smm.training.recipes.ABAW3_RECIPE`, :data:`~smm.training.recipes.DEMO_RECIPE`
        or your own (``recipe.replace(steps=...)``).
    out : path-like
        Output folder (see the module docstring).
    data : path-like, optional
        An Aff-Wild2 folder (``cropped_aligned/`` and the three ``*_Challenge`` annotation
        folders with ``Train_Set``/``Validation_Set``). Default: a synthetic dataset
        generated once in ``out/demo-data``.
    resume : bool, default False
        Continue from ``out/resume.pt``. Without it, an ``out`` that already holds a run is
        an error (nothing is overwritten).
    device : str, default "auto"
        ``"auto"``: CUDA when available, else CPU.
    precision : {"auto", "fp32", "bf16", "fp16"}, default "auto"
        Autocast dtype; ``"fp16"`` (CUDA) adds a gradient scaler; ``"auto"``: bf16 on a CPU
        or GPU with bf16 units, else fp32 (:func:`smm.inference.engines.precision_setup`). Weights,
        optimiser state and losses stay fp32. On a CPU the model and its inputs also go
        ``channels_last`` where :func:`smm.inference.runtime.use_channels_last` says so (bf16, or an
        AVX512 CPU). ``"fp32"`` is the published setup's arithmetic.
    workers : int, default 0
        DataLoader worker processes (results do not depend on it).
    seed : int, default 0
    log : callable, optional
        Receives progress lines (default: stderr).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingError
        Missing data folders, an ``out`` with another run, a resume state of another
        recipe or architecture, or a non-finite loss (naming the step; the last saved state
        and models are kept).
    """
    out = Path(out)
    procs = Processes(device)
    try:
        return _train(recipe, out, procs, data, resume, precision, workers, seed, log)
    finally:
        procs.close()


def _train(
    recipe: Recipe,
    out: Path,
    procs: Processes,
    data: str | os.PathLike[str] | None,
    resume: bool,
    precision: str,
    workers: int,
    seed: int,
    log: Callable[[str], None] | None,
) -> TrainResult:
    printer = log or (lambda text: (sys.stderr.write(text + "\n"), sys.stderr.flush()))

    def say(text: str) -> None:
        if procs.main:
            printer(text)

    if recipe.batch_size % procs.world:
        raise TrainingError(f"batch_size={recipe.batch_size} must be divisible by the {procs.world} processes")
    state_path = out / RESUME_NAME
    if state_path.exists() and not resume:
        raise TrainingError(
            f"{out} already holds a run ({RESUME_NAME}); pass resume=True or another folder",
            cli=f"{out} already holds a run ({RESUME_NAME}); add --resume to continue it, or give another --out",
        )
    if resume and not state_path.is_file():
        raise TrainingError(f"nothing to resume: {state_path} does not exist")
    synthetic = data is None
    if data is not None:
        find_affwild2(data)  # a missing or incomplete data folder stops the run before it writes anything
    procs.barrier()
    if procs.main:
        out.mkdir(parents=True, exist_ok=True)
        if data is None:
            data = _demo_data(out, seed, recipe.image_size, say)
    data = procs.broadcast(data)
    frames, sets = find_affwild2(data)
    torch.manual_seed(seed)
    model = create_model(recipe.model, image_size=recipe.image_size)
    device_ = procs.device
    model.to(device_)
    setup = precision_setup(precision, device_)
    setup.prepare_model(model)  # the trainer's own model: converting it is safe
    runner: torch.nn.Module = _TaskForward(model, recipe.forward)
    if procs.enabled:
        # The attention-logit branch feeds no loss (as in the published code): DDP must look for unused parameters.
        runner = torch.nn.parallel.DistributedDataParallel(
            runner, device_ids=[device_.index] if device_.type == "cuda" else None, find_unused_parameters=True
        )
    augment = train_transform(recipe.image_size, color_jitter=recipe.color_jitter, hflip=recipe.hflip)
    evaluate = eval_transform(model.data_config)
    train_sets = {
        t: AffWild2Frames(frames, **{f"{t.lower()}_dir": sets[t]["Train_Set"]}, transform=augment) for t in TASKS
    }
    val_sets = {
        t: AffWild2Frames(frames, **{f"{t.lower()}_dir": sets[t]["Validation_Set"]}, transform=evaluate) for t in TASKS
    }
    criterion = _criterion(recipe, train_sets).to(device_)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    schedule = (
        published_schedule(optimizer) if recipe.schedule == "published" else cosine_schedule(optimizer, recipe.steps)
    )
    scaler = torch.amp.GradScaler(device_.type, enabled=setup.name == "fp16")
    sampler = TaskBatchSampler(
        {t: len(s) for t, s in train_sets.items()}, recipe.batch_size, splits=recipe.splits, seed=seed
    )

    start, best = 0, -math.inf
    result = TrainResult(steps=recipe.steps, out=out)
    if resume:
        start, best = _load_state(state_path, model, optimizer, schedule, scaler, recipe, seed, procs)
        if start >= recipe.steps:
            say(f"{out} is already finished (step {start} of {recipe.steps}): nothing to resume")
            result.finished = True
            return result
        say(f"resumed {out} at step {start} of {recipe.steps}")
    logger = _Log(out, start, resume) if procs.main else None
    loader = DataLoader(
        StepBatches(train_sets, sampler, seed, procs.rank, procs.world),
        batch_size=None,
        sampler=range(start, recipe.steps),
        num_workers=workers,
        generator=torch.Generator(),  # its own seed source: the global one drives dropout and is saved
    )
    say(
        f"training {recipe.model} ({recipe.name} recipe) for {recipe.steps} steps, {recipe.batch_size} images per "
        f"task and step, on {device_} ({setup}) x {procs.world} "
        f"process(es); train "
        f"{[len(s) for s in train_sets.values()]} val {[len(s) for s in val_sets.values()]} frames (AU, EXPR, VA)"
    )
    if start == 0:
        scores = validate(model, val_sets, device_, setup, workers, procs=procs)
        result.history.append((0, scores))
        if logger is not None:
            logger.write({"step": 0, "lr": optimizer.param_groups[0]["lr"], **_score_columns(scores)})
        say(f"before training: {describe(scores)}")
    begun, every = time.monotonic(), max(1, recipe.steps // 20)
    step = start
    for step, batches in zip(range(start, recipe.steps), loader, strict=False):
        runner.train()
        losses = _step_losses(runner, criterion, batches, setup)
        total = sum(losses.values())
        if not procs.all_true(bool(torch.isfinite(total))):
            saved = _saved_step(state_path)
            raise TrainingError(
                f"loss became {total.item()} at step {step + 1}; stopped. The last saved state "
                f"({state_path}, step {saved}) and models in {out} are kept"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        done = step + 1
        row = {"step": done, "lr": optimizer.param_groups[0]["lr"], "loss": total.item()}
        row.update({f"loss_{t.lower()}": v.detach().item() for t, v in losses.items()})
        if done % recipe.val_every == 0 or done == recipe.steps:
            scores = validate(model, val_sets, device_, setup, workers, procs=procs)
            result.history.append((done, scores))
            row.update(_score_columns(scores))
            if scores.p_mtl > best:
                best, result.best_step = scores.p_mtl, done
                if procs.main:
                    _save_model(model, out / "best", recipe, data, done, scores, synthetic)
            say(f"step {done}: {describe(scores)}")
        if logger is not None:
            logger.write(row)
        if done % recipe.save_every == 0 or done == recipe.steps:
            rng = procs.gather(torch.get_rng_state())
            if procs.main:
                _save_model(model, out, recipe, data, done, result.last, synthetic)
                _save_state(state_path, model, optimizer, schedule, scaler, recipe, seed, done, best, rng)
        if done % every == 0 or done == recipe.steps:
            elapsed = time.monotonic() - begun
            eta = elapsed / (done - start) * (recipe.steps - done)
            say(f"step {done}/{recipe.steps} loss {row['loss']:.4f} lr {row['lr']:.2e} eta {eta:.0f}s")
    if logger is not None:
        logger.close()
    procs.barrier()
    return result


def validate(
    model: SMMEmotionNet,
    val_sets: Mapping[str, AffWild2Frames],
    device: torch.device | str,
    precision: Precision | str | torch.dtype | None = None,
    workers: int = 0,
    batch_size: int = BATCH_SIZE,
    *,
    procs: Processes | None = None,
) -> ABAWScores:
    """ABAW3 measures of ``model`` on each task's validation set (each task's measure on its own set).

    ``precision`` is a :class:`~smm.inference.runtime.Precision`, a name (``"auto"``, ``"fp32"``,
    ``"bf16"``, ``"fp16"``), an autocast dtype, or ``None`` for fp32. With ``procs`` of
    several processes, each scores every ``world``-th frame and the counts are merged, so
    every process gets the measures of the whole sets.
    """
    setup = precision_setup(precision, device)
    metric = ABAWMetrics(len(model.au_names), len(model.expression_names), len(model.va_names))
    rank, world = (procs.rank, procs.world) if procs is not None else (0, 1)
    model.eval()
    with torch.no_grad():
        for task, dataset in val_sets.items():
            shard = Subset(dataset, range(rank, len(dataset), world))
            for batch in DataLoader(shard, batch_size=batch_size, num_workers=workers, generator=torch.Generator()):
                with setup.autocast():
                    output = model(setup.inputs(batch["image"]))
                key = task.lower()
                metric.update(**{f"{key}_preds": getattr(output, key).float(), f"{key}_targets": batch[key]})
    return (procs.merge(metric) if procs is not None else metric).compute()


def describe(scores: ABAWScores) -> str:
    """``P_AU 0.512 | P_EXPR 0.301 | CCC-V 0.420 CCC-A 0.380 (P_VA 0.400) | P_MTL 1.213``."""
    return (
        f"P_AU {scores.p_au:.3f} | P_EXPR {scores.p_expr:.3f} | CCC-V {scores.ccc_valence:.3f} "
        f"CCC-A {scores.ccc_arousal:.3f} (P_VA {scores.p_va:.3f}) | P_MTL {scores.p_mtl:.3f}"
    )


def _criterion(recipe: Recipe, train_sets: Mapping[str, AffWild2Frames]) -> MultiTaskLoss:
    if recipe.loss_weights == "published":
        return MultiTaskLoss.abaw3(va_correction=recipe.va_correction)
    try:
        pos_weight = au_pos_weight(train_sets["AU"].au)
    except ValueError:
        pos_weight = None
    try:
        class_weight = expr_class_weight(train_sets["EXPR"].expr)
    except ValueError:
        class_weight = None
    return MultiTaskLoss(pos_weight, class_weight, va_correction=recipe.va_correction)


class _TaskForward(torch.nn.Module):
    """The model over the three task batches of a step in one call (one DDP forward per step).

    ``"per-task"`` runs one forward pass per task, so BatchNorm normalises each task's batch
    with its own statistics (published); ``"concatenated"`` runs one pass over all of them.
    """

    def __init__(self, model: SMMEmotionNet, mode: str) -> None:
        super().__init__()
        if mode not in ("per-task", "concatenated"):
            raise ValueError(f"forward must be 'per-task' or 'concatenated', got {mode!r}")
        self.model, self.mode = model, mode

    def forward(self, images: dict[str, torch.Tensor]) -> dict[str, Any]:
        if self.mode == "per-task":
            return {task: self.model(x) for task, x in images.items()}
        joint = self.model(torch.cat(list(images.values())))
        sizes = [len(x) for x in images.values()]
        parts = [torch.split(field, sizes) for field in (joint.au, joint.expr, joint.va)]
        return {t: joint._replace(au=parts[0][i], expr=parts[1][i], va=parts[2][i]) for i, t in enumerate(images)}


def _step_losses(
    runner: torch.nn.Module,
    criterion: MultiTaskLoss,
    batches: Mapping[str, Mapping[str, torch.Tensor]],
    setup: Precision,
) -> dict[str, torch.Tensor]:
    """Each task's loss on its own batch (missing labels of the other tasks never enter)."""
    device = setup.device
    images = {t: setup.inputs(b["image"]) for t, b in batches.items()}
    with setup.autocast():
        outputs = runner(images)
    losses = {}
    for task, batch in batches.items():
        output = outputs[task]
        au, expr, va = (batch[k].to(device) for k in ("au", "expr", "va"))
        output = output._replace(au=output.au.float(), expr=output.expr.float(), va=output.va.float())
        full = criterion(output, au, expr, va)
        losses[task] = {"AU": full.au, "EXPR": full.expr, "VA": full.va}[task]
    return losses


def _score_columns(scores: ABAWScores) -> dict[str, float]:
    return {
        "p_au": scores.p_au,
        "p_expr": scores.p_expr,
        "ccc_v": scores.ccc_valence,
        "ccc_a": scores.ccc_arousal,
        "p_va": scores.p_va,
        "p_mtl": scores.p_mtl,
    }


def _demo_data(out: Path, seed: int, image_size: int, say: Callable[[str], None]) -> Path:
    from smm.data.synthetic import make_synthetic_affwild2

    folder = out / "demo-data"
    if not (folder / "cropped_aligned").is_dir():
        make_synthetic_affwild2(folder, seed=seed, image_size=image_size)
        say(f"demo: generated a synthetic Aff-Wild2 layout in {folder}")
    return folder


def _save_model(
    model: SMMEmotionNet,
    folder: Path,
    recipe: Recipe,
    data: Any,
    step: int,
    scores: ABAWScores | None,
    synthetic: bool,
) -> None:
    from smm.models.checkpoint import save_checkpoint

    card: dict[str, Any] = {"training_data": str(data), "recipe": recipe.name, "step": step}
    if synthetic:  # predict warns about such a model
        card.update(training_data=f"synthetic (generated in {data})", synthetic_data=True)
    if scores is not None:
        card["metrics"] = {k: round(v, 6) for k, v in _score_columns(scores).items()}
    save_checkpoint(model, folder, **card)


def _save_state(
    path: Path,
    model: SMMEmotionNet,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    scaler: torch.amp.GradScaler,
    recipe: Recipe,
    seed: int,
    step: int,
    best: float,
    rng: list[torch.Tensor],
) -> None:
    state = {
        "step": step,
        "best": best,
        "seed": seed,
        "recipe": recipe.to_dict(),
        "config": model.config.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng,  # every process's CPU generator, in rank order
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    atomic_write(path, lambda temporary: torch.save(state, temporary))


def _load_state(
    path: Path,
    model: SMMEmotionNet,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    scaler: torch.amp.GradScaler,
    recipe: Recipe,
    seed: int,
    procs: Processes,
) -> tuple[int, float]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise TrainingError(f"{path}: cannot be read as a resume state ({str(error).splitlines()[0]})") from None
    theirs = {k: tuple(v) if isinstance(v, list) else v for k, v in state["recipe"].items()}
    ours = {k: tuple(v) if isinstance(v, list) else v for k, v in recipe.to_dict().items()}
    changed = sorted(k for k in ours if theirs.get(k) != ours[k] and k != "steps")
    if changed:
        raise TrainingError(
            f"{path} is a run of another recipe: {', '.join(f'{k}={theirs.get(k)!r}' for k in changed)} "
            f"(this run: {', '.join(f'{k}={ours[k]!r}' for k in changed)})"
        )
    if state["config"] != model.config.to_dict():
        raise TrainingError(f"{path} is a run of another architecture (backbone {state['config'].get('backbone')})")
    if state["seed"] != seed:
        raise TrainingError(f"{path} was started with seed {state['seed']}, not {seed}")
    if len(state["rng"]) != procs.world:
        raise TrainingError(f"{path} was written by {len(state['rng'])} process(es); resume it with as many")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"][procs.rank])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), float(state["best"])


def _saved_step(path: Path) -> int:
    if not path.is_file():
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


class _Log:
    """``log.csv`` (rows after the resumed step are dropped) and TensorBoard when installed."""

    def __init__(self, out: Path, start: int, resume: bool) -> None:
        self.path = out / "log.csv"
        rows = []
        if resume and self.path.is_file():
            with self.path.open(newline="") as file:
                rows = [r for r in csv.DictReader(file) if int(r["step"]) <= start]
        self.file = self.path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, LOG_COLUMNS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.board = None
        else:
            self.board = SummaryWriter(str(out / "tensorboard"), purge_step=start + 1 if resume else None)

    def write(self, row: Mapping[str, float]) -> None:
        self.writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        self.file.flush()
        if self.board is not None:
            for key, value in row.items():
                if key != "step":
                    self.board.add_scalar(key, value, int(row["step"]))

    def close(self) -> None:
        self.file.close()
        if self.board is not None:
            self.board.close()
