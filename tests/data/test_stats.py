"""Label statistics for the loss weights, by value against numpy and scikit-learn, with missing labels ignored."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from smm.data.stats import au_counts, au_pos_weight, expr_class_weight, expr_counts, va_count

AU = np.array([[1, 0, -1], [1, 1, 0], [0, -1, 0], [1, 0, 0]])


@pytest.mark.parametrize("as_tensor", [False, True])
def test_au_counts_and_pos_weight(as_tensor: bool) -> None:
    labels = torch.from_numpy(AU) if as_tensor else AU
    positives, negatives = au_counts(labels)
    assert (positives.tolist(), negatives.tolist()) == ([3, 1, 0], [1, 2, 3])
    assert positives.dtype == negatives.dtype == np.int64
    weight = au_pos_weight(labels[:, :2])
    assert weight.dtype == torch.float32
    assert weight.tolist() == pytest.approx([1 / 3, 2.0])
    with pytest.raises(ValueError, match=r"^no positive label for AU\(s\) \['AU4'\]: pos_weight"):
        au_pos_weight(labels, names=("AU1", "AU2", "AU4"))
    with pytest.raises(ValueError, match=r"^no positive label for AU\(s\) \[2\]: pos_weight"):
        au_pos_weight(labels)
    with pytest.raises(ValueError, match=r"^labels must be a 2-D \(N, H\) array, got shape \(4,\)$"):
        au_counts(labels[:, 0])


def test_expression_counts_and_weights_like_scikit_learn() -> None:
    labels = np.array([[0, 1, 1], [-1, 7, 2], [2, 2, -1]])  # 2-D is flattened; -1 ignored
    assert expr_counts(labels).tolist() == [1, 2, 3, 0, 0, 0, 0, 1]  # eight classes by default
    assert expr_counts(torch.from_numpy(labels)).tolist() == [1, 2, 3, 0, 0, 0, 0, 1]
    assert expr_counts(np.array([-1, -1])).tolist() == [0] * 8
    for bad in ([0, 8], [-2, 1]):  # one past the last class; a negative that is not -1
        message = f"expression labels must be in [0, 8) or -1, got {sorted(bad)}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            expr_counts(np.array(bad))
    present = np.array([0, 1, 1, 2, 2, 2, -1])
    weight = expr_class_weight(present, num_classes=3)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=present[present >= 0])
    assert weight.dtype == torch.float32
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^no sample of expression class\(es\) \['Fear'\]: their weight"):
        expr_class_weight(present, num_classes=4, names=("Neutral", "Anger", "Disgust", "Fear"))
    with pytest.raises(ValueError, match=r"^no sample of expression class\(es\) \[3\]: their weight"):
        expr_class_weight(present, num_classes=4)


def test_va_frames_count_only_where_both_are_labelled() -> None:
    va = np.array([[0.1, 0.2], [-5, 0.3], [-5, -5], [0.0, -1.0]])
    assert va_count(va) == 2
    assert va_count(torch.from_numpy(va)) == 2
    assert va_count(torch.tensor(va, requires_grad=True)) == 2  # a tensor is detached first
