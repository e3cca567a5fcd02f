"""Input validation shared by the modules and losses.

Checks raise :class:`ValueError` naming the argument, what was expected and what
arrived. They are skipped while TorchScript, ``torch.jit.trace``, ``torch.compile``
or ``torch.export`` look at the code, so validation never breaks tracing.
"""

from __future__ import annotations

import torch


def tracing() -> bool:
    """Return ``True`` while a compiler or tracer is capturing the code."""
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return True
    return bool(torch.compiler.is_compiling())


def check_ndim(x: torch.Tensor, name: str, layout: str) -> None:
    """Raise if ``x`` is not a tensor whose rank matches ``layout``.

    ``layout`` names the axes separated by spaces, e.g. ``"B C h w"``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape ({layout}), got {type(x).__name__}")
    axes = layout.split()
    if x.ndim != len(axes):
        raise ValueError(
            f"{name} must be a {len(axes)}-D tensor of shape ({', '.join(axes)}), "
            f"got a {x.ndim}-D tensor of shape {tuple(x.shape)}"
        )


def check_dim(x: torch.Tensor, name: str, dim: int, expected: int, what: str) -> None:
    """Raise if ``x.shape[dim] != expected``; ``what`` names that axis."""
    if x.shape[dim] != expected:
        raise ValueError(
            f"{name} must have {expected} {what} (dim {dim}), got {x.shape[dim]} in shape {tuple(x.shape)}"
        )


def check_same_shape(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Raise if two tensors differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    """Raise if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_positive(value: int, name: str) -> None:
    """Raise if ``value`` is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
