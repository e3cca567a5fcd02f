"""Losses of SMM-EmotionNet (paper, Section 3.2), as pure functions.

Missing labels are ignored, never turned into NaN. Aff-Wild2 marks them with
``-1`` for AUs and expressions and ``-5`` for valence/arousal; an explicit boolean
``mask`` (``True`` = labelled) may be given as well. A batch in which every label of
a task is missing gives a loss of exactly zero that still has a (zero) gradient.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from smm._checks import check_choice, check_ndim, check_same_shape, tracing
from smm.formats.codes import MISSING_LABEL, MISSING_VA
from smm.models.config import ABAW3_AU_POS_WEIGHT, ABAW3_EXPRESSION_WEIGHT

_REDUCTIONS = ("mean", "sum", "none")


def _valid(targets: torch.Tensor, missing: float, mask: torch.Tensor | None, name: str) -> torch.Tensor:
    valid = targets != missing
    if mask is not None:
        if not tracing():
            check_same_shape(mask, "mask", targets, name)
        valid = valid & mask.bool()
    return valid


def _safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` where ``den > 0``, else 0, with finite gradients everywhere."""
    positive = den > 0
    return torch.where(positive, num / torch.where(positive, den, torch.ones_like(den)), torch.zeros_like(num))


def _reduce(loss: torch.Tensor, weight: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else _safe_divide(total, weight.sum())


def weighted_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    *,
    mask: torch.Tensor | None = None,
    missing: int = MISSING_LABEL,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """Weighted binary cross-entropy for action units (Eq. 4).

    ``-[p_h y log s(x) + (1 - y) log(1 - s(x))]`` per labelled entry, averaged over
    the labelled entries of the batch.

    Parameters
    ----------
    logits : Tensor[B, H]
        AU logits.
    targets : Tensor[B, H]
        0, 1 or ``missing``.
    pos_weight : Tensor[H], optional
        Weight of the positive term per AU: negatives / positives in the training set.
    mask : Tensor[B, H] of bool, optional
        ``False`` marks further entries to ignore.
    missing : int, default -1
        Code of a missing label.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns ``(B, H)`` with zeros at ignored entries.

    Returns
    -------
    Tensor
        Scalar, or ``(B, H)`` for ``reduction="none"``.
    """
    if not tracing():
        check_choice(reduction, "reduction", _REDUCTIONS)
        check_ndim(logits, "logits", "B H")
        check_same_shape(targets, "targets", logits, "logits")
        allowed = (targets == 0) | (targets == 1) | (targets == missing)
        if not bool(allowed.all()):
            bad = torch.unique(targets[~allowed])[:5].tolist()
            raise ValueError(f"targets must be 0, 1 or {missing} (missing), got values {bad}")
        if pos_weight is not None and pos_weight.shape != logits.shape[-1:]:
            raise ValueError(f"pos_weight must have shape ({logits.shape[-1]},), got {tuple(pos_weight.shape)}")
    valid = _valid(targets, missing, mask, "targets")
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets)).to(logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, safe_targets, pos_weight=pos_weight, reduction="none")
    loss = loss * valid
    return _reduce(loss, valid.to(loss.dtype), reduction)


