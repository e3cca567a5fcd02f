"""Message space: expressions and valence/arousal from a consensus of regions (Figure 1, part III)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from smm._checks import check_choice, check_dim, check_ndim, check_positive, tracing
from smm._init import uniform_fan_in_

REDUCTIONS = ("features", "logits", "none")


class MessageOutput(NamedTuple):
    """What :class:`MessageSpaceHead` returns.

    With ``reduction="features"`` or ``"logits"`` the shapes are ``expr (B, K)``,
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
    reduction : {"features", "logits", "none"}, default "features"
        Average the message vectors then classify; classify each region then
        average; or return every region's outputs ("votes") unreduced.
    bias : bool, default True
        Bias in the expression and VA layers (the published code has one; the
        paper's text has none).

    Shape
    -----
    - Input ``f``: ``(B, U, D)``
    - Output: :class:`MessageOutput`.
    """

    def __init__(
        self,
        dim: int,
        num_regions: int,
        num_classes: int = 8,
        va_dim: int = 2,
        *,
        reduction: Literal["features", "logits", "none"] = "features",
        bias: bool = True,
    ) -> None:
        super().__init__()
        for value, name in (
            (dim, "dim"),
            (num_regions, "num_regions"),
            (num_classes, "num_classes"),
            (va_dim, "va_dim"),
        ):
            check_positive(value, name)
        check_choice(reduction, "reduction", REDUCTIONS)
        self.dim = dim
        self.num_regions = num_regions
        self.reduction = reduction
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

    def forward(self, f: torch.Tensor, reduction: Literal["features", "logits", "none"] | None = None) -> MessageOutput:
        """Compute expression logits, VA and the message vector.

        Parameters
        ----------
        f : Tensor[B, U, D]
            Region features.
        reduction : str, optional
            Overrides the module's ``reduction`` for this call.

        Returns
        -------
        MessageOutput
        """
        reduction = self.reduction if reduction is None else reduction
        if not tracing():
            check_choice(reduction, "reduction", REDUCTIONS)
            check_ndim(f, "f", "B U D")
            check_dim(f, "f", 1, self.num_regions, "regions")
            check_dim(f, "f", 2, self.dim, "features")
        per_region = self.project(f)
        if reduction == "features":
            message = per_region.mean(dim=1)
            return MessageOutput(*self.classify(message), message)
        expr, va = self.classify(per_region)
        if reduction == "logits":
            return MessageOutput(expr.mean(dim=1), va.mean(dim=1), per_region.mean(dim=1))
        return MessageOutput(expr, va, per_region)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_regions={self.num_regions}, reduction={self.reduction!r}"
