"""Losses against independent references: torch.nn.functional, numpy formulas."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from smm import MultiTaskLoss, ccc, ccc_loss, multitask_loss, weighted_bce, weighted_ce
from smm.models.config import ABAW3_AU_POS_WEIGHT, ABAW3_EXPRESSION_WEIGHT

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


def test_every_message_names_the_argument_and_what_arrived() -> None:
    def message(call: object) -> str:
        with pytest.raises((ValueError, TypeError)) as error:
            call()  # type: ignore[operator]
        return str(error.value)

    logits, targets = torch.zeros(2, 3), torch.zeros(2, 3)
    for loss in (weighted_bce, weighted_ce):
        assert message(lambda loss=loss: loss(logits, targets[:, 0].long(), reduction="avg")) == (
            "reduction must be one of ('mean', 'sum', 'none'), got 'avg'"
        )
    assert message(lambda: weighted_bce(torch.zeros(3), torch.zeros(3))) == (
        "logits must be a 2-D tensor of shape (B, H), got a 1-D tensor of shape (3,)"
    )
    assert message(lambda: weighted_bce(logits, targets, mask=torch.ones(2, 4, dtype=torch.bool))) == (
        "mask and targets must have the same shape, got (2, 4) and (2, 3)"
    )
    # Up to five of the bad values, smallest first.
    bad = torch.tensor([[2, 3, 4], [5, 6, 7]])
    assert (
        message(lambda: weighted_bce(logits, bad)) == "targets must be 0, 1 or -1 (missing), got values [2, 3, 4, 5, 6]"
    )
    assert message(lambda: weighted_bce(torch.zeros(2, 5), torch.zeros(2, 5), torch.ones(4))) == (
        "pos_weight must have shape (5,), got (4,)"
    )
    assert message(lambda: weighted_ce(torch.zeros(2), torch.zeros(2).long())) == (
        "logits must be a 2-D tensor of shape (B, K), got a 1-D tensor of shape (2,)"
    )
    assert message(lambda: weighted_ce(logits, torch.zeros(2, 1).long())) == (
        "targets must be a 1-D tensor of shape (B), got a 2-D tensor of shape (2, 1)"
    )
    assert message(lambda: weighted_ce(logits, torch.tensor([3, 4]))) == (
        "targets must be class indices in [0, 3) or -1 (missing), got [3, 4]"
    )
    assert message(lambda: weighted_ce(logits, torch.tensor([9, 8]))) == (
        "targets must be class indices in [0, 3) or -1 (missing), got [8, 9]"
    )
    assert message(lambda: weighted_ce(torch.zeros(6, 3), torch.tensor([9, 8, 7, 6, 5, 4]))) == (
        "targets must be class indices in [0, 3) or -1 (missing), got [4, 5, 6, 7, 8]"
    )
    assert message(lambda: weighted_ce(logits, torch.tensor([0, 1]), mask=torch.ones(3, dtype=torch.bool))) == (
        "mask and targets must have the same shape, got (3,) and (2,)"
    )
    for function in (ccc, ccc_loss):
        assert message(
            lambda f=function: f(torch.zeros(4, 2), torch.zeros(4, 2), mask=torch.ones(4, dtype=torch.bool))
        ) == ("mask and target must have the same shape, got (4,) and (4, 2)")
    assert message(lambda: ccc(torch.zeros(2, 2, 2), torch.zeros(2, 2, 2))) == (
        "pred must be a 1-D (N,) or 2-D (N, V) tensor, got shape (2, 2, 2)"
    )


def test_reductions_and_masks_by_their_values() -> None:
    g = _gen(11)
    logits = torch.randn(4, 3, generator=g)
    targets = torch.tensor([[1, 0, -1], [0, -1, 1], [1, 1, 0], [-1, 0, 0]])
    mask = torch.tensor([[True, True, True], [False, True, True], [True, True, True], [True, True, False]])
    pos_weight = torch.tensor([2.0, 0.5, 3.0])
    # -[p y log s(x) + (1 - y) log(1 - s(x))], written out; ignored entries are 0.
    y = targets.clamp(min=0).float()
    entry = -(pos_weight * y * F.logsigmoid(logits) + (1 - y) * F.logsigmoid(-logits))
    kept = (targets != -1) & mask
    expected = torch.where(kept, entry, torch.zeros_like(entry))
    got = weighted_bce(logits, targets, pos_weight, mask=mask, reduction="none")
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(weighted_bce(logits, targets, pos_weight, mask=mask, reduction="sum"), expected.sum())
    mean = weighted_bce(logits, targets, pos_weight, mask=mask)
    torch.testing.assert_close(mean, expected.sum() / kept.sum())
    # Expressions: the weighted losses over the labelled samples' weights.
    expr_logits = torch.randn(5, 4, generator=g)
    classes = torch.tensor([2, -1, 0, 3, 2])
    keep = torch.tensor([True, True, False, True, True])
    weight = torch.tensor([1.0, 2.0, 4.0, 0.5])
    nll = -torch.log_softmax(expr_logits, 1)[torch.arange(5), classes.clamp(min=0)]
    w = torch.where((classes != -1) & keep, weight[classes.clamp(min=0)], torch.zeros(5))
    torch.testing.assert_close(weighted_ce(expr_logits, classes, weight, mask=keep, reduction="none"), nll * w)
    torch.testing.assert_close(weighted_ce(expr_logits, classes, weight, mask=keep, reduction="sum"), (nll * w).sum())
    torch.testing.assert_close(weighted_ce(expr_logits, classes, weight, mask=keep), (nll * w).sum() / w.sum())
    # CCC: the masked entries leave, per column.
    pred, target = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    target[1, 0] = -5.0
    keep_va = torch.ones(8, 2, dtype=torch.bool)
    keep_va[[2, 5], 1] = False
    keep_va[6, 0] = False
    columns = [[0, 2, 3, 4, 5, 7], [0, 1, 3, 4, 6, 7]]
    for correction in (0, 1):
        value = ccc(pred, target, mask=keep_va, correction=correction)
        for v, rows in enumerate(columns):
            reference = _numpy_ccc(pred[rows, v].double().numpy(), target[rows, v].double().numpy(), ddof=correction)
            assert value[v].item() == pytest.approx(reference, abs=1e-6)
        torch.testing.assert_close(ccc_loss(pred, target, mask=keep_va, correction=correction), (1 - value).sum())
    # Another code for a missing label.
    coded = target.clone()
    coded[1, 0] = 9.0
    torch.testing.assert_close(ccc(pred, coded, missing=9.0), ccc(pred, target))
    torch.testing.assert_close(ccc_loss(pred, coded, missing=9.0), ccc_loss(pred, target))
    # A column without a labelled entry adds nothing (not 1 - 0).
    empty = target.clone()
    empty[:, 1] = -5.0
    torch.testing.assert_close(ccc_loss(pred, empty), 1 - ccc(pred[:, 0], target[:, 0]))
    keep_none = torch.ones(8, 2, dtype=torch.bool)
    keep_none[:, 0] = False
    torch.testing.assert_close(ccc_loss(pred, target, mask=keep_none), 1 - ccc(pred[:, 1], target[:, 1]))


def test_ccc_with_one_sample_and_unbiased_statistics_is_zero() -> None:
    # One labelled sample leaves no degree of freedom for correction=1: undefined, so 0.
    assert ccc(torch.tensor([0.4, 0.1]), torch.tensor([0.2, -5.0]), correction=1).item() == 0.0
    assert ccc_loss(torch.tensor([[0.4], [0.1]]), torch.tensor([[0.2], [-5.0]]), correction=1).item() == 1.0


def test_ccc_keeps_float64_and_computes_low_precision_in_float32() -> None:
    g = _gen(5)
    pred, target = torch.rand(50, generator=g) * 2 - 1, torch.rand(50, generator=g) * 2 - 1
    reference = _numpy_ccc(pred.double().numpy(), target.double().numpy())
    value = ccc(pred.double(), target.double())
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(reference, abs=1e-12)
    # bf16 inputs: the statistics in float32, on the bf16-rounded values.
    low, low_target = pred.bfloat16(), target.bfloat16()
    value = ccc(low, low_target)
    assert value.dtype == torch.float32
    exact = _numpy_ccc(low.double().numpy(), low_target.double().numpy())
    assert value.item() == pytest.approx(exact, abs=1e-6)
    weights = weighted_ce(torch.randn(6, 3, generator=g).double(), torch.tensor([0, 1, 2, 0, -1, 1]), torch.ones(3))
    assert weights.dtype == torch.float64
    # The loss follows the logits' dtype, whatever the class weights' (float64 from numpy, say).
    from_numpy = torch.from_numpy(np.array([1.0, 2.0, 0.5]))
    loss = weighted_ce(torch.randn(6, 3, generator=g), torch.tensor([0, 1, 2, 0, -1, 1]), from_numpy, reduction="none")
    assert loss.dtype == torch.float32


def test_multitask_loss_passes_each_option_to_its_term() -> None:
    g = _gen(21)
    au, expr, va = torch.randn(6, 4, generator=g), torch.randn(6, 3, generator=g), torch.randn(6, 2, generator=g)
    au_t = torch.randint(0, 2, (6, 4), generator=g)
    expr_t = torch.tensor([0, 1, 2, 0, 1, 2])
    va_t = torch.rand(6, 2, generator=g)
    pos_weight, weight = torch.tensor([3.0, 0.5, 1.0, 2.0]), torch.tensor([0.2, 1.0, 5.0])
    for correction in (0, 1):
        out = multitask_loss(
            au, au_t, expr, expr_t, va, va_t, au_pos_weight=pos_weight, expr_weight=weight, va_correction=correction
        )
        torch.testing.assert_close(out.au, weighted_bce(au, au_t, pos_weight))
        torch.testing.assert_close(out.expr, weighted_ce(expr, expr_t, weight))
        torch.testing.assert_close(out.va, ccc_loss(va, va_t, correction=correction))
    # Without options: unweighted terms and population statistics (the challenge metric's).
    plain = multitask_loss(au, au_t, expr, expr_t, va, va_t)
    torch.testing.assert_close(plain.au, F.binary_cross_entropy_with_logits(au, au_t.float()))
    torch.testing.assert_close(plain.expr, F.cross_entropy(expr, expr_t))
    expected_va = sum(1 - _numpy_ccc(va[:, v].double().numpy(), va_t[:, v].double().numpy()) for v in range(2))
    assert plain.va.item() == pytest.approx(expected_va, abs=1e-5)
    # The module: no weights and population statistics by default; weights kept as float32 buffers.
    module = MultiTaskLoss()
    assert (module.au_pos_weight, module.expr_weight, module.va_correction) == (None, None, 0)
    output = SimpleNamespace(au=au, expr=expr, va=va)
    for a, b in zip(module(output, au_t, expr_t, va_t), plain, strict=True):
        torch.testing.assert_close(a, b)
    weighted = MultiTaskLoss([3, 1, 1, 2], (1, 2, 5))  # integers given: float32 buffers
    assert weighted.au_pos_weight.dtype == weighted.expr_weight.dtype == torch.float32
    assert weighted.au_pos_weight.tolist() == [3.0, 1.0, 1.0, 2.0]
    assert weighted.expr_weight.tolist() == [1.0, 2.0, 5.0]
    assert MultiTaskLoss.abaw3().va_correction == 1
    assert MultiTaskLoss.abaw3(va_correction=0).va_correction == 0