def weighted_ce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None = None,
    *,
    mask: torch.Tensor | None = None,
    missing: int = MISSING_LABEL,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """Class-weighted cross-entropy for expressions (Eq. 5).

    With ``reduction="mean"`` the weighted losses are divided by the sum of the
    weights of the labelled samples' classes, as :func:`torch.nn.functional.cross_entropy`
    (and the published code) does.

    Parameters
    ----------
    logits : Tensor[B, K]
        Expression logits.
    targets : Tensor[B] of int
        Class index in ``[0, K)`` or ``missing``.
    weight : Tensor[K], optional
        Per-class re-weighting factor.
    mask : Tensor[B] of bool, optional
        ``False`` marks further samples to ignore.
    missing : int, default -1
        Code of a missing label.
    reduction : {"mean", "sum", "none"}, default "mean"
        ``"none"`` returns ``(B,)`` with zeros at ignored samples.

    Returns
    -------
    Tensor
        Scalar, or ``(B,)`` for ``reduction="none"``.
    """
    if not tracing():
        check_choice(reduction, "reduction", _REDUCTIONS)
        check_ndim(logits, "logits", "B K")
        check_ndim(targets, "targets", "B")
        if targets.shape[0] != logits.shape[0]:
            raise ValueError(
                f"targets must have {logits.shape[0]} entries (the batch of logits), got {targets.shape[0]}"
            )
        if targets.is_floating_point():
            raise TypeError(f"targets must hold integer class indices, got dtype {targets.dtype}")
        num_classes = logits.shape[1]
        allowed = ((targets >= 0) & (targets < num_classes)) | (targets == missing)
        if not bool(allowed.all()):
            bad = torch.unique(targets[~allowed])[:5].tolist()
            raise ValueError(f"targets must be class indices in [0, {num_classes}) or {missing} (missing), got {bad}")
        if weight is not None and weight.shape != (num_classes,):
            raise ValueError(f"weight must have shape ({num_classes},), got {tuple(weight.shape)}")
    valid = _valid(targets, missing, mask, "targets")
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets)).long()
    loss = F.cross_entropy(logits, safe_targets, reduction="none")
    sample_weight = valid.to(loss.dtype)
    if weight is not None:
        sample_weight = sample_weight * weight.to(loss.dtype)[safe_targets]
    return _reduce(loss * sample_weight, sample_weight, reduction)


def ccc(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    missing: float = MISSING_VA,
    correction: int = 0,
) -> torch.Tensor:
    """Concordance correlation coefficient per output dimension.

    ``CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)``, over the samples
    whose target is labelled.

    Parameters
    ----------
    pred : Tensor[N] or Tensor[N, V]
        Predictions.
    target : Tensor, same shape as ``pred``
        Labels; entries equal to ``missing`` are ignored.
    mask : Tensor of bool, same shape, optional
        ``False`` marks further entries to ignore.
    missing : float, default -5
        Code of a missing label.
    correction : int, default 0
        0 uses population statistics, like the ABAW challenge metric; 1 uses
        unbiased variances and covariance, like the published training loss.

    Returns
    -------
    Tensor[] or Tensor[V]
        CCC in [-1, 1] per dimension; 0 where it is undefined (fewer than
        ``correction + 1`` labelled samples, or both inputs constant).
    """
    if not tracing():
        check_same_shape(pred, "pred", target, "target")
        if pred.ndim not in (1, 2):
            raise ValueError(f"pred must be a 1-D (N,) or 2-D (N, V) tensor, got shape {tuple(pred.shape)}")
    valid = _valid(target, missing, mask, "target")
    dtype = torch.promote_types(pred.dtype, torch.float32)  # float32 at least, float64 kept
    weight = valid.to(dtype)
    x = pred.to(dtype) * weight
    y = torch.where(valid, target, torch.zeros_like(target)).to(dtype)
    n = weight.sum(0)
    mean_x = _safe_divide(x.sum(0), n)
    mean_y = _safe_divide(y.sum(0), n)
    dx = (x - mean_x) * weight
    dy = (y - mean_y) * weight
    dof = n - correction
    var_x = _safe_divide((dx * dx).sum(0), dof)
    var_y = _safe_divide((dy * dy).sum(0), dof)
    cov = _safe_divide((dx * dy).sum(0), dof)
    den = torch.where(dof > 0, var_x + var_y + (mean_x - mean_y) ** 2, torch.zeros_like(n))
    return _safe_divide(2.0 * cov, den)


def ccc_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    missing: float = MISSING_VA,
    correction: int = 0,
) -> torch.Tensor:
    """Valence/arousal loss (Eq. 6): ``sum over dimensions of (1 - CCC)``.

    Dimensions with no labelled sample contribute 0. Arguments as in :func:`ccc`.

    Returns
    -------
    Tensor[]
        Scalar in [0, 2V].
    """
    value = ccc(pred, target, mask=mask, missing=missing, correction=correction)
    valid = _valid(target, missing, mask, "target")
    labelled = valid.any(0).to(value.dtype)
    return ((1.0 - value) * labelled).sum()


