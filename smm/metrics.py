"""ABAW3 challenge metrics: functional forms and an accumulator for validation loops.

- AU: F1 of each of the 12 AUs at threshold 0.5, and their mean ``P_AU``.
- EXPR: macro F1 over the 8 expressions, ``P_EXPR``. Every class counts, also one that
  occurs in neither the labels nor the predictions: its F1 is 0, as the challenge defines
  ``P_EXPR`` and as scikit-learn's ``f1_score(labels=range(8), average="macro",
  zero_division=0)`` computes it. The published code validated with scikit-learn's default
  ``f1_score(average="macro")``, which averages only over the classes present in the labels
  or the predictions, so its numbers are higher whenever a class is absent from both.
- VA: CCC of valence and of arousal (population statistics) and their mean ``P_VA``.
- ``P_MTL = P_AU + P_EXPR + P_VA``.

Missing labels (``-1`` AU/EXPR, ``-5`` VA) are excluded per task. F1 is ``0`` where it
is undefined (no positive label and no positive prediction); CCC is ``0`` where it is
undefined (no labelled sample, or both sequences constant).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import torch

from smm._checks import check_choice, check_ndim, check_same_shape
from smm.defaults import THRESHOLD
from smm.formats.codes import MISSING_LABEL, MISSING_VA


class ABAWScores(NamedTuple):
    """The challenge's measures; every field is a float except ``au_f1``."""

    au_f1: tuple[float, ...]
    p_au: float
    p_expr: float
    ccc_valence: float
    ccc_arousal: float
    p_va: float
    p_mtl: float


