"""Plot helpers render non-blank images of the expected size (Agg backend)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib", reason="matplotlib missing: pip install 'smm-emotionnet[viz]'")

from matplotlib.backends.backend_agg import FigureCanvasAgg

from smm import viz

REGIONS = ("AU1", "AU2", "AU4", "AU6", "AU7")
CLASSES = ("Neutral", "Anger", "Happiness")


def _render(figure) -> np.ndarray:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"
    return pixels


def _assert_not_blank(pixels: np.ndarray) -> None:
    assert pixels.std() > 5  # a blank canvas is one colour
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 50


def test_plot_attention() -> None:
    g = torch.Generator().manual_seed(0)
    figure = viz.plot_attention(torch.randn(3, 64, 64, generator=g), torch.rand(5, 8, 8, generator=g), REGIONS, ncols=3)
    pixels = _render(figure)
    width, height = figure.get_size_inches() * figure.dpi
    assert pixels.shape == (round(height), round(width), 4)
    _assert_not_blank(pixels)
    assert [a.get_title() for a in figure.axes if a.get_title()] == list(REGIONS)


def test_plot_region_votes_and_va() -> None:
    g = torch.Generator().manual_seed(1)
    votes = _render(viz.plot_region_votes(torch.randn(5, 3, generator=g), REGIONS, CLASSES))
    _assert_not_blank(votes)
    va = torch.rand(5, 2, generator=g) * 2 - 1
    figure = viz.plot_va(va.numpy(), REGIONS)
    _assert_not_blank(_render(figure))
    assert figure.get_size_inches().tolist() == [5.5, 5.5]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"region_names must have 5 names \(one per attention map\), got 2"):
        viz.plot_attention(np.zeros((8, 8, 3)), np.zeros((5, 4, 4)), ("a", "b"))
    with pytest.raises(ValueError, match=r"attention must be \(U, h, w\) for one image, got shape \(2, 5, 4, 4\)"):
        viz.plot_attention(np.zeros((8, 8, 3)), np.zeros((2, 5, 4, 4)), REGIONS)
    with pytest.raises(ValueError, match=r"class_names must have 4 names"):
        viz.plot_region_votes(np.zeros((5, 4)), REGIONS, CLASSES)
    with pytest.raises(ValueError, match=r"region_va must be \(U, 2\)"):
        viz.plot_va(np.zeros((5, 3)), REGIONS)
    with pytest.raises(TypeError, match=r"image must be a torch.Tensor or numpy array, got list"):
        viz.plot_attention([[0]], np.zeros((5, 4, 4)), REGIONS)