class MultiTaskLossOutput(NamedTuple):
    """The total loss (Eq. 7) and its three terms, each a scalar tensor."""

    total: torch.Tensor
    au: torch.Tensor
    expr: torch.Tensor
    va: torch.Tensor


def multitask_loss(
    au_logits: torch.Tensor,
    au_targets: torch.Tensor,
    expr_logits: torch.Tensor,
    expr_targets: torch.Tensor,
    va_pred: torch.Tensor,
    va_targets: torch.Tensor,
    *,
    au_pos_weight: torch.Tensor | None = None,
    expr_weight: torch.Tensor | None = None,
    va_correction: int = 0,
) -> MultiTaskLossOutput:
    """Unweighted sum of the three task losses (Eq. 7).

    Samples may be labelled for any subset of tasks: missing labels (``-1`` AU/EXPR,
    ``-5`` VA) drop out of their task's term.

    Parameters
    ----------
    au_logits : Tensor[B, H]
        See :func:`weighted_bce`.
    au_targets : Tensor[B, H]
        See :func:`weighted_bce`.
    expr_logits : Tensor[B, K]
    expr_targets : Tensor[B]
        See :func:`weighted_ce`.
    va_pred : Tensor[B, V]
        See :func:`ccc_loss`.
    va_targets : Tensor[B, V]
        See :func:`ccc_loss`.
    au_pos_weight : Tensor[H], optional
    expr_weight : Tensor[K], optional
    va_correction : int, default 0
        Passed to :func:`ccc_loss` (1 reproduces the published training loss).

    Returns
    -------
    MultiTaskLossOutput
    """
    au = weighted_bce(au_logits, au_targets, au_pos_weight)
    expr = weighted_ce(expr_logits, expr_targets, expr_weight)
    va = ccc_loss(va_pred, va_targets, correction=va_correction)
    return MultiTaskLossOutput(au + expr + va, au, expr, va)


class MultiTaskLoss(nn.Module):
    """Module form of :func:`multitask_loss` that keeps the class weights as buffers.

    Parameters
    ----------
    au_pos_weight : sequence of float or Tensor[H], optional
    expr_weight : sequence of float or Tensor[K], optional
    va_correction : int, default 0

    Examples
    --------
    >>> criterion = MultiTaskLoss.abaw3()
    >>> # loss = criterion(model(images), au_targets, expr_targets, va_targets).total
    """

    au_pos_weight: torch.Tensor | None
    expr_weight: torch.Tensor | None

    def __init__(
        self,
        au_pos_weight: torch.Tensor | list[float] | tuple[float, ...] | None = None,
        expr_weight: torch.Tensor | list[float] | tuple[float, ...] | None = None,
        *,
        va_correction: int = 0,
    ) -> None:
        super().__init__()
        self.va_correction = va_correction
        self.register_buffer(
            "au_pos_weight", None if au_pos_weight is None else torch.as_tensor(au_pos_weight, dtype=torch.float32)
        )
        self.register_buffer(
            "expr_weight", None if expr_weight is None else torch.as_tensor(expr_weight, dtype=torch.float32)
        )

    @classmethod
    def abaw3(cls, *, va_correction: int = 1) -> MultiTaskLoss:
        """The published ABAW3 training loss: its pos_weight and class weights (see :mod:`smm.models.config`,
        computed on the training and validation annotations together) and its CCC with unbiased
        statistics (``va_correction=1``; 0 gives the challenge metric's population statistics)."""
        return cls(ABAW3_AU_POS_WEIGHT, ABAW3_EXPRESSION_WEIGHT, va_correction=va_correction)

    def forward(
        self,
        output: NamedTuple,
        au_targets: torch.Tensor,
        expr_targets: torch.Tensor,
        va_targets: torch.Tensor,
    ) -> MultiTaskLossOutput:
        """Loss of a model output with ``au``, ``expr`` and ``va`` fields (e.g. :class:`~smm.SMMOutput`)."""
        return multitask_loss(
            output.au,  # type: ignore[attr-defined]
            au_targets,
            output.expr,  # type: ignore[attr-defined]
            expr_targets,
            output.va,  # type: ignore[attr-defined]
            va_targets,
            au_pos_weight=self.au_pos_weight,
            expr_weight=self.expr_weight,
            va_correction=self.va_correction,
        )
