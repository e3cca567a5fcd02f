"""Losses against independent references: torch.nn.functional, numpy formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from smm import MultiTaskLoss, ccc, ccc_loss, multitask_loss, weighted_bce, weighted_ce
from smm.presets import ABAW3_AU_POS_WEIGHT, ABAW3_EXPRESSION_WEIGHT

seeds = st.integers(0, 2**16)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _numpy_ccc(x: np.ndarray, y: np.ndarray, ddof: int = 0) -> float:
    cov = np.sum((x - x.mean()) * (y - y.mean())) / (len(x) - ddof)
    return 2 * cov / (x.var(ddof=ddof) + y.var(ddof=ddof) + (x.mean() - y.mean()) ** 2)


# --- weighted BCE -------------------------------------------------------------------------


@given(seeds, st.integers(1, 8), st.integers(1, 12))
def test_bce_matches_torch_on_labelled_entries(seed: int, batch: int, aus: int) -> None:
    g = _gen(seed)
    logits = torch.randn(batch, aus, generator=g)
    targets = torch.randint(-1, 2, (batch, aus), generator=g).float()
    pos_weight = torch.rand(aus, generator=g) * 10
    valid = targets != -1
    assume(bool(valid.any()))
    expected = F.binary_cross_entropy_with_logits(
        logits[valid], targets[valid], pos_weight=pos_weight.expand(batch, aus)[valid]
    )
    torch.testing.assert_close(weighted_bce(logits, targets, pos_weight), expected)


@given(seeds, st.integers(1, 6), st.integers(1, 5))
def test_bce_ignores_added_missing_entries(seed: int, batch: int, aus: int) -> None:
    g = _gen(seed)
    logits = torch.randn(batch, aus, generator=g)
    targets = torch.randint(0, 2, (batch, aus), generator=g)
    extra_logits = torch.cat([logits, torch.randn(3, aus, generator=g) * 100])
    extra_targets = torch.cat([targets, torch.full((3, aus), -1)])
    torch.testing.assert_close(weighted_bce(extra_logits, extra_targets), weighted_bce(logits, targets))


def test_bce_explicit_mask_and_paper_formula() -> None:
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.1]])
    targets = torch.tensor([[1, 0], [1, 1]])
    mask = torch.tensor([[True, True], [False, True]])
    p = torch.tensor([2.0, 3.0])
    s = torch.sigmoid(logits)
    # Eq. 4 written out for the three labelled entries.
    terms = [-p[0] * torch.log(s[0, 0]), -torch.log(1 - s[0, 1]), -p[1] * torch.log(s[1, 1])]
    torch.testing.assert_close(weighted_bce(logits, targets, p, mask=mask), torch.stack(terms).mean())


# --- weighted CE --------------------------------------------------------------------------


@given(seeds, st.integers(1, 8), st.integers(2, 8))
def test_ce_with_unit_weights_equals_cross_entropy(seed: int, batch: int, classes: int) -> None:
    g = _gen(seed)
    logits = torch.randn(batch, classes, generator=g)
    targets = torch.randint(0, classes, (batch,), generator=g)
    torch.testing.assert_close(weighted_ce(logits, targets), F.cross_entropy(logits, targets))
    torch.testing.assert_close(weighted_ce(logits, targets, torch.ones(classes)), F.cross_entropy(logits, targets))


@given(seeds, st.integers(1, 8), st.integers(2, 8))
def test_ce_weighted_with_missing_matches_torch(seed: int, batch: int, classes: int) -> None:
    g = _gen(seed)
    logits = torch.randn(batch, classes, generator=g)
    targets = torch.randint(-1, classes, (batch,), generator=g)
    weight = torch.rand(classes, generator=g) + 0.1
    assume(bool((targets != -1).any()))
    expected = F.cross_entropy(logits, targets, weight=weight, ignore_index=-1)
    torch.testing.assert_close(weighted_ce(logits, targets, weight), expected)
    torch.testing.assert_close(
        weighted_ce(logits, targets, weight, reduction="sum"),
        F.cross_entropy(logits, targets, weight=weight, ignore_index=-1, reduction="sum"),
    )


# --- CCC ----------------------------------------------------------------------------------


@given(seeds, st.integers(2, 40))
def test_ccc_matches_numpy(seed: int, n: int) -> None:
    g = _gen(seed)
    x, y = torch.randn(n, 2, generator=g, dtype=torch.float64).unbind(1)
    for ddof in (0, 1):
        got = ccc(x, y, correction=ddof).item()
        assert got == pytest.approx(_numpy_ccc(x.numpy(), y.numpy(), ddof), rel=1e-5, abs=1e-6)


@given(seeds, st.integers(2, 40))
def test_ccc_properties(seed: int, n: int) -> None:
    g = _gen(seed)
    x = torch.randn(n, 2, generator=g)
    y = torch.randn(n, 2, generator=g) * 3 + 1
    assume(bool((x.std(0) > 1e-3).all()))
    torch.testing.assert_close(ccc(x, x), torch.ones(2))
    torch.testing.assert_close(ccc(x, y), ccc(y, x))
    values = ccc(x, y)
    assert bool(((values >= -1 - 1e-6) & (values <= 1 + 1e-6)).all())
    centred = x - x.mean(0)  # CCC(x, -x) = -1 needs mean 0: any offset costs concordance
    torch.testing.assert_close(ccc(centred, -centred), -torch.ones(2))


def test_ccc_published_variant_is_pearson_times_unbiased_stds() -> None:
    x = np.array([0.1, -0.4, 0.3, 0.8, -0.2])
    y = np.array([0.0, -0.5, 0.6, 0.5, 0.1])
    rho = np.corrcoef(x, y)[0, 1]
    sx, sy = x.std(ddof=1), y.std(ddof=1)
    published = 2 * rho * sx * sy / (sx**2 + sy**2 + (x.mean() - y.mean()) ** 2)
    got = ccc(torch.tensor(x), torch.tensor(y), correction=1).item()
    assert got == pytest.approx(published, rel=1e-6)
    assert ccc(torch.tensor(x), torch.tensor(y)).item() != pytest.approx(published, rel=1e-6)


@given(seeds, st.integers(2, 20), st.integers(1, 10))
def test_ccc_ignores_missing(seed: int, n: int, extra: int) -> None:
    g = _gen(seed)
    pred = torch.randn(n, 2, generator=g)
    target = torch.rand(n, 2, generator=g) * 2 - 1
    padded_pred = torch.cat([pred, torch.randn(extra, 2, generator=g) * 50])
    padded_target = torch.cat([target, torch.full((extra, 2), -5.0)])
    torch.testing.assert_close(ccc_loss(padded_pred, padded_target), ccc_loss(pred, target))


def test_ccc_constant_prediction_is_zero_not_nan() -> None:
    target = torch.tensor([0.1, 0.5, -0.3])
    assert ccc(torch.zeros(3), target).item() == 0.0
    assert ccc(torch.zeros(3), torch.zeros(3)).item() == 0.0
    assert ccc(torch.tensor([0.4]), torch.tensor([0.2])).item() == 0.0


def test_ccc_loss_is_sum_of_one_minus_ccc() -> None:
    g = _gen(3)
    pred, target = torch.randn(10, 2, generator=g), torch.randn(10, 2, generator=g)
    expected = (1 - ccc(pred[:, 0], target[:, 0])) + (1 - ccc(pred[:, 1], target[:, 1]))
    torch.testing.assert_close(ccc_loss(pred, target), expected)


# --- all missing ------------------------------------------------------------------------


def test_all_missing_gives_zero_loss_with_finite_gradient() -> None:
    au = torch.randn(4, 12, requires_grad=True)
    expr = torch.randn(4, 8, requires_grad=True)
    va = torch.randn(4, 2, requires_grad=True)
    out = multitask_loss(
        au, torch.full((4, 12), -1), expr, torch.full((4,), -1), va, torch.full((4, 2), -5.0),
        au_pos_weight=torch.tensor(ABAW3_AU_POS_WEIGHT), expr_weight=torch.tensor(ABAW3_EXPRESSION_WEIGHT),
        va_correction=1,  # the published CCC statistics
    )  # fmt: skip
    for term in out:
        assert term.item() == 0.0
    out.total.backward()
    for t in (au, expr, va):
        assert t.grad is not None
        assert bool(torch.isfinite(t.grad).all())
        assert bool((t.grad == 0).all())


@given(seeds)
def test_gradients_finite_for_partly_missing_batches(seed: int) -> None:
    g = _gen(seed)
    va = torch.randn(6, 2, generator=g, requires_grad=True)
    target = torch.where(torch.rand(6, 2, generator=g) < 0.7, -5.0, torch.rand(6, 2, generator=g))
    ccc_loss(va, target).backward()
    assert bool(torch.isfinite(va.grad).all())


def test_multitask_loss_module_matches_function_and_moves_with_dtype() -> None:
    criterion = MultiTaskLoss.abaw3()
    assert criterion.au_pos_weight.shape == (12,)
    g = _gen(0)

    class Out:
        au = torch.randn(5, 12, generator=g)
        expr = torch.randn(5, 8, generator=g)
        va = torch.randn(5, 2, generator=g)

    au_t = torch.randint(-1, 2, (5, 12), generator=g)
    expr_t = torch.randint(-1, 8, (5,), generator=g)
    va_t = torch.rand(5, 2, generator=g)
    got = criterion(Out, au_t, expr_t, va_t)
    expected = multitask_loss(
        Out.au, au_t, Out.expr, expr_t, Out.va, va_t,
        au_pos_weight=torch.tensor(ABAW3_AU_POS_WEIGHT), expr_weight=torch.tensor(ABAW3_EXPRESSION_WEIGHT),
        va_correction=1,  # the published CCC statistics
    )  # fmt: skip
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(got.total, got.au + got.expr + got.va)
    assert criterion.double().au_pos_weight.dtype == torch.float64


# --- bad input ----------------------------------------------------------------------------


def test_bce_rejects_bad_targets() -> None:
    with pytest.raises(ValueError, match=r"targets must be 0, 1 or -1.*\[2"):
        weighted_bce(torch.zeros(2, 3), torch.tensor([[0, 1, 2], [1, 1, 1]]))
    with pytest.raises(ValueError, match=r"targets and logits must have the same shape"):
        weighted_bce(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"logits must be a 2-D"):
        weighted_bce(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"pos_weight must have shape \(3,\)"):
        weighted_bce(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(4))


def test_ce_rejects_bad_targets() -> None:
    with pytest.raises(ValueError, match=r"class indices in \[0, 8\).*\[8\]"):
        weighted_ce(torch.zeros(2, 8), torch.tensor([0, 8]))
    with pytest.raises(ValueError, match=r"targets must have 2 entries"):
        weighted_ce(torch.zeros(2, 8), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match=r"integer class indices"):
        weighted_ce(torch.zeros(2, 8), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"weight must have shape \(8,\)"):
        weighted_ce(torch.zeros(2, 8), torch.tensor([0, 1]), torch.ones(7))


def test_ccc_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"pred and target must have the same shape"):
        ccc(torch.zeros(4, 2), torch.zeros(4))
