"""Smoothing over video frames, as the published system does before its final linear layers.

Per video, frame features ``F_t`` are smoothed with

    X_0 = F_0,    X_t = (alpha * X_{t-1} + F_t) / (1 + alpha),

then the heads' linear classifiers (:meth:`smm.SignVehicleHead.classify`,
:meth:`smm.MessageSpaceHead.classify`) read the smoothed features. Because those
classifiers are linear, smoothing features and smoothing their logits agree.

The recursion is evaluated exactly in chunks: within a chunk of ``L`` frames it is a
product with the ``L x L`` lower-triangular matrix of powers of ``alpha / (1 + alpha)``,
and the chunks' end values follow the same recursion with ratio ``(alpha/(1+alpha))^L``,
solved the same way. Tens of thousands of frames cost a few matrix products, not a
Python loop over frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

import torch

from smm.models.config import PUBLISHED_ALPHA

_CHUNK = 64
OUTPUTS = ("AU", "EXPR", "VA")


def _check_alpha(alpha: float, name: str = "alpha") -> None:
    # NaN fails `>= 0`; an infinite strength would hold the first frame for ever through a 0 * inf (NaN).
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {alpha!r}")


def smoothing_strengths(
    alpha: float | Mapping[str, float | None] | Literal["published"] | None,
) -> dict[str, float | None]:
    """One smoothing strength per output, ``{"AU": ..., "EXPR": ..., "VA": ...}``.

    Parameters
    ----------
    alpha : float, mapping, "published" or None
        One strength for every output; a mapping from output name to strength (a missing
        key or ``None`` means no smoothing for that output); ``"published"`` for the
        published submission's strengths (:data:`smm.models.config.PUBLISHED_ALPHA`: AU 7,
        EXPR 9, VA 9); or ``None`` for none.

    Raises
    ------
    ValueError
        For a negative or NaN strength, a key other than ``"AU"``, ``"EXPR"``, ``"VA"``, or
        another string.
    """
    if alpha is None:
        return dict.fromkeys(OUTPUTS)
    if isinstance(alpha, str):
        if alpha != "published":
            raise ValueError(f"alpha must be a number, a mapping, 'published' or None, got {alpha!r}")
        alpha = PUBLISHED_ALPHA
    if isinstance(alpha, Mapping):
        unknown = sorted(set(alpha) - set(OUTPUTS))
        if unknown:
            raise ValueError(f"alpha keys must be among {OUTPUTS}, got {unknown}")
        strengths = {output: alpha.get(output) for output in OUTPUTS}
    else:
        strengths = dict.fromkeys(OUTPUTS, alpha)
    for output, value in strengths.items():
        if value is not None:
            _check_alpha(value, f"alpha[{output!r}]" if isinstance(alpha, Mapping) else "alpha")
    return strengths


def _linear_scan(x: torch.Tensor, ratio: float, init: torch.Tensor, chunk: int) -> torch.Tensor:
    """``y_t = ratio * y_{t-1} + x_t`` with ``y_{-1} = init``, for ``x`` of shape ``(T, D)``."""
    length = x.shape[0]
    if chunk == 1:  # frame by frame
        out = torch.empty_like(x)
        previous = init
        for t in range(length):
            previous = out[t] = ratio * previous + x[t]
        return out
    steps = torch.arange(1, min(length, chunk) + 1, dtype=x.dtype, device=x.device)
    decay = ratio**steps  # ratio^(j+1) for j = 0..L-1
    if length <= chunk:
        return _linear_scan_blocks(x[None], ratio)[0] + decay[:length, None] * init
    pad = -length % chunk
    blocks = torch.cat([x, x.new_zeros(pad, x.shape[1])]).reshape(-1, chunk, x.shape[1])
    local = _linear_scan_blocks(blocks, ratio)
    ends = _linear_scan(local[:, -1], ratio**chunk, init, chunk)
    carry_in = torch.cat([init[None], ends[:-1]])  # value before each block
    out = local + decay[None, :, None] * carry_in[:, None, :]
    return out.reshape(-1, x.shape[1])[:length]


def _linear_scan_blocks(blocks: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero-initialised scan inside every block of ``blocks`` ``(N, L, D)``."""
    offsets = torch.arange(blocks.shape[1], device=blocks.device)
    lag = offsets[:, None] - offsets[None, :]
    powers = torch.where(lag >= 0, ratio ** lag.clamp_min(0).to(blocks.dtype), torch.zeros((), dtype=blocks.dtype))
    return powers @ blocks


def exponential_smoothing(features: torch.Tensor, alpha: float, *, chunk: int = _CHUNK) -> torch.Tensor:
    """Smooth one video's per-frame features along time (dim 0).

    Parameters
    ----------
    features : Tensor[T, ...]
        Frame ``t``'s features at index ``t``; any trailing shape (e.g. ``(T, H, D)``
        AU features or ``(T, D)`` message vectors).
    alpha : float
        ``>= 0``; 0 returns the input unchanged, larger values smooth more.
    chunk : int, default 64
        Frames per block of the exact chunked evaluation, ``>= 1`` (1 is the plain
        frame-by-frame recursion).

    Returns
    -------
    Tensor[T, ...]
        ``X_t`` as defined in the module docstring, same dtype as ``features``.
    """
    _check_alpha(alpha)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    if features.ndim == 0 or features.shape[0] == 0:
        raise ValueError(f"features must have at least one frame along dim 0, got shape {tuple(features.shape)}")
    if alpha == 0:
        return features.clone()
    flat = features.reshape(features.shape[0], -1)
    ratio = alpha / (1.0 + alpha)
    # With y_{-1} = F_0 the first step gives ratio*F_0 + (1-ratio)*F_0 = F_0, as required.
    smoothed = _linear_scan(flat * (1.0 - ratio), ratio, flat[0], chunk)
    return smoothed.reshape(features.shape)


