"""Commands run as a user runs them: in a child process, or in two under torchrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest


def torchrun(processes: int = 2) -> list[str]:
    """torchrun's command for ``processes`` processes on this machine; skips the test without torchrun.

    ``--standalone`` has torchrun pick a free port itself, so two test runs on one machine
    never meet on a fixed one.
    """
    path = Path(sys.executable).with_name("torchrun")
    if not path.exists():
        pytest.skip("torchrun not found next to the Python interpreter")
    return [str(path), "--standalone", f"--nproc_per_node={processes}"]


def run(command: Sequence[str], env: Mapping[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``command``'s exit status and outputs as text, carriage returns kept (``text=True`` makes them line ends)."""
    done = subprocess.run(list(command), env=dict(env), capture_output=True, timeout=timeout, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


#: The checkout: child processes import smm from here.
ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: one thread, this checkout's smm, and the eager engine (as in the tests)."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "SMM_EMOTIONNET_ENGINE": "eager",
        **extra,
    }


def run_outputs(out: Path) -> dict[str, bytes]:
    """Every file of a run's output folder, by relative path, its record (``.smm-run``) aside."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".smm-run" not in p.parts
    }


def kill_when(command: Sequence[str], env: Mapping[str, str], ready: Path, timeout: float = 300) -> None:
    """Start ``command`` and SIGKILL it as soon as the folder ``ready`` holds a file (fails if it ended before)."""
    child = subprocess.Popen(list(command), env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while (not ready.is_dir() or not any(ready.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
