"""Temporal smoothing against the plain recursion, and the choice of alpha."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from smm import MessageSpaceHead, SignVehicleHead
from smm.metrics import expr_f1
from smm.temporal import choose_alpha, exponential_smoothing, smoothing_strengths


def _recursion(features: torch.Tensor, alpha: float) -> torch.Tensor:
    out = torch.empty_like(features)
    out[0] = features[0]
    for t in range(1, len(features)):
        out[t] = (alpha * out[t - 1] + features[t]) / (1 + alpha)
    return out


@given(
    st.integers(1, 700), st.sampled_from([0.0, 0.3, 1.0, 7.0, 10.0, 50.0]), st.integers(0, 2**16), st.integers(2, 70)
)
def test_matches_plain_recursion(length: int, alpha: float, seed: int, chunk: int) -> None:
    features = torch.randn(length, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(exponential_smoothing(features, alpha, chunk=chunk), _recursion(features, alpha))


def test_float32_long_video() -> None:
    features = torch.randn(20_000, 16, generator=torch.Generator().manual_seed(0))
    expected = _recursion(features.double(), 9.0)
    torch.testing.assert_close(exponential_smoothing(features, 9.0).double(), expected, atol=1e-5, rtol=1e-5)


def test_edge_cases() -> None:
    x = torch.randn(10, 4)
    torch.testing.assert_close(exponential_smoothing(x, 0.0), x)  # alpha 0: identity
    constant = torch.full((50, 3), 2.5)
    torch.testing.assert_close(exponential_smoothing(constant, 8.0), constant)  # fixed point
    single = torch.randn(1, 5)
    torch.testing.assert_close(exponential_smoothing(single, 8.0), single)
    for bad in (-1.0, float("nan"), float("inf"), True, "7"):
        with pytest.raises(ValueError, match=rf"^alpha must be a finite number >= 0, got {bad!r}$".replace("(", r"\(")):
            exponential_smoothing(x, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^alpha\['VA'\] must be a finite number >= 0, got inf$"):
        smoothing_strengths({"VA": float("inf")})
    with pytest.raises(ValueError, match=r"^alpha must be a finite number >= 0, got nan$"):
        smoothing_strengths(float("nan"))
    assert smoothing_strengths(0) == {"AU": 0, "EXPR": 0, "VA": 0}  # 0 is no smoothing, and allowed
    assert smoothing_strengths(None) == {"AU": None, "EXPR": None, "VA": None}
    assert smoothing_strengths("published") == {"AU": 7, "EXPR": 9, "VA": 9}
    huge = exponential_smoothing(x, 1e6)  # very strong, still finite: close to the first frame throughout
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge[-1], x[0], atol=1e-3 * float(x.abs().max()) * 10, rtol=0)
    with pytest.raises(ValueError, match=r"at least one frame"):
        exponential_smoothing(torch.empty(0, 3), 1.0)


@given(st.integers(1, 200), st.floats(0, 20), st.integers(0, 2**16))
def test_smoothing_features_equals_smoothing_scores(length: int, alpha: float, seed: int) -> None:
    torch.manual_seed(seed)
    sign = SignVehicleHead(8, 5, 3, nhead=2).double()
    message = MessageSpaceHead(8, 5).double()
    g = torch.Generator().manual_seed(seed)
    au_features = torch.randn(length, 3, 8, dtype=torch.float64, generator=g)
    messages = torch.randn(length, 8, dtype=torch.float64, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(
            sign.classify(exponential_smoothing(au_features, alpha)),
            exponential_smoothing(sign.classify(au_features), alpha),
        )
        torch.testing.assert_close(
            message.classify(exponential_smoothing(messages, alpha))[0],
            exponential_smoothing(message.classify(messages)[0], alpha),
        )


def test_choose_alpha_prefers_smoothing_for_noisy_constant_labels() -> None:
    g = torch.Generator().manual_seed(0)
    features, labels = [], []
    for video in range(6):
        label = video % 3
        clean = torch.nn.functional.one_hot(torch.full((80,), label), 3).double()
        features.append(clean + 1.5 * torch.randn(80, 3, dtype=torch.float64, generator=g))
        labels.append(torch.full((80,), label))
    result = choose_alpha(features, labels, lambda f, y: expr_f1(f, y, 3), candidates=(0, 4, 9))
    assert result.alpha == 9
    assert set(result.scores) == {0, 4, 9}
    assert all(len(s) == 3 for s in result.scores.values())
    assert sum(result.scores[9]) > sum(result.scores[0])
    with pytest.raises(ValueError, match=r"need at least folds=3 videos, got 2"):
        choose_alpha(features[:2], labels[:2], lambda f, y: 0.0)


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_small_chunks_match_the_recursion(chunk: int) -> None:
    features = torch.randn(17, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(chunk))
    torch.testing.assert_close(exponential_smoothing(features, 7.0, chunk=chunk), _recursion(features, 7.0))


@pytest.mark.parametrize("chunk", [0, -3, 2.5, True])
def test_bad_chunk_is_a_value_error(chunk: object) -> None:
    with pytest.raises(ValueError, match=r"chunk must be a positive integer"):
        exponential_smoothing(torch.randn(5, 2), 7.0, chunk=chunk)


def _published_three_cv(features, labels, score, candidates):
    """The published procedure, re-written: contiguous thirds; pick on two, report on the third."""
    n = len(features)
    splits = [list(range(0, n // 3)), list(range(n // 3, 2 * n // 3)), list(range(2 * n // 3, n))]
    chosen, held_out = [], []
    for train_ids, val_id in zip([[1, 2], [0, 2], [0, 1]], [0, 1, 2], strict=True):
        train = splits[train_ids[0]] + splits[train_ids[1]]

        def metric(videos, alpha):
            smoothed = [_recursion(features[i], alpha) for i in videos]
            return score(torch.cat(smoothed), torch.cat([labels[i] for i in videos]))

        scores = [metric(train, a) for a in candidates]
        best = candidates[int(np.argmax(scores))]
        chosen.append(best)
        held_out.append(metric(splits[val_id], best))
    return chosen, held_out


def test_choose_alpha_published_scheme_matches_the_published_procedure() -> None:
    g = torch.Generator().manual_seed(3)
    features, labels = [], []
    for video in range(8):
        noise = 0.5 + video * 0.3  # later videos noisier: folds differ
        label = video % 3
        clean = torch.nn.functional.one_hot(torch.full((40,), label), 3).double()
        features.append(clean + noise * torch.randn(40, 3, dtype=torch.float64, generator=g))
        labels.append(torch.full((40,), label))
    score = lambda f, y: expr_f1(f, y, 3)  # noqa: E731
    candidates = (0.0, 1.0, 3.0, 9.0)
    result = choose_alpha(features, labels, score, candidates=candidates)
    chosen, held_out = _published_three_cv(features, labels, score, list(candidates))
    assert list(result.fold_alpha) == chosen
    np.testing.assert_allclose(result.held_out, held_out)
    assert result.alpha == max(candidates, key=lambda a: (chosen.count(a), np.mean(result.scores[a])))
    interleaved = choose_alpha(features, labels, score, candidates=candidates, scheme="interleaved")
    assert interleaved.fold_alpha == ()
    assert interleaved.held_out == ()
    with pytest.raises(ValueError, match=r"scheme must be 'published' or 'interleaved'"):
        choose_alpha(features, labels, score, scheme="random")


def _scripted_selection(table: dict[float, list[float]], candidates: tuple[float, ...]) -> Any:
    """choose_alpha over three one-video folds whose scores are ``table[alpha][held-out fold]``, read back from the
    smoothed features (every video is frames 1, 0: its second frame is alpha / (1 + alpha)) and the labels (each
    video's frames carry its number)."""
    features = [torch.tensor([[1.0], [0.0]], dtype=torch.float64) for _ in range(3)]
    labels = [torch.full((2,), video) for video in range(3)]

    def score(smoothed: torch.Tensor, videos: torch.Tensor) -> float:
        ratio = float(smoothed[1, 0])
        alpha = min(candidates, key=lambda a: abs(a / (1 + a) - ratio))
        present = set(videos.tolist())
        if len(present) == 1:  # a held-out fold scored with its own choice
            return 0.0
        (held,) = {0, 1, 2} - present
        return table[alpha][held]

    return choose_alpha(features, labels, score, candidates=candidates, folds=3)


def test_the_published_choice_is_the_fold_vote_even_where_the_best_mean_disagrees() -> None:
    # Alpha 1 wins two folds narrowly, alpha 3 one fold widely: the vote says 1, the mean says 3.
    table = {1.0: [0.50, 0.50, 0.10], 3.0: [0.49, 0.49, 0.90]}
    published = _scripted_selection(table, (1.0, 3.0))
    assert published.fold_alpha == (1.0, 1.0, 3.0)
    assert published.scores == table
    assert np.mean(table[3.0]) > np.mean(table[1.0])
    assert published.alpha == 1.0  # most folds, not the best mean
    # A tie in votes goes to the better mean ...
    tied = {1.0: [0.50, 0.10, 0.30], 3.0: [0.49, 0.90, 0.30], 7.0: [0.0, 0.0, 0.31]}
    published = _scripted_selection(tied, (1.0, 3.0, 7.0))
    assert published.fold_alpha == (1.0, 3.0, 7.0)
    assert published.alpha == 3.0  # one vote each; 3's mean 0.563 is the best
    # ... and a tie in votes and mean to the earlier candidate.
    even = {3.0: [0.6, 0.2, 0.0], 1.0: [0.2, 0.6, 0.0], 7.0: [0.0, 0.0, 0.1]}
    published = _scripted_selection(even, (3.0, 1.0, 7.0))
    assert published.fold_alpha == (3.0, 1.0, 7.0)
    assert published.alpha == 3.0


def test_interleaved_folds_take_every_folds_th_video_and_the_best_mean_wins() -> None:
    # Seven videos in three interleaved folds: 0 3 6 | 1 4 | 2 5. Each fold's score is scripted from the videos it
    # holds; the smaller alpha has the better mean, so taking the largest candidate would be wrong.
    candidates = (1.0, 3.0)
    features = [torch.tensor([[1.0], [0.0]], dtype=torch.float64) for _ in range(7)]
    labels = [torch.full((2,), video) for video in range(7)]
    table = {1.0: 0.5, 3.0: 0.1}

    def score(smoothed: torch.Tensor, videos: torch.Tensor) -> float:
        ratio = float(smoothed[1, 0])
        alpha = min(candidates, key=lambda a: abs(a / (1 + a) - ratio))
        return table[alpha] + 0.01 * sum(set(videos.tolist()))

    result = choose_alpha(features, labels, score, candidates=candidates, folds=3, scheme="interleaved")
    folds = [{0, 3, 6}, {1, 4}, {2, 5}]
    assert result.scores == {a: pytest.approx([table[a] + 0.01 * sum(f) for f in folds]) for a in candidates}
    assert result.alpha == 1.0
    assert (result.fold_alpha, result.held_out) == ((), ())
    table = {1.0: 0.1, 3.0: 0.5}  # and the other way round
    assert choose_alpha(features, labels, score, candidates=candidates, scheme="interleaved").alpha == 3.0


def test_choose_alpha_says_what_it_expected() -> None:
    features = [torch.zeros(2, 1) for _ in range(4)]
    labels = [torch.zeros(2) for _ in range(4)]
    with pytest.raises(ValueError, match=r"^features and labels must list the same videos, got 4 and 3$"):
        choose_alpha(features, labels[:3], lambda f, y: 0.0)
    for bad in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match=rf"^folds must be an integer >= 2, got {bad!r}$"):
            choose_alpha(features, labels, lambda f, y: 0.0, folds=bad)  # type: ignore[arg-type]
    assert len(choose_alpha(features, labels, lambda f, y: 0.0, folds=2, candidates=(0.0,)).fold_alpha) == 2
    with pytest.raises(ValueError, match=r"^candidates must name at least one alpha$"):
        choose_alpha(features, labels, lambda f, y: 0.0, candidates=())