def _f1_from_counts(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    tp, den = tp.double(), (2 * tp + fp + fn).double()
    return torch.where(den > 0, 2 * tp / den.clamp_min(1), torch.zeros_like(den))


AU_INPUTS = ("logits", "probs", "labels")


def _au_decisions(preds: torch.Tensor, threshold: float, inputs: str) -> torch.Tensor:
    check_choice(inputs, "inputs", AU_INPUTS)
    if inputs == "labels":
        bad = preds[(preds != 0) & (preds != 1)]
        if bad.numel():
            raise ValueError(f"preds must be 0/1 labels with inputs='labels', got {bad.flatten()[0].item()!r}")
        return preds != 0
    if not preds.is_floating_point():
        raise ValueError(
            f"preds must be floating point with inputs={inputs!r}, got dtype {preds.dtype} "
            "(0/1 decisions? pass inputs='labels')"
        )
    if inputs == "probs":
        outside = preds[~((preds >= 0) & (preds <= 1))]
        if outside.numel():
            raise ValueError(
                f"preds must be probabilities in [0, 1] with inputs='probs', got {outside.flatten()[0].item()!r} "
                "(logits? pass inputs='logits')"
            )
        return preds.float() > threshold
    return torch.sigmoid(preds.float()) > threshold


def au_confusion(
    preds: torch.Tensor,
    targets: torch.Tensor,
    *,
    inputs: Literal["logits", "probs", "labels"] = "logits",
    threshold: float = THRESHOLD,
    missing: int = MISSING_LABEL,
) -> torch.Tensor:
    """True positives, false positives and false negatives per AU.

    Parameters
    ----------
    preds : Tensor[N, H]
        What ``inputs`` says: logits (an AU is predicted where ``sigmoid(logit) >
        threshold``), probabilities (where ``prob > threshold``) or 0/1 labels.
    targets : Tensor[N, H]
        0, 1 or ``missing``.
    inputs : {"logits", "probs", "labels"}, default "logits"
        Nothing is guessed: integer ``preds`` with ``"logits"``/``"probs"``, values outside
        [0, 1] with ``"probs"`` and values other than 0/1 with ``"labels"`` raise.
    threshold : float, default 0.5
        Strict: a probability of exactly ``threshold`` is not a positive.

    Returns
    -------
    Tensor[3, H] of int64
        Rows TP, FP, FN, over the labelled entries.
    """
    check_ndim(preds, "preds", "N H")
    check_same_shape(targets, "targets", preds, "preds")
    valid = targets != missing
    positive = _au_decisions(preds, threshold, inputs)
    truth = targets == 1
    tp = (positive & truth & valid).sum(0)
    fp = (positive & ~truth & valid).sum(0)
    fn = (~positive & truth & valid).sum(0)
    return torch.stack([tp, fp, fn])


def au_f1(
    preds: torch.Tensor,
    targets: torch.Tensor,
    *,
    inputs: Literal["logits", "probs", "labels"] = "logits",
    threshold: float = THRESHOLD,
    missing: int = MISSING_LABEL,
) -> torch.Tensor:
    """F1 of each AU (``Tensor[H]``, float64). Arguments as in :func:`au_confusion`."""
    return _f1_from_counts(*au_confusion(preds, targets, inputs=inputs, threshold=threshold, missing=missing))


def expr_confusion(
    preds: torch.Tensor, targets: torch.Tensor, num_classes: int, *, missing: int = MISSING_LABEL
) -> torch.Tensor:
    """Confusion matrix ``Tensor[K, K]`` (rows: label, columns: prediction) over labelled samples.

    Parameters
    ----------
    preds : Tensor[N, K] of logits or probabilities, or Tensor[N] of integer class indices
        Indices must be in ``[0, K)``.
    targets : Tensor[N]
        Class index or ``missing``.
    num_classes : int
        K, the number of classes.
    """
    if preds.ndim == 2:
        if preds.shape[1] != num_classes:
            raise ValueError(f"preds must have {num_classes} columns (classes), got shape {tuple(preds.shape)}")
        preds = preds.argmax(1)
    check_ndim(preds, "preds", "N")
    check_same_shape(targets, "targets", preds, "preds")
    if preds.is_floating_point() or preds.is_complex():
        raise ValueError(f"preds of shape (N,) must be integer class indices, got dtype {preds.dtype}")
    outside = preds[(preds < 0) | (preds >= num_classes)]
    if outside.numel():
        raise ValueError(f"preds must be class indices in [0, {num_classes}), got {outside[0].item()}")
    valid = targets != missing
    labels, guesses = targets[valid].long(), preds[valid].long()
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(f"targets must be in [0, {num_classes}) or {missing}, got {torch.unique(labels).tolist()}")
    flat = torch.bincount(labels * num_classes + guesses, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def _macro_f1(confusion: torch.Tensor) -> torch.Tensor:
    tp = confusion.diagonal()
    return _f1_from_counts(tp, confusion.sum(0) - tp, confusion.sum(1) - tp).mean()


def expr_f1(preds: torch.Tensor, targets: torch.Tensor, num_classes: int = 8, *, missing: int = MISSING_LABEL) -> float:
    """Macro F1 over ``num_classes`` expressions. Arguments as in :func:`expr_confusion`."""
    return float(_macro_f1(expr_confusion(preds, targets, num_classes, missing=missing)))


def va_ccc(preds: torch.Tensor, targets: torch.Tensor, *, missing: float = MISSING_VA) -> torch.Tensor:
    """CCC per VA dimension (``Tensor[V]``, float64), population statistics.

    Parameters
    ----------
    preds : Tensor[N, V]
    targets : Tensor[N, V]
    """
    return _va_moments(preds, targets, "preds", "targets", missing).ccc()


def _va_moments(
    preds: torch.Tensor, targets: torch.Tensor, preds_name: str, targets_name: str, missing: float
) -> _Moments:
    """The shared update step of the functional and the accumulating CCC."""
    check_ndim(preds, preds_name, "N V")
    check_same_shape(targets, targets_name, preds, preds_name)
    targets = targets.detach().to(preds.device, torch.float64)
    valid = targets != missing
    return _Moments.of(preds.detach().double(), torch.where(valid, targets, 0.0), valid)


def abaw_scores(
    au_preds: torch.Tensor,
    au_targets: torch.Tensor,
    expr_preds: torch.Tensor,
    expr_targets: torch.Tensor,
    va_preds: torch.Tensor,
    va_targets: torch.Tensor,
    *,
    au_inputs: Literal["logits", "probs", "labels"] = "logits",
    threshold: float = THRESHOLD,
) -> ABAWScores:
    """All ABAW3 measures at once (see the module docstring).

    ``au_inputs`` says what ``au_preds`` holds (``"logits"``, ``"probs"`` or ``"labels"``,
    see :func:`au_confusion`); ``expr_preds`` is ``(N, K)`` scores or ``(N,)`` class indices.
    """
    metric = ABAWMetrics(
        au_preds.shape[-1],
        expr_preds.shape[-1] if expr_preds.ndim == 2 else 8,
        au_inputs=au_inputs,
        threshold=threshold,
    )
    metric.update(au_preds, au_targets, expr_preds, expr_targets, va_preds, va_targets)
    return metric.compute()


class _Moments:
    """Count, means and co-moments of (x, y) per dimension, merged exactly (Chan et al.)."""

    FIELDS = ("n", "mx", "my", "sxx", "syy", "sxy")

    def __init__(self, dims: int, device: torch.device | str | None = None) -> None:
        zeros = torch.zeros(dims, dtype=torch.float64, device=device)
        self.n, self.mx, self.my, self.sxx, self.syy, self.sxy = (zeros.clone() for _ in range(6))

    def stacked(self) -> torch.Tensor:
        """``Tensor[6, V]``: n, mx, my, sxx, syy, sxy."""
        return torch.stack([getattr(self, name) for name in self.FIELDS])

    @classmethod
    def from_stacked(cls, values: torch.Tensor) -> _Moments:
        moments = cls(values.shape[1], values.device)
        for name, row in zip(cls.FIELDS, values, strict=True):
            setattr(moments, name, row.clone())
        return moments

    @classmethod
    def of(cls, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor) -> _Moments:
        """Moments of the valid entries of ``x``, ``y`` (``Tensor[N, V]``)."""
        moments = cls(x.shape[1], x.device)
        w = valid.double()
        moments.n = w.sum(0)
        safe = moments.n.clamp_min(1)
        moments.mx, moments.my = (x * w).sum(0) / safe, (y * w).sum(0) / safe
        dx, dy = (x - moments.mx) * w, (y - moments.my) * w
        moments.sxx, moments.syy, moments.sxy = (dx * dx).sum(0), (dy * dy).sum(0), (dx * dy).sum(0)
        return moments

    def merge(self, other: _Moments) -> None:
        other = _Moments.from_stacked(other.stacked().to(self.n.device))
        total = self.n + other.n
        share = torch.where(total > 0, other.n / total.clamp_min(1), torch.zeros_like(total))
        ddx, ddy = other.mx - self.mx, other.my - self.my
        cross = self.n * share  # n_a * n_b / (n_a + n_b)
        self.sxx += other.sxx + ddx * ddx * cross
        self.syy += other.syy + ddy * ddy * cross
        self.sxy += other.sxy + ddx * ddy * cross
        self.mx += ddx * share
        self.my += ddy * share
        self.n = total

    def ccc(self) -> torch.Tensor:
        den = self.sxx + self.syy + self.n * (self.mx - self.my) ** 2
        return torch.where(den > 0, 2 * self.sxy / den.clamp_min(1e-300), torch.zeros_like(den))


class ABAWMetrics:
    """Accumulate ABAW3 measures over batches; :meth:`compute` equals computing on all data at once.

    AU and EXPR keep integer confusion counts; VA keeps per-dimension counts, means and
    co-moments in float64, merged with the parallel algorithm of Chan et al., so the
    result does not depend on how the data was split into batches or processes.

    The state is a few tensors on the device of the predictions it was given (the model's):
    :meth:`update` never copies a batch to the CPU. :meth:`sync` merges the state of every
    process with ``torch.distributed`` collectives (an ``all_reduce`` of the counts, an
    ``all_gather`` of the moments), as torchmetrics does.

    Parameters
    ----------
    num_aus : int, default 12
    num_classes : int, default 8
    va_dim : int, default 2
    au_inputs : {"logits", "probs", "labels"}, default "logits"
        What the AU predictions given to :meth:`update` hold (see :func:`au_confusion`).
    threshold : float, default 0.5
        AU decision threshold on the probability (strict ``>``).

    Examples
    --------
    >>> metric = ABAWMetrics()
    >>> # for batch in loader: out = model(images); metric.update(out.au, au, out.expr, expr, out.va, va)
    >>> # metric.compute().p_mtl
    """

    def __init__(
        self,
        num_aus: int = 12,
        num_classes: int = 8,
        va_dim: int = 2,
        *,
        au_inputs: Literal["logits", "probs", "labels"] = "logits",
        threshold: float = THRESHOLD,
    ) -> None:
        check_choice(au_inputs, "au_inputs", AU_INPUTS)
        self.au_inputs = au_inputs
        self.num_aus = num_aus
        self.num_classes = num_classes
        self.va_dim = va_dim
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the state stays on its device)."""
        device = getattr(self, "device", torch.device("cpu"))
        self.au_counts = torch.zeros(3, self.num_aus, dtype=torch.int64, device=device)
        self.expr_counts = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64, device=device)
        self.va_moments = _Moments(self.va_dim, device)

    @property
    def device(self) -> torch.device:
        """Where the state lives: the device of the predictions given to :meth:`update`."""
        return self.au_counts.device

    def to(self, device: torch.device | str) -> ABAWMetrics:
        """Move the state to ``device`` (in place); returns ``self``."""
        self.au_counts = self.au_counts.to(device)
        self.expr_counts = self.expr_counts.to(device)
        self.va_moments = _Moments.from_stacked(self.va_moments.stacked().to(device))
        return self

    @torch.no_grad()
    def update(
        self,
        au_preds: torch.Tensor | None = None,
        au_targets: torch.Tensor | None = None,
        expr_preds: torch.Tensor | None = None,
        expr_targets: torch.Tensor | None = None,
        va_preds: torch.Tensor | None = None,
        va_targets: torch.Tensor | None = None,
    ) -> None:
        """Add a batch. Any task may be left out (both its predictions and targets ``None``).

        The state moves to the predictions' device on the first batch; targets are moved to it.
        """
        given = next((p for p in (au_preds, expr_preds, va_preds) if p is not None), None)
        if given is not None and given.device != self.device:
            self.to(given.device)
        if au_preds is not None and au_targets is not None:
            counts = au_confusion(
                au_preds.detach(),
                au_targets.detach().to(au_preds.device),
                inputs=self.au_inputs,
                threshold=self.threshold,
            )
            self.au_counts += counts
        if expr_preds is not None and expr_targets is not None:
            self.expr_counts += expr_confusion(
                expr_preds.detach(), expr_targets.detach().to(expr_preds.device), self.num_classes
            )
        if va_preds is not None and va_targets is not None:
            self.va_moments.merge(_va_moments(va_preds, va_targets, "va_preds", "va_targets", MISSING_VA))

    def merge(self, other: ABAWMetrics) -> None:
        """Add another accumulator's state (moved to this one's device)."""
        self.au_counts += other.au_counts.to(self.device)
        self.expr_counts += other.expr_counts.to(self.device)
        self.va_moments.merge(other.va_moments)

    def sync(self, group: Any = None) -> ABAWMetrics:
        """Every process's state merged, in every process: a new accumulator (``self`` is unchanged).

        Collective: call it in all processes of ``group`` (default the whole world). Without an
        initialised process group it returns a copy of ``self``. With the NCCL backend the state
        must be on the process's CUDA device (where the model's outputs are).
        """
        import torch.distributed as dist

        total = ABAWMetrics(
            self.num_aus, self.num_classes, self.va_dim, au_inputs=self.au_inputs, threshold=self.threshold
        ).to(self.device)
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
            total.merge(self)
            return total
        counts = torch.cat([self.au_counts.flatten(), self.expr_counts.flatten()])
        dist.all_reduce(counts, group=group)
        total.au_counts = counts[: self.au_counts.numel()].reshape(self.au_counts.shape)
        total.expr_counts = counts[self.au_counts.numel() :].reshape(self.expr_counts.shape)
        mine = self.va_moments.stacked()
        parts = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, mine, group=group)
        for part in parts:  # in rank order: every process gets the same numbers
            total.va_moments.merge(_Moments.from_stacked(part))
        return total

    def compute(self) -> ABAWScores:
        """The measures over everything added since the last :meth:`reset`."""
        per_au = _f1_from_counts(*self.au_counts)
        p_au = float(per_au.mean())
        p_expr = float(_macro_f1(self.expr_counts))
        va = self.va_moments.ccc()
        p_va = float(va.mean())
        return ABAWScores(
            au_f1=tuple(per_au.tolist()),
            p_au=p_au,
            p_expr=p_expr,
            ccc_valence=float(va[0]),
            ccc_arousal=float(va[1]) if self.va_dim > 1 else float("nan"),
            p_va=p_va,
            p_mtl=p_au + p_expr + p_va,
        )
