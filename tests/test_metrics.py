"""ABAW metrics against scikit-learn and a numpy CCC."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from smm.metrics import ABAWMetrics, abaw_scores, au_f1, expr_f1, va_ccc

seeds = st.integers(0, 2**16)


def _numpy_ccc(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) == 0:
        return 0.0
    den = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return 0.0 if den == 0 else float(2 * np.mean((x - x.mean()) * (y - y.mean())) / den)


def _data(seed: int, n: int, missing_rate: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    au_logits = torch.randn(n, 12, generator=g)
    au = torch.randint(0, 2, (n, 12), generator=g)
    au[torch.rand(n, 12, generator=g) < missing_rate] = -1
    expr_logits = torch.randn(n, 8, generator=g)
    expr = torch.randint(0, 8, (n,), generator=g)
    expr[torch.rand(n, generator=g) < missing_rate] = -1
    va_pred = torch.rand(n, 2, generator=g) * 2 - 1
    va = (va_pred + 0.5 * torch.randn(n, 2, generator=g)).clamp(-1, 1)
    va[torch.rand(n, generator=g) < missing_rate] = -5.0
    return au_logits, au, expr_logits, expr, va_pred, va


def _sklearn_scores(au_logits, au, expr_logits, expr, va_pred, va):
    per_au = []
    for h in range(au.shape[1]):
        keep = au[:, h] != -1
        if not keep.any():
            per_au.append(0.0)
            continue
        per_au.append(f1_score(au[keep, h], (torch.sigmoid(au_logits[keep, h]) > 0.5).int(), zero_division=0))
    keep = expr != -1
    macro = 0.0
    if keep.any():
        macro = f1_score(
            expr[keep], expr_logits[keep].argmax(1), labels=list(range(8)), average="macro", zero_division=0
        )
    keep_va = va[:, 0] != -5
    cccs = [_numpy_ccc(va_pred[keep_va, d].double().numpy(), va[keep_va, d].double().numpy()) for d in range(2)]
    return np.array(per_au), macro, cccs


@given(seeds, st.integers(1, 60))
def test_scores_match_sklearn_and_numpy(seed: int, n: int) -> None:
    data = _data(seed, n)
    scores = abaw_scores(*data)
    per_au, macro, cccs = _sklearn_scores(*data)
    np.testing.assert_allclose(scores.au_f1, per_au, atol=1e-12)
    assert scores.p_au == pytest.approx(per_au.mean(), abs=1e-12)
    assert scores.p_expr == pytest.approx(macro, abs=1e-12)
    assert scores.ccc_valence == pytest.approx(cccs[0], abs=1e-9)
    assert scores.ccc_arousal == pytest.approx(cccs[1], abs=1e-9)
    assert scores.p_va == pytest.approx(np.mean(cccs), abs=1e-9)
    assert scores.p_mtl == pytest.approx(per_au.mean() + macro + np.mean(cccs), abs=1e-9)


@given(seeds, st.lists(st.integers(1, 20), min_size=1, max_size=6))
def test_accumulated_equals_concatenated(seed: int, sizes: list[int]) -> None:
    data = _data(seed, sum(sizes))
    metric = ABAWMetrics()
    start = 0
    for size in sizes:
        metric.update(*(t[start : start + size] for t in data))
        start += size
    accumulated = metric.compute()
    whole = abaw_scores(*data)
    assert accumulated.au_f1 == whole.au_f1
    assert accumulated.p_expr == whole.p_expr
    assert accumulated.ccc_valence == pytest.approx(whole.ccc_valence, abs=1e-12)
    assert accumulated.ccc_arousal == pytest.approx(whole.ccc_arousal, abs=1e-12)


def test_merge_equals_one_accumulator() -> None:
    data = _data(7, 50)
    one, a, b = ABAWMetrics(), ABAWMetrics(), ABAWMetrics()
    one.update(*data)
    a.update(*(t[:20] for t in data))
    b.update(*(t[20:] for t in data))
    a.merge(b)
    assert a.compute().p_mtl == pytest.approx(one.compute().p_mtl, abs=1e-12)


def test_class_never_present_counts_as_zero() -> None:
    logits = torch.full((4, 8), -1.0)
    logits[:, 0] = 1.0  # always predicts class 0
    targets = torch.tensor([0, 0, 1, 1])
    expected = f1_score(targets, logits.argmax(1), labels=list(range(8)), average="macro", zero_division=0)
    assert expr_f1(logits, targets) == pytest.approx(expected)
    assert expected == pytest.approx((2 / 3) / 8)


def test_all_predictions_one_class_for_aus() -> None:
    targets = torch.tensor([[1, 0], [0, 0], [1, 0]])
    predictions = torch.ones(3, 2, dtype=torch.int64)
    got = au_f1(predictions, targets, inputs="labels")
    torch.testing.assert_close(got, torch.tensor([f1_score([1, 0, 1], [1, 1, 1]), 0.0], dtype=torch.float64))


def test_constant_predictions_give_zero_ccc_not_nan() -> None:
    targets = torch.tensor([[0.1, 0.2], [0.4, -0.3], [-0.5, 0.9]])
    got = va_ccc(torch.zeros(3, 2), targets)
    torch.testing.assert_close(got, torch.zeros(2, dtype=torch.float64))
    metric = ABAWMetrics()
    metric.update(va_preds=torch.full((3, 2), 0.3), va_targets=targets)
    assert metric.compute().p_va == 0.0


def test_everything_missing_is_zero_not_nan() -> None:
    n = 5
    scores = abaw_scores(
        torch.randn(n, 12), torch.full((n, 12), -1), torch.randn(n, 8), torch.full((n,), -1),
        torch.randn(n, 2), torch.full((n, 2), -5.0),
    )  # fmt: skip
    assert scores.p_au == 0.0
    assert scores.p_expr == 0.0
    assert scores.p_va == 0.0
    assert ABAWMetrics().compute().p_mtl == 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"targets must be in \[0, 8\) or -1, got \[0, 9\]"):
        expr_f1(torch.randn(2, 8), torch.tensor([0, 9]))
    with pytest.raises(ValueError, match=r"preds must have 8 columns"):
        expr_f1(torch.randn(2, 7), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"targets and preds must have the same shape"):
        au_f1(torch.randn(2, 12), torch.zeros(2, 11))


def test_au_inputs_are_explicit() -> None:
    targets = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]])
    probs = torch.tensor([[0.9, 0.2], [0.4, 0.6], [0.7, 0.3], [0.5, 0.1]])
    decisions = (probs > 0.5).long()
    expected = [f1_score(targets[:, h], decisions[:, h]) for h in range(2)]
    np.testing.assert_allclose(au_f1(probs, targets, inputs="probs"), expected)
    np.testing.assert_allclose(au_f1(torch.logit(probs.double()), targets), expected)  # "logits" is the default
    np.testing.assert_allclose(au_f1(decisions, targets, inputs="labels"), expected)
    np.testing.assert_allclose(au_f1(decisions.bool(), targets, inputs="labels"), expected)
    # probabilities read as logits would call every AU positive: the explicit option is what makes this right
    assert au_f1(probs, targets, inputs="probs").tolist() != au_f1(probs, targets).tolist()
    with pytest.raises(ValueError, match=r"preds must be probabilities in \[0, 1\] with inputs='probs', got 1\.5"):
        au_f1(torch.tensor([[1.5, 0.2]]), targets[:1], inputs="probs")
    with pytest.raises(ValueError, match=r"preds must be 0/1 labels with inputs='labels', got 0\.75"):
        au_f1(torch.tensor([[0.75, 0.0]]), targets[:1], inputs="labels")
    with pytest.raises(ValueError, match=r"floating point with inputs='logits', got dtype torch.int64"):
        au_f1(decisions, targets)
    with pytest.raises(ValueError, match=r"inputs must be one of \('logits', 'probs', 'labels'\), got 'prob'"):
        au_f1(probs, targets, inputs="prob")
    with pytest.raises(ValueError, match=r"au_inputs must be one of"):
        ABAWMetrics(au_inputs="scores")


def test_au_threshold_at_exactly_half_is_negative() -> None:
    targets = torch.tensor([[1], [0]])
    half = torch.tensor([[0.5], [0.5]])
    assert au_f1(half, targets, inputs="probs").item() == 0.0  # 0.5 is not > 0.5
    assert au_f1(torch.zeros(2, 1), targets).item() == 0.0  # sigmoid(0) = 0.5
    assert au_f1(half, targets, inputs="probs", threshold=0.4).item() == pytest.approx(2 / 3)
    metric = ABAWMetrics(num_aus=1, au_inputs="probs", threshold=0.4)
    metric.update(au_preds=half, au_targets=targets)
    assert metric.compute().p_au == pytest.approx(2 / 3)


def test_predicted_classes_are_range_checked() -> None:
    targets = torch.tensor([0, 1, 1, 2])
    assert expr_f1(torch.tensor([0, 1, 1, 2]), targets) == pytest.approx(
        f1_score(targets, [0, 1, 1, 2], labels=list(range(8)), average="macro", zero_division=0)
    )
    with pytest.raises(ValueError, match=r"preds must be class indices in \[0, 8\), got 8"):
        expr_f1(torch.tensor([8, 1, 1, 2]), targets)
    with pytest.raises(ValueError, match=r"preds must be class indices in \[0, 8\), got -1"):
        expr_f1(torch.tensor([-1, 1, 1, 2]), targets)
    with pytest.raises(
        ValueError, match=r"preds of shape \(N,\) must be integer class indices, got dtype torch.float32"
    ):
        expr_f1(torch.tensor([0.0, 1.0, 1.0, 2.0]), targets)


def test_macro_f1_counts_absent_classes_unlike_sklearn_default() -> None:
    targets, preds = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
    challenge = f1_score(targets, preds, labels=list(range(8)), average="macro", zero_division=0)
    published_validation = f1_score(targets, preds, average="macro")  # only classes 0, 1, 2
    assert expr_f1(preds, targets) == pytest.approx(challenge)
    assert published_validation == pytest.approx(challenge * 8 / 3)


def _batch(seed: int, n: int = 40) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    au_targets = torch.randint(-1, 2, (n, 12), generator=g)
    expr_targets = torch.randint(-1, 8, (n,), generator=g)
    va_targets = torch.rand(n, 2, generator=g) * 2 - 1
    va_targets[torch.rand(n, generator=g) < 0.2] = -5.0
    return {
        "au_preds": torch.randn(n, 12, generator=g),
        "au_targets": au_targets,
        "expr_preds": torch.randn(n, 8, generator=g),
        "expr_targets": expr_targets,
        "va_preds": torch.randn(n, 2, generator=g) * 0.5,
        "va_targets": va_targets,
    }


def _sync_worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        metric = ABAWMetrics()
        metric.update(**_batch(10 + rank, n=30 + 17 * rank))  # unequal shares
        synced = metric.sync()
        torch.save({"scores": synced.compute(), "mine": metric.compute()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_sync_merges_processes_with_collectives(tmp_path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_sync_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "out")), nprocs=2, join=True)
    whole = ABAWMetrics()
    whole.update(**_batch(10, n=30))
    whole.update(**_batch(11, n=47))
    expected = whole.compute()
    for rank in (0, 1):
        got = torch.load(f"{tmp_path / 'out'}.{rank}", weights_only=False)
        assert got["scores"].au_f1 == pytest.approx(expected.au_f1, abs=1e-12)
        assert got["scores"].p_expr == pytest.approx(expected.p_expr, abs=1e-12)
        assert got["scores"].ccc_valence == pytest.approx(expected.ccc_valence, abs=1e-12)
        assert got["scores"].ccc_arousal == pytest.approx(expected.ccc_arousal, abs=1e-12)
        assert got["mine"].p_mtl != pytest.approx(expected.p_mtl)  # each process alone sees only its share
    single = ABAWMetrics()
    single.update(**_batch(3))
    assert single.sync().compute() == single.compute()  # without a process group: a copy


def test_update_keeps_the_state_where_the_predictions_are(monkeypatch: pytest.MonkeyPatch) -> None:
    metric = ABAWMetrics()
    batch = _batch(4)

    def no_copy(self, *args, **kwargs):
        raise AssertionError("update copied a tensor to the CPU")

    monkeypatch.setattr(torch.Tensor, "cpu", no_copy)
    metric.update(**batch)
    metric.update(**_batch(5))
    monkeypatch.undo()
    assert metric.device == batch["au_preds"].device
    assert metric.au_counts.device == metric.expr_counts.device == metric.va_moments.n.device
    reference = abaw_scores(*(torch.cat([_batch(4)[k], _batch(5)[k]]) for k in batch))
    assert metric.compute().p_mtl == pytest.approx(reference.p_mtl, abs=1e-12)
    moved = metric.to("meta")
    assert moved is metric
    assert metric.au_counts.device.type == "meta"
    assert metric.va_moments.sxy.device.type == "meta"


def test_every_option_and_edge_by_value() -> None:
    from smm.metrics import au_confusion, expr_confusion

    targets = torch.tensor([[1, 0], [0, 1], [1, -1], [0, 0]])
    probs = torch.tensor([[0.9, 0.2], [0.4, 0.6], [0.7, 0.8], [0.0, 1.0]])  # 0 and 1 are probabilities
    # Rows TP, FP, FN counted by hand over the labelled entries.
    counts = [[2, 1], [0, 1], [0, 0]]
    assert au_confusion(probs, targets, inputs="probs").tolist() == counts
    assert au_confusion(torch.logit(probs.double(), eps=1e-6), targets).tolist() == counts  # logits, at 0.5
    assert au_confusion(probs, targets, inputs="probs", threshold=0.65).tolist() == [[2, 0], [0, 1], [0, 1]]
    assert au_confusion(probs, targets, inputs="probs").dtype == torch.int64
    # Another code for a missing label, in each function that takes one.
    coded = torch.where(targets == -1, 7, targets)  # predicted positive: a false positive if it were counted
    assert au_f1(probs, coded, inputs="probs", missing=7).tolist() == [1.0, pytest.approx(2 / 3)]
    classes, guesses = torch.tensor([0, 2, -2, 1]), torch.tensor([0, 2, 1, 1])
    assert expr_f1(guesses, classes, 3, missing=-2) == pytest.approx(1.0)  # the one wrong guess is unlabelled
    assert expr_confusion(guesses, classes, 3, missing=-2).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match=r"^targets must be in \[0, 3\) or -1, got \[0, 1, 3\]$"):
        expr_f1(guesses, torch.tensor([0, 3, 1, 1]), 3)  # the class count itself is out of range
    # Messages name the argument, word for word.
    for call, words in (
        (lambda: au_f1(torch.zeros(4), torch.zeros(4)), "preds must be a 2-D tensor of shape (N, H), got a 1-D "
         "tensor of shape (4,)"),
        (lambda: au_f1(torch.zeros(2, 2).long(), targets[:2], inputs="probs"), "preds must be floating point with "
         "inputs='probs', got dtype torch.int64 (0/1 decisions? pass inputs='labels')"),
        (lambda: au_f1(torch.tensor([[-0.5, 0.2]]), targets[:1], inputs="probs"), "preds must be probabilities in "
         "[0, 1] with inputs='probs', got -0.5 (logits? pass inputs='logits')"),
        (lambda: expr_f1(torch.zeros(2, 1, 1).long(), torch.zeros(2).long()), "preds must be a 1-D tensor of shape "
         "(N), got a 3-D tensor of shape (2, 1, 1)"),
        (lambda: expr_f1(torch.zeros(3).long(), torch.zeros(2).long()), "targets and preds must have the same shape, "
         "got (2,) and (3,)"),
        (lambda: va_ccc(torch.zeros(4), torch.zeros(4)), "preds must be a 2-D tensor of shape (N, V), got a 1-D "
         "tensor of shape (4,)"),
        (lambda: va_ccc(torch.zeros(4, 2), torch.zeros(4, 1)), "targets and preds must have the same shape, got "
         "(4, 1) and (4, 2)"),
        (lambda: ABAWMetrics().update(va_preds=torch.zeros(4, 2), va_targets=torch.zeros(3, 2)), "va_targets and "
         "va_preds must have the same shape, got (3, 2) and (4, 2)"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=f"^{re.escape(words)}$"):
            call()


def test_abaw_scores_passes_its_options_and_counts_the_classes_given() -> None:
    g = torch.Generator().manual_seed(4)
    au_probs = torch.rand(30, 3, generator=g)
    au = torch.randint(0, 2, (30, 3), generator=g)
    expr_logits = torch.randn(30, 5, generator=g)
    expr = torch.randint(0, 3, (30,), generator=g)  # classes 3 and 4 never labelled
    va_pred, va = torch.rand(30, 2, generator=g), torch.rand(30, 2, generator=g)
    scores = abaw_scores(au_probs, au, expr_logits, expr, va_pred, va, au_inputs="probs", threshold=0.3)
    expected_au = [f1_score(au[:, h], (au_probs[:, h] > 0.3).int(), zero_division=0) for h in range(3)]
    np.testing.assert_allclose(scores.au_f1, expected_au)
    # Macro F1 over the 5 classes of the scores' columns, then over the 8 expressions for class indices.
    guesses = expr_logits.argmax(1)
    for expr_preds, labels in ((expr_logits, range(5)), (guesses, range(8))):
        got = abaw_scores(au_probs, au, expr_preds, expr, va_pred, va, au_inputs="probs").p_expr
        wanted = f1_score(expr, guesses, labels=list(labels), average="macro", zero_division=0)
        assert got == pytest.approx(wanted)


def test_state_is_exact_counts_and_sync_keeps_the_options() -> None:
    metric = ABAWMetrics(num_aus=2, num_classes=3, va_dim=1, au_inputs="probs", threshold=0.3)
    assert metric.au_counts.dtype == metric.expr_counts.dtype == torch.int64
    assert metric.au_counts.tolist() == [[0, 0]] * 3
    metric.update(
        torch.tensor([[0.4, 0.2], [0.1, 0.9]]), torch.tensor([[1, 0], [0, 1]]),
        torch.tensor([0, 2]), torch.tensor([0, 1]),
        torch.tensor([[0.1], [0.5], [0.2]]), torch.tensor([[0.2], [0.4], [-5.0]]),
    )  # fmt: skip
    scores = metric.compute()
    assert scores.au_f1 == (1.0, 1.0)  # 0.4 > 0.3
    assert np.isnan(scores.ccc_arousal)  # one VA dimension: no arousal
    assert scores.p_va == scores.ccc_valence == pytest.approx(_numpy_ccc(np.array([0.1, 0.5]), np.array([0.2, 0.4])))
    synced = metric.sync()  # one process: a copy that behaves the same
    assert (synced.num_aus, synced.num_classes, synced.va_dim) == (2, 3, 1)
    assert (synced.au_inputs, synced.threshold) == ("probs", 0.3)
    again = synced.compute()
    assert np.isnan(again.ccc_arousal)
    assert again._replace(ccc_arousal=0.0) == scores._replace(ccc_arousal=0.0)
    metric.reset()
    assert metric.au_counts.dtype == metric.expr_counts.dtype == torch.int64
    assert metric.compute().p_mtl == 0.0


def test_the_state_stays_on_its_device_through_reset_merge_and_sync() -> None:
    # The meta device stands in for a GPU: no data, but every tensor says where it is.
    metric = ABAWMetrics().to("meta")
    assert (metric.expr_counts.device.type, metric.va_moments.n.device.type) == ("meta", "meta")
    metric.reset()
    assert metric.au_counts.device.type == metric.expr_counts.device.type == "meta"
    assert all(getattr(metric.va_moments, name).device.type == "meta" for name in metric.va_moments.FIELDS)
    metric.merge(ABAWMetrics())  # a CPU accumulator's state is moved here
    assert metric.au_counts.device.type == metric.expr_counts.device.type == metric.va_moments.sxy.device.type == "meta"
    total = metric.sync()
    assert total.au_counts.device.type == total.expr_counts.device.type == "meta"
    # Targets are moved to the predictions' device.
    fresh = ABAWMetrics()
    fresh.update(va_preds=torch.empty(4, 2, device="meta"), va_targets=torch.zeros(4, 2))
    assert all(getattr(fresh.va_moments, name).device.type == "meta" for name in fresh.va_moments.FIELDS)


def test_sync_hands_its_group_to_every_collective(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    seen: list[tuple[str, object]] = []
    group = object()

    def world_size(g: object = None) -> int:
        seen.append(("get_world_size", g))
        return 2

    def all_reduce(tensor: torch.Tensor, group: object = None) -> None:
        seen.append(("all_reduce", group))
        tensor.mul_(2)  # the other process holds the same counts

    def all_gather(parts: list[torch.Tensor], tensor: torch.Tensor, group: object = None) -> None:
        seen.append(("all_gather", group))
        for part in parts:
            part.copy_(tensor)

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", world_size)
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "all_gather", all_gather)
    metric = ABAWMetrics()
    metric.update(**_batch(2))
    total = metric.sync(group)
    assert all(g is group for _, g in seen)
    assert {name for name, _ in seen} == {"get_world_size", "all_reduce", "all_gather"}
    assert torch.equal(total.au_counts, 2 * metric.au_counts)
    assert torch.equal(total.va_moments.n, 2 * metric.va_moments.n)
