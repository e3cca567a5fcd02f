"""Commands run as a user runs them: in a child process, or in two under torchrun."""

from __future__ import annotations

import subprocess
import sys
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
