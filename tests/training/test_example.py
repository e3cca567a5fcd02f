"""The training example runs end to end on a tiny generated dataset (single process and torchrun)."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import smm
from smm.models.builder import load_checkpoint
from tests.processes import run, torchrun

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--demo-videos", "3", "--demo-frames", "10", "--image-size", "64", "--batch-size", "4", "--epochs", "1"]


def _train_main():
    return runpy.run_path(str(ROOT / "examples" / "train.py"))["main"]


def test_example_trains_and_saves_a_loadable_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _train_main()([*TINY, "--max-steps", "2", "--out", str(tmp_path / "run")])
    assert set(results) == {"before", "after"}
    assert all(0 <= s.p_au <= 1 for s in results.values())
    output = capsys.readouterr().out
    assert "validation before training" in output
    assert "validation after training" in output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["backbone"] == "resnet18"
    assert config["config"]["input_size"] == [3, 64, 64]
    assert config["card"]["metrics"]["epoch"] == 1
    model = load_checkpoint(tmp_path / "run")  # the folder the trainer prints
    assert model.data_config["input_size"] == (3, 64, 64)
    card = (tmp_path / "run" / "README.md").read_text()
    assert "training data: synthetic demo data" in card
    assert f'"p_mtl": {results["after"].p_mtl}' in card
    assert "input: 64x64" in card
    assert model.au_names == smm.ABAW3.au_names
    torch.testing.assert_close(
        model.state_dict()["sign_vehicle.au_bias"],
        load_file(tmp_path / "run" / "model.safetensors")["sign_vehicle.au_bias"],
    )


def test_example_with_adamw_and_amp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dtypes = []
    autocast = torch.autocast

    class Recording(autocast):  # records the dtype of every autocast region the script opens
        def __init__(self, device_type: str, dtype: torch.dtype | None = None, **kwargs) -> None:
            dtypes.append(dtype)
            super().__init__(device_type, dtype=dtype, **kwargs)

    monkeypatch.setattr(torch, "autocast", Recording)
    start = tmp_path / "start"
    _train_main()([*TINY, "--max-steps", "0", "--optimizer", "adamw", "--amp", "--out", str(start)])
    results = _train_main()(
        [*TINY, "--max-steps", "1", "--optimizer", "adamw", "--amp", "--out", str(tmp_path / "one")]
    )
    assert torch.isfinite(torch.tensor(results["after"].p_mtl))
    assert dtypes
    assert set(dtypes) == {torch.bfloat16}  # --amp on a CPU: bf16 autocast, in training and validation
    # AdamW's first step moves each weight by lr * sign(gradient), plus the decay lr * 0.01 * w (its closed form).
    before = load_file(start / "model.safetensors")["sign_vehicle.au_weight"]
    after = load_file(tmp_path / "one" / "model.safetensors")["sign_vehicle.au_weight"]
    step = (after - before + 1e-3 * 0.01 * before).abs()
    assert step.numel() > 100
    assert ((step - 1e-3).abs() < 1e-5).float().mean() > 0.95


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available here")
def test_example_under_torchrun_matches_single_process_metrics(tmp_path: Path) -> None:
    # Evaluation only (0 steps): both runs score the same untrained model on the same data,
    # so metrics gathered across 2 ranks must equal the single-process ones.
    args = [*TINY, "--max-steps", "0", "--out", str(tmp_path / "ddp")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "examples" / "train.py")
    ddp = run([*torchrun(), script, *args], env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = _train_main()([*TINY, "--max-steps", "0", "--out", str(tmp_path / "single")])
    line = next(line for line in ddp.stdout.splitlines() if line.startswith("validation before training"))
    p_mtl = float(line.rsplit("P_MTL", 1)[1])
    assert p_mtl == pytest.approx(single["before"].p_mtl, abs=2e-3)
    assert "2 process(es)" in ddp.stdout
