"""Which precision and memory layout run fastest and safely on this machine.

``precision="auto"`` resolves to bf16 autocast on CPUs with bf16 units (AMX-BF16 or
AVX512-BF16) and on CUDA devices that support bf16, and to fp32 everywhere else, so a CPU
without bf16 units keeps today's numbers and speed. On x86 CPUs with AVX2 or better, and with
bf16 on any CPU, the model also runs ``channels_last`` (:func:`use_channels_last`), which
oneDNN's convolutions need to be fast.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty where that is not available)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_supports_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU has bf16 arithmetic units (AMX-BF16 or AVX512-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(precision: str, device: torch.device | str, *, flags: frozenset[str] | None = None) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``precision`` on ``device`` (``"auto"`` decides; see the module).

    Raises
    ------
    ValueError
        For an unknown precision, or fp16 on a CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' needs a CUDA device; use 'bf16' or 'auto' on a CPU")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_supports_bf16(flags) else "fp32"
    return "fp32"


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (``None`` for fp32)."""
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


#: x86 vector capabilities (``torch.backends.cpu.get_cpu_capability()``) on which channels_last was measured faster.
CHANNELS_LAST_CAPABILITIES = ("AVX2", "AVX512", "AVX512_BF16", "AMX")


def use_channels_last(precision: str, device: torch.device | str) -> bool:
    """Whether to run the model on ``channels_last`` images: on a CPU with bf16, AVX512 or AVX2.

    Measured with the full ABAW3 model at batch 8 on an AVX512-BF16 CPU: fp32 eval 1.35x and
    bf16 eval 1.55x faster than with NCHW input; with oneDNN and ATen limited to AVX2
    (``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``) fp32 eval 1.34x and a fp32 training
    step 1.14x. Other CPUs (ARM, x86 without AVX2) keep NCHW: not measured there.
    """
    if torch.device(device).type != "cpu":
        return False
    return precision == "bf16" or torch.backends.cpu.get_cpu_capability() in CHANNELS_LAST_CAPABILITIES


def describe_machine() -> str:
    """One line for benchmark tables: CPU model and bf16 flags, threads, torch, GPU."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = [f for f in BF16_CPU_FLAGS if f in cpu_flags()] or ["no bf16 units"]
    gpu = f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu} ({', '.join(flags)}), {torch.get_num_threads()} threads, torch {torch.__version__}{gpu}"