def test_smoothing_strengths_says_what_it_expected() -> None:
    with pytest.raises(ValueError, match=r"^alpha must be a number, a mapping, 'published' or None, got 'strong'$"):
        smoothing_strengths("strong")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^alpha keys must be among \('AU', 'EXPR', 'VA'\), got \['au', 'valence'\]$"):
        smoothing_strengths({"au": 1.0, "valence": 2.0, "VA": 3.0})
    assert smoothing_strengths({"VA": 3.0}) == {"AU": None, "EXPR": None, "VA": 3.0}


@pytest.mark.parametrize("length", [5, 64, 65, 200])
def test_float64_is_smoothed_in_float64(length: int) -> None:
    # The decay powers are taken in the features' dtype: float32 powers would be off by ~1e-8 of the first frame.
    features = 1e3 * torch.randn(length, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(length))
    torch.testing.assert_close(exponential_smoothing(features, 9.0), _recursion(features, 9.0), rtol=1e-12, atol=1e-9)


def test_one_score_per_frame_and_a_scalar() -> None:
    scores = torch.randn(30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(exponential_smoothing(scores, 4.0), _recursion(scores, 4.0))
    with pytest.raises(ValueError, match=r"^features must have at least one frame along dim 0, got shape \(\)$"):
        exponential_smoothing(torch.tensor(1.0), 4.0)


@pytest.mark.parametrize("length", [50, 200])  # one block, and several
def test_smoothing_stays_on_the_features_device(length: int) -> None:
    # The meta device stands in for a GPU: every constant the scan makes must be made where the features are.
    smoothed = exponential_smoothing(torch.empty(length, 3, device="meta"), 9.0)
    assert (smoothed.device.type, smoothed.shape) == ("meta", (length, 3))
