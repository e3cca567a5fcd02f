"""Label statistics for the loss weights, computed from training annotations.

Every function ignores missing labels (``-1`` AU/EXPR, ``-5`` VA).
"""

from __future__ import annotations

import numpy as np
import torch

from smm.formats.codes import MISSING_LABEL, MISSING_VA


def _as_numpy(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    return labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)


def au_counts(labels: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Positives and negatives per AU.

    Parameters
    ----------
    labels : array[N, H]
        0, 1 or -1.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(positives[H], negatives[H])``, int64.
    """
    labels = _as_numpy(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D (N, H) array, got shape {labels.shape}")
    return (labels == 1).sum(0).astype(np.int64), (labels == 0).sum(0).astype(np.int64)


def au_pos_weight(labels: np.ndarray | torch.Tensor, names: tuple[str, ...] | None = None) -> torch.Tensor:
    """``pos_weight`` of Eq. 4: negatives / positives per AU.

    Raises
    ------
    ValueError
        If an AU has no positive label (its weight would be infinite).
    """
    positives, negatives = au_counts(labels)
    empty = np.flatnonzero(positives == 0)
    if empty.size:
        which = [names[i] for i in empty] if names else empty.tolist()
        raise ValueError(f"no positive label for AU(s) {which}: pos_weight = negatives / positives is undefined")
    return torch.as_tensor(negatives / positives, dtype=torch.float32)


def expr_counts(labels: np.ndarray | torch.Tensor, num_classes: int = 8) -> np.ndarray:
    """Samples per expression class (``int64[K]``), labels ``-1`` ignored."""
    labels = _as_numpy(labels).reshape(-1)
    labels = labels[labels != MISSING_LABEL]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"expression labels must be in [0, {num_classes}) or -1, got {sorted(set(labels.tolist()))}")
    return np.bincount(labels.astype(np.int64), minlength=num_classes)


def expr_class_weight(
    labels: np.ndarray | torch.Tensor, num_classes: int = 8, names: tuple[str, ...] | None = None
) -> torch.Tensor:
    """Class weights for Eq. 5: ``N / (K * N_c)`` ("balanced" inverse frequency).

    A class with the average frequency gets weight 1; the expected weight of a
    labelled sample is 1. This is scikit-learn's ``compute_class_weight("balanced")``.

    Raises
    ------
    ValueError
        If a class has no sample.
    """
    counts = expr_counts(labels, num_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        which = [names[i] for i in empty] if names else empty.tolist()
        raise ValueError(f"no sample of expression class(es) {which}: their weight is undefined")
    return torch.as_tensor(counts.sum() / (num_classes * counts), dtype=torch.float32)


def va_count(labels: np.ndarray | torch.Tensor) -> int:
    """Number of frames with valence/arousal labelled (``-5`` ignored)."""
    labels = _as_numpy(labels)
    return int((labels != MISSING_VA).all(axis=-1).sum())
