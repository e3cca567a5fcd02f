"""Precision and devices: which autocast dtype and memory layout a model runs with, and where.

``precision="auto"`` resolves to bf16 autocast on CPUs with bf16 units (AMX-BF16 or
AVX512-BF16, :func:`smm.inference.machine.cpu_supports_bf16`) and on CUDA devices that
support bf16, and to fp32 everywhere else, so a CPU without bf16 units keeps today's numbers
and speed. On x86 CPUs with AVX2 or better, and with bf16 on any CPU, the model also runs
``channels_last`` (:func:`use_channels_last`), which oneDNN's convolutions need to be fast.

The library resolves a precision in one place, :func:`smm.inference.engines.precision_setup`
(the engines, the trainer and validation all call it); this module holds the rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smm.defaults import PRECISIONS
from smm.inference.machine import cpu_supports_bf16

if TYPE_CHECKING:  # torch is imported where it is used, so the command line's --help stays fast
    import torch
    from torch import nn


def resolve_precision(precision: str, device: torch.device | str, *, flags: frozenset[str] | None = None) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"`` for ``precision`` on ``device`` (``"auto"`` decides; see the module).

    Raises
    ------
    ValueError
        For an unknown precision, or fp16 on a CPU.
    """
    import torch

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
    import torch

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
    import torch

    if torch.device(device).type != "cpu":
        return False
    return precision == "bf16" or torch.backends.cpu.get_cpu_capability() in CHANNELS_LAST_CAPABILITIES


@dataclass(frozen=True)
class Precision:
    """The one precision set-up of prediction and training: resolved once, then applied the same way.

    Build it with :meth:`resolve`; then run the model under :meth:`autocast` on inputs passed
    through :meth:`inputs`. The trainer also converts its own model with :meth:`prepare_model`.

    Attributes
    ----------
    name : {"fp32", "bf16", "fp16"}
        The resolved precision.
    device : torch.device
    channels_last : bool
        Whether images (and the trainer's model) use the ``channels_last`` memory format
        (:func:`use_channels_last`).
    """

    name: str
    device: torch.device
    channels_last: bool

    @classmethod
    def resolve(
        cls,
        precision: str | Precision | torch.dtype | None,
        device: torch.device | str,
        *,
        flags: frozenset[str] | None = None,
    ) -> Precision:
        """Resolve ``precision`` for ``device``.

        Parameters
        ----------
        precision : {"auto", "fp32", "bf16", "fp16"}, Precision, torch.dtype or None
            A name, an autocast dtype (``torch.bfloat16``), or ``None`` for fp32. A
            :class:`Precision` passes through unchanged when it is for the same device type.
        device : torch.device or str
        flags : frozenset of str, optional
            CPU flags to decide ``"auto"`` by (default: this machine's).

        Raises
        ------
        ValueError
            For an unknown precision or dtype, or fp16 on a CPU (:func:`resolve_precision`).
        """
        import torch

        device = torch.device(device)
        if isinstance(precision, Precision) and precision.device.type == device.type:
            return precision
        name = resolve_precision(_precision_name(precision), device, flags=flags)
        return cls(name, device, use_channels_last(name, device))

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (``None`` for fp32)."""
        return autocast_dtype(self.name)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """``torch.autocast`` on the device's type with :attr:`dtype`; a no-op for fp32."""
        import torch

        dtype = self.dtype
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            yield

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (Tensor[B, C, H, W]) on the device, in the memory format the model runs fastest with."""
        import torch

        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Convert ``model``'s weights to ``channels_last`` where that is faster (in place; for a model you own)."""
        import torch

        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def __str__(self) -> str:
        return f"{self.name}{', channels_last' if self.channels_last else ''}"


def _precision_name(precision: str | Precision | torch.dtype | None) -> str:
    import torch

    if precision is None:
        return "fp32"
    if isinstance(precision, Precision):
        return precision.name
    if isinstance(precision, torch.dtype):
        names = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        if precision not in names:
            raise ValueError(f"precision must be float32, bfloat16 or float16 as a dtype, got {precision}")
        return names[precision]
    return precision


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device ``device`` names, checked to exist on this machine.

    ``"auto"``: the current CUDA device where CUDA is available, else the CPU. ``"cuda"``
    without an index is the current CUDA device.

    Raises
    ------
    ValueError
        For a name torch does not know, or a device this machine does not have (a CUDA device
        on a machine or a torch build without CUDA, an index beyond the GPUs there are, MPS
        off Apple silicon), saying what there is instead.
    """
    import torch

    if isinstance(device, str) and device == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or another torch device, got {device!r}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA device is visible"
            raise ValueError(f"device {str(device)!r}: CUDA is not available here ({build}); use cpu")
        index = torch.cuda.current_device() if resolved.index is None else resolved.index
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(device)!r}: there are {torch.cuda.device_count()} CUDA device(s), numbered from 0"
            )
        return torch.device("cuda", index)
    if resolved.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(device)!r}: MPS is not available here; use cpu")
    return resolved


__all__ = [
    "CHANNELS_LAST_CAPABILITIES",
    "Precision",
    "autocast_dtype",
    "resolve_device",
    "resolve_precision",
    "use_channels_last",
]
