"""The machine a measurement holds for (:mod:`smm.inference.machine`): /proc/cpuinfo read as x86 and ARM write
it, the line every benchmark starts with, and the key that says when ``auto``'s choice is to be measured again."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import torch

import smm
from smm.inference import machine

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t:  AMD EPYC 7B13\t
flags\t\t: fpu sse2 avx2 fma
bugs\t\t: sysret_ss_attrs

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx2 fma
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd asimddp sve
CPU implementer\t: 0x41
"""


class _Proc:
    """``Path`` for :mod:`smm.inference.machine` with a /proc/cpuinfo of the test's (None: unreadable)."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def __call__(self, path: str) -> _Proc:
        assert path == "/proc/cpuinfo"
        return self

    def read_text(self) -> str:
        if self.text is None:
            raise PermissionError("/proc/cpuinfo")
        return self.text


@pytest.fixture
def cpuinfo(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Proc]:
    proc = _Proc(X86)
    monkeypatch.setattr(machine, "Path", proc)
    machine.cpu_flags.cache_clear()
    yield proc
    machine.cpu_flags.cache_clear()


def test_flags_and_model_come_from_cpuinfo_as_x86_and_arm_write_it(
    cpuinfo: _Proc, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert machine.cpu_flags() == frozenset({"fpu", "sse2", "avx2", "fma"})  # the first processor's line
    assert machine.cpu_model() == "AMD EPYC 7B13"  # stripped
    cpuinfo.text = "model name\t: Common KVM processor: QEMU: 2 cores\nflags\t: sse2\n"
    assert machine.cpu_model() == "Common KVM processor: QEMU: 2 cores"  # a name may hold colons
    cpuinfo.text = ARM
    machine.cpu_flags.cache_clear()
    assert machine.cpu_flags() == frozenset({"fp", "asimd", "asimddp", "sve"})
    monkeypatch.setattr(machine.platform, "processor", lambda: "aarch64")
    assert machine.cpu_model() == "aarch64"  # no "model name": the platform's word
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    assert machine.cpu_model() == "unknown CPU"
    cpuinfo.text = "processor\t: 0\n"
    machine.cpu_flags.cache_clear()
    assert machine.cpu_flags() == frozenset()  # no flags line
    cpuinfo.text = None
    machine.cpu_flags.cache_clear()
    assert machine.cpu_flags() == frozenset()  # unreadable
    assert machine.cpu_model() == "unknown CPU"
    monkeypatch.setattr(machine.platform, "processor", lambda: "x86_64")
    assert machine.cpu_model() == "x86_64"


def test_the_flags_are_read_once(cpuinfo: _Proc) -> None:
    assert "avx2" in machine.cpu_flags()
    cpuinfo.text = ARM
    assert "avx2" in machine.cpu_flags()  # cached for the process


def test_the_benchmark_line_names_the_cpu_its_bf16_units_threads_torch_and_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(machine, "cpu_model", lambda: "Intel(R) Xeon(R) Platinum 8481C")
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16", "amx_bf16"}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    threads = torch.get_num_threads()
    assert machine.describe_machine() == (
        f"Intel(R) Xeon(R) Platinum 8481C (amx_bf16, avx512_bf16), {threads} threads, torch {torch.__version__}"
    )
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *device: "NVIDIA H100 80GB HBM3")
    assert machine.describe_machine() == (
        f"Intel(R) Xeon(R) Platinum 8481C (no bf16 units), {threads} threads, torch {torch.__version__}; "
        "GPU NVIDIA H100 80GB HBM3"
    )


def test_the_machine_key_holds_what_a_speed_depends_on(monkeypatch: pytest.MonkeyPatch) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    monkeypatch.setattr(machine, "cpu_model", lambda: "AMD EPYC 7B13")
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"sse2", "avx2", "fma"}))
    key = machine.machine_key()
    assert key == {
        "cpu": "AMD EPYC 7B13",
        "flags": ["avx2", "fma", "sse2"],  # sorted: JSON-able and stable
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "gpu": None,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "smm": smm.__version__,
    }
    assert machine.machine_key(torch.device("cpu")) == key
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"GPU {device.index}")
    on_gpu = machine.machine_key("cuda:1")
    assert (on_gpu["device"], on_gpu["gpu"]) == ("cuda", "GPU 1")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed: import fails
    assert machine.machine_key()["onnxruntime"] is None
