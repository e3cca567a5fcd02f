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

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

_CHUNK = 64


def _check_alpha(alpha: float) -> None:
    if not alpha >= 0:  # also rejects NaN
        raise ValueError(f"alpha must be >= 0, got {alpha}")


def _linear_scan(x: torch.Tensor, ratio: float, init: torch.Tensor, chunk: int) -> torch.Tensor:
    """``y_t = ratio * y_{t-1} + x_t`` with ``y_{-1} = init``, for ``x`` of shape ``(T, D)``."""
    length = x.shape[0]
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
        Frames per block of the exact chunked evaluation.

    Returns
    -------
    Tensor[T, ...]
        ``X_t`` as defined in the module docstring, same dtype as ``features``.
    """
    _check_alpha(alpha)
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
    """Result of :func:`choose_alpha`: the chosen alpha and ``scores[alpha] = [fold scores]``."""

    alpha: float
    scores: dict[float, list[float]]


def choose_alpha(
    features: Sequence[torch.Tensor],
    labels: Sequence[torch.Tensor],
    score: Callable[[torch.Tensor, torch.Tensor], float],
    *,
    candidates: Sequence[float] = (7, 8, 9, 10),
    folds: int = 3,
) -> AlphaSelection:
    """Pick the smoothing strength by k-fold cross-validation over videos, as the published code does.

    The videos are dealt into ``folds`` folds (video ``i`` to fold ``i % folds``). For
    every candidate, each fold's videos are smoothed and scored together; the candidate
    with the best mean fold score wins (ties: the first candidate).

    Parameters
    ----------
    features : sequence of Tensor[T_v, ...]
        Per-video features (e.g. AU features or message vectors).
    labels : sequence of Tensor[T_v, ...]
        Per-video labels, same frame count.
    score : callable
        ``score(smoothed_features, labels) -> float`` on the concatenated frames of a fold,
        higher is better; it applies the classifier, e.g.
        ``lambda f, y: metrics.expr_f1(model.message_space.classify(f)[0], y)``.
    candidates : sequence of float, default (7, 8, 9, 10)
    folds : int, default 3

    Returns
    -------
    AlphaSelection
    """
    if len(features) != len(labels):
        raise ValueError(f"features and labels must list the same videos, got {len(features)} and {len(labels)}")
    if len(features) < folds:
        raise ValueError(f"need at least folds={folds} videos, got {len(features)}")
    for alpha in candidates:
        _check_alpha(alpha)
    results: dict[float, list[float]] = {}
    for alpha in candidates:
        smoothed = smooth_videos(features, alpha)
        results[alpha] = [
            float(
                score(
                    torch.cat([smoothed[i] for i in range(k, len(smoothed), folds)]),
                    torch.cat([labels[i] for i in range(k, len(labels), folds)]),
                )
            )
            for k in range(folds)
        ]
    best = max(candidates, key=lambda a: sum(results[a]) / folds)
    return AlphaSelection(best, results)