def smooth_videos(features: Sequence[torch.Tensor], alpha: float) -> list[torch.Tensor]:
    """:func:`exponential_smoothing` of each video's features (a list of ``Tensor[T_v, ...]``)."""
    return [exponential_smoothing(f, alpha) for f in features]


class AlphaSelection(NamedTuple):
    """Result of :func:`choose_alpha`.

    Attributes
    ----------
    alpha : float
        The chosen strength.
    scores : dict
        ``scores[alpha][k]``: with ``scheme="published"``, the score on every fold but ``k``
        (where fold ``k``'s alpha is chosen); with ``scheme="interleaved"``, the score on fold ``k``.
    fold_alpha : tuple of float
        ``scheme="published"``: the alpha chosen with fold ``k`` held out; empty otherwise.
    held_out : tuple of float
        ``scheme="published"``: fold ``k``'s score with its chosen alpha, an estimate of
        the test score that is not biased by the choice; empty otherwise.
    """

    alpha: float
    scores: dict[float, list[float]]
    fold_alpha: tuple[float, ...] = ()
    held_out: tuple[float, ...] = ()


def choose_alpha(
    features: Sequence[torch.Tensor],
    labels: Sequence[torch.Tensor],
    score: Callable[[torch.Tensor, torch.Tensor], float],
    *,
    candidates: Sequence[float] = (7, 8, 9, 10),
    folds: int = 3,
    scheme: Literal["published", "interleaved"] = "published",
) -> AlphaSelection:
    """Pick the smoothing strength by cross-validation over videos.

    ``scheme="published"`` (the published code's procedure): the videos, in the given
    order, are cut into ``folds`` contiguous parts (for 3 folds: the first, second and last
    third). For each fold ``k``, every candidate is scored on the other folds' frames
    together, the best is fold ``k``'s alpha, and fold ``k`` is scored with it
    (``held_out``). The result's ``alpha`` is the one chosen for the most folds; ties go to
    the better mean score over the folds, then to the earlier candidate. (The published
    code printed the per-fold choices; its submission used AU 7, EXPR 9, VA 9,
    :data:`PUBLISHED_ALPHA`.)

    ``scheme="interleaved"``: video ``i`` goes to fold ``i % folds``; every candidate is
    scored on each fold separately and the best mean fold score wins (ties: the earlier
    candidate). No held-out estimate.

    Parameters
    ----------
    features : sequence of Tensor[T_v, ...]
        Per-video features (e.g. AU features or message vectors).
    labels : sequence of Tensor[T_v, ...]
        Per-video labels, same frame count.
    score : callable
        ``score(smoothed_features, labels) -> float`` on the concatenated frames of a set
        of videos, higher is better; it applies the classifier, e.g.
        ``lambda f, y: metrics.expr_f1(model.message_space.classify(f)[0], y)``.
    candidates : sequence of float, default (7, 8, 9, 10)
    folds : int, default 3
        ``>= 2``.
    scheme : {"published", "interleaved"}, default "published"

    Returns
    -------
    AlphaSelection
    """
    if scheme not in ("published", "interleaved"):
        raise ValueError(f"scheme must be 'published' or 'interleaved', got {scheme!r}")
    if len(features) != len(labels):
        raise ValueError(f"features and labels must list the same videos, got {len(features)} and {len(labels)}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    if len(features) < folds:
        raise ValueError(f"need at least folds={folds} videos, got {len(features)}")
    if not candidates:
        raise ValueError("candidates must name at least one alpha")
    for alpha in candidates:
        _check_alpha(alpha)
    count = len(features)
    if scheme == "interleaved":
        parts = [list(range(k, count, folds)) for k in range(folds)]
    else:
        parts = [list(range(k * count // folds, (k + 1) * count // folds)) for k in range(folds)]

    def evaluate(smoothed: list[torch.Tensor], videos: list[int]) -> float:
        return float(score(torch.cat([smoothed[i] for i in videos]), torch.cat([labels[i] for i in videos])))

    smoothed = {alpha: smooth_videos(features, alpha) for alpha in candidates}
    if scheme == "interleaved":
        results = {alpha: [evaluate(smoothed[alpha], part) for part in parts] for alpha in candidates}
        best = max(candidates, key=lambda a: sum(results[a]) / folds)
        return AlphaSelection(best, results)

    others = [[i for j, part in enumerate(parts) if j != k for i in part] for k in range(folds)]
    results = {alpha: [evaluate(smoothed[alpha], rest) for rest in others] for alpha in candidates}
    fold_alpha = tuple(max(candidates, key=lambda a, k=k: results[a][k]) for k in range(folds))
    held_out = tuple(evaluate(smoothed[a], part) for a, part in zip(fold_alpha, parts, strict=True))
    best = max(candidates, key=lambda a: (fold_alpha.count(a), sum(results[a]) / folds))
    return AlphaSelection(best, results, fold_alpha, held_out)
