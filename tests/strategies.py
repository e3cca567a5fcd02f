"""Hypothesis strategies for head sizes."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Sizes:
    batch: int
    channels: int
    height: int
    width: int
    regions: int
    labelled: int
    dim: int
    nhead: int
    seed: int


@st.composite
def sizes(draw: st.DrawFn, min_batch: int = 1) -> Sizes:
    regions = draw(st.integers(1, 6))
    nhead = draw(st.sampled_from([1, 2, 4]))
    return Sizes(
        batch=draw(st.integers(min_batch, 4)),
        channels=draw(st.integers(1, 12)),
        height=draw(st.integers(1, 7)),
        width=draw(st.integers(1, 7)),
        regions=regions,
        labelled=draw(st.integers(1, regions)),
        dim=nhead * draw(st.integers(1, 4)) * 2,  # even, for the sinusoidal encoding
        nhead=nhead,
        seed=draw(st.integers(0, 2**16)),
    )
