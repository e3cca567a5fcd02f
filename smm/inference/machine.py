"""The machine a model runs on: CPU model and feature flags, threads, library versions, GPU.

Two uses: :func:`describe_machine`, the line every benchmark table starts with, and
:func:`machine_key`, which says when a measurement made on this machine (the engine that
``engine="auto"`` picked, :mod:`smm.inference.engines`) still holds.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Any

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
#: x86 flags of instructions that add uint8 x int8 products in 32 bits (VNNI, AMX-INT8); without
#: them ONNX Runtime's int8 kernels add pairs of products in 16 bits, which can saturate.
INT8_DOT_CPU_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


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


def cpu_int8_saturates(flags: frozenset[str] | None = None) -> bool:
    """Whether ONNX Runtime's uint8 x int8 products can saturate here: an x86 CPU without VNNI.

    Such CPUs (AVX2, or AVX512 without VNNI) add each pair of products in a 16-bit register,
    where two large products overflow; the int8 graph then quantises its weights to 7 bits
    (ONNX Runtime's ``reduce_range``), which keeps every pair in range. Measured on a 2-core
    AMD EPYC with AVX2 only, with the demo's trained model: AU decisions agreed with fp32 on
    95.7% of the gate's faces at 8 bits and on 99.2% at 7, at the same speed. CPUs with VNNI or
    AMX-INT8, and non-x86 CPUs, keep 8 bits.
    """
    flags = cpu_flags() if flags is None else flags
    return "sse2" in flags and not any(flag in flags for flag in INT8_DOT_CPU_FLAGS)


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine() -> str:
    """One line for benchmark tables: CPU model and bf16 flags, threads, torch, GPU."""
    import torch

    cpu = cpu_model()
    flags = [f for f in BF16_CPU_FLAGS if f in cpu_flags()] or ["no bf16 units"]
    gpu = f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu} ({', '.join(flags)}), {torch.get_num_threads()} threads, torch {torch.__version__}{gpu}"


def machine_key(device: Any = "cpu") -> dict[str, Any]:
    """What a speed measurement on ``device`` depends on: CPU (model, flags, threads), GPU, library versions.

    Returns
    -------
    dict
        JSON-able; two measurements may be compared (or one reused) only when these are equal.
    """
    import torch

    from smm._version import __version__

    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    device = torch.device(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "cpu": cpu_model(),
        "flags": sorted(cpu_flags()),
        "threads": torch.get_num_threads(),
        "device": device.type,
        "gpu": gpu,
        "torch": torch.__version__,
        "onnxruntime": ort,
        "smm": __version__,
    }


__all__ = [
    "BF16_CPU_FLAGS",
    "INT8_DOT_CPU_FLAGS",
    "cpu_flags",
    "cpu_int8_saturates",
    "cpu_model",
    "cpu_supports_bf16",
    "describe_machine",
    "machine_key",
]
