"""Plot helpers render non-blank images of the expected size (Agg backend)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib", reason="matplotlib missing: pip install 'smm-emotionnet[viz]'")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

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
    # Titles carry the FACS names (written out here, not taken from the library).
    assert [a.get_title() for a in figure.axes if a.get_title()] == [
        "AU1\nInner brow raiser",
        "AU2\nOuter brow raiser",
        "AU4\nBrow lowerer",
        "AU6\nCheek raiser",
        "AU7\nLid tightener",
    ]
    overlays = [a.get_images()[1] for a in figure.axes if len(a.get_images()) == 2]
    assert len(overlays) == 5
    assert {o.get_cmap().name for o in overlays} == {"inferno"}  # perceptually uniform, not jet
    assert {o.get_clim() for o in overlays} == {(0.0, 1.0)}
    colorbars = [a for a in figure.axes if a.get_ylabel() == "attention (0 to 1)"]
    assert len(colorbars) == 1


def test_plot_attention_custom_cmap_and_unknown_names() -> None:
    figure = viz.plot_attention(np.zeros((8, 8, 3), np.uint8), np.full((2, 4, 4), 0.5), ("AU12", "mouth"), cmap="magma")
    overlays = [a.get_images()[1] for a in figure.axes if len(a.get_images()) == 2]
    assert [o.get_cmap().name for o in overlays] == ["magma", "magma"]
    assert [a.get_title() for a in figure.axes if a.get_title()] == ["AU12\nLip corner puller", "mouth"]


def _heatmap(figure):
    (axis,) = [a for a in figure.axes if a.get_images() and a.get_yticklabels()[0].get_text()]
    return axis, axis.get_images()[0]


def test_plot_region_votes_values_and_fixed_scale() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(5, 3, generator=g).numpy() * 0.1  # probabilities near 1/3: a 0-1 scale must stay 0-1
    axis, image = _heatmap(viz.plot_region_votes(logits, REGIONS, CLASSES))
    table = image.get_array()
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    consensus = np.exp(logits.mean(0)) / np.exp(logits.mean(0)).sum()
    np.testing.assert_allclose(table[:5], expected, rtol=1e-6)
    np.testing.assert_allclose(table[5], consensus, rtol=1e-6)
    assert image.get_clim() == (0.0, 1.0)
    assert image.get_cmap().name == "viridis"
    assert [t.get_text() for t in axis.get_yticklabels()][-2:] == ["AU7 Lid tightener", "consensus"]

    axis, image = _heatmap(viz.plot_region_votes(logits, REGIONS, CLASSES, probabilities=False))
    np.testing.assert_allclose(image.get_array()[5], logits.mean(0), rtol=1e-6)
    low, high = image.get_clim()
    assert -low == high == pytest.approx(float(np.abs(np.vstack([logits, logits.mean(0)])).max()))
    assert image.get_cmap().name == "RdBu_r"


def test_plot_va_labels_do_not_overlap() -> None:
    points = np.full((17, 2), 0.01) + np.linspace(0, 0.02, 17)[:, None]  # all regions in one spot
    names = [f"AU{i}" for i in (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26, 5, 9, 14, 16, 17)]
    figure = viz.plot_va(points, names)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    (axis,) = figure.axes
    labels = [t for t in axis.texts if t.get_text().startswith("AU")]
    assert len(labels) == 17
    boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the text alone, not its line
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    # Each label points at its own region, and the highest arousal comes first.
    for label in labels:
        index = names.index(label.get_text().split()[0])
        assert label.xy == pytest.approx(tuple(points[index]))
    assert labels[0].get_text().startswith("AU17")
    assert labels[-1].get_text().startswith("AU1 ")
    assert axis.get_xlim() == (-1.0, 1.0)  # the unit circle stays in view at a fixed scale


def test_plot_region_votes_and_va() -> None:
    g = torch.Generator().manual_seed(1)
    votes = _render(viz.plot_region_votes(torch.randn(5, 3, generator=g), REGIONS, CLASSES))
    _assert_not_blank(votes)
    va = torch.rand(5, 2, generator=g) * 2 - 1
    figure = viz.plot_va(va.numpy(), REGIONS)
    _assert_not_blank(_render(figure))
    assert figure.get_size_inches().tolist() == [7.5, 5.5]  # the plane and a column of labels


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
