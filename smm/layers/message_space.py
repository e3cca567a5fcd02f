"""Message space: expressions and valence/arousal from a consensus of regions (Figure 1, part III)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from smm._checks import check_choice, check_dim, check_ndim, check_positive, tracing
from smm._compat import warn_renamed
from smm.layers.init import uniform_fan_in_

AVERAGES = ("features", "logits", "none")
Average = Literal["features", "logits", "none"]


class MessageSpaceOutput(NamedTuple):
    """What :class:`MessageSpaceHead` returns.

    With ``average="features"`` or ``"logits"`` the shapes are ``expr (B, K)``,
    ``va (B, V)``, ``message (B, D)``; with ``"none"`` every field keeps the region
    axis: ``(B, U, K)``, ``(B, U, V)``, ``(B, U, D)``.

    Attributes
    ----------
    expr : Tensor
        Expression logits; ``softmax(expr, -1)`` are probabilities.
    va : Tensor
        Valence and arousal, raw linear outputs (not squashed to [-1, 1]).
    message : Tensor
        The message vector (mean over regions of ``M_u``), or the per-region ``M_u``.
    """

    expr: torch.Tensor
    va: torch.Tensor
    message: torch.Tensor


class MessageSpaceHead(nn.Module):
    """Project every region into the shared message space and read the messages.

    Region ``u`` is mapped by its own matrix, ``M_u = A_u f_u`` (no bias). The
    consensus is the mean over regions; linear layers read the expression logits
    and valence/arousal from it. Because those layers are linear, averaging the
    features (the paper's choice) equals averaging each region's outputs.

    Parameters
    ----------
    dim : int
        D, size of region features and of the message space.
    num_regions : int
        U, number of regions.
    num_classes : int, default 8
        K, expression classes.
    va_dim : int, default 2
        V, continuous outputs (valence, arousal).
    average : {"features", "logits", "none"}, default "features"
        Average the message vectors then classify; classify each region then
        average; or return every region's outputs ("votes") without averaging.
    bias : bool, default True
        Bias in the expression and VA layers (the published code has one; the
        paper's text has none).

    Shape
    -----
    - Input ``f``: ``(B, U, D)``
    - Output: :class:`MessageSpaceOutput`.
    """

    def __init__(
        self,
        dim: int,
        num_regions: int,
        num_classes: int = 8,
        va_dim: int = 2,
        *,
        average: Average = "features",
        bias: bool = True,
        reduction: Average | None = None,
    ) -> None:
        super().__init__()
        if reduction is not None:
            warn_renamed("MessageSpaceHead(reduction=...)", "average=")
            average = reduction
        for value, name in (
            (dim, "dim"),
            (num_regions, "num_regions"),
            (num_classes, "num_classes"),
            (va_dim, "va_dim"),
        ):
            check_positive(value, name)
        check_choice(average, "average", AVERAGES)
        self.dim = dim
        self.num_regions = num_regions
        self.average = average
        self.transforms = nn.Parameter(torch.empty(num_regions, dim, dim))
        uniform_fan_in_(self.transforms, dim)
        self.expr = nn.Linear(dim, num_classes, bias=bias)
        self.va = nn.Linear(dim, va_dim, bias=bias)

    def project(self, f: torch.Tensor) -> torch.Tensor:
        """Map each region into the message space, ``M_u = A_u f_u``.

        Parameters
        ----------
        f : Tensor[B, U, D]

        Returns
        -------
        Tensor[B, U, D]
        """
        return torch.einsum("bui,uoi->buo", f, self.transforms)

    def classify(self, message: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Read expression logits and VA from message vectors of any leading shape.

        Parameters
        ----------
        message : Tensor[..., D]

        Returns
        -------
        (Tensor[..., K], Tensor[..., V])
            Expression logits and valence/arousal.
        """
        return self.expr(message), self.va(message)

    def forward(
        self, f: torch.Tensor, average: Average | None = None, *, reduction: Average | None = None
    ) -> MessageSpaceOutput:
        """Compute expression logits, VA and the message vector.

        Parameters
        ----------
        f : Tensor[B, U, D]
            Region features.
        average : {"features", "logits", "none"}, optional
            Overrides the module's ``average`` for this call (``"none"``: per-region votes).
        reduction : str, optional
            Deprecated name of ``average``.

        Returns
        -------
        MessageSpaceOutput
        """
        if reduction is not None:
            warn_renamed("MessageSpaceHead.forward(reduction=...)", "average=")
            average = reduction
        average = self.average if average is None else average
        if not tracing():
            check_choice(average, "average", AVERAGES)
            check_ndim(f, "f", "B U D")
            check_dim(f, "f", 1, self.num_regions, "regions")
            check_dim(f, "f", 2, self.dim, "features")
        per_region = self.project(f)
        if average == "features":
            message = per_region.mean(dim=1)
            return MessageSpaceOutput(*self.classify(message), message)
        expr, va = self.classify(per_region)
        if average == "logits":
            return MessageSpaceOutput(expr.mean(dim=1), va.mean(dim=1), per_region.mean(dim=1))
        return MessageSpaceOutput(expr, va, per_region)

    @property
    def reduction(self) -> str:
        """Deprecated name of ``average``."""
        warn_renamed("MessageSpaceHead.reduction", "MessageSpaceHead.average")
        return self.average

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_regions={self.num_regions}, average={self.average!r}"


def __getattr__(name: str) -> object:
    if name == "MessageOutput":
        warn_renamed("smm.layers.message_space.MessageOutput", "MessageSpaceOutput")
        return MessageSpaceOutput
    if name == "REDUCTIONS":
        warn_renamed("REDUCTIONS", "AVERAGES")
        return AVERAGES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
