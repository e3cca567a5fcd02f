"""SMM-EmotionNet at a glance: backbone, 17 region maps, region embeddings, the two heads.

Every shape on the figure is read from a forward pass of the ABAW3 preset on one aligned face,
and the 17 small maps are that pass's attention maps. Two rows, so that the text stays
legible at the width of a documentation page.
"""

from __future__ import annotations

import itertools

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

WIDTH, HEIGHT = 9.6, 6.4  # inches; the axes' data coordinates are inches too


def _shape(tensor: torch.Tensor) -> str:
    return "(B, " + ", ".join(str(n) for n in tensor.shape[1:]) + ")"


def draw(example) -> Figure:  # figures.example.Example
    model, out, images = example.model, example.out, example.images
    with torch.no_grad():
        features = model.forward_features(images)
    figure = Figure(figsize=(WIDTH, HEIGHT), layout=None)
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(0, WIDTH)
    axis.set_ylim(0, HEIGHT)
    axis.set_axis_off()

    def box(x: float, y: float, w: float, h: float, title: str, body: str, colour: str) -> None:
        axis.add_patch(
            FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.03,rounding_size=0.1", facecolor=colour, edgecolor="0.3")
        )
        axis.text(x + w / 2, y + h - 0.15, title, ha="center", va="top", fontsize=12, weight="bold")
        axis.text(x + w / 2, y + h - 0.5, body, ha="center", va="top", fontsize=10, linespacing=1.3)

    def arrow(*points: tuple[float, float]) -> None:
        for start, end in itertools.pairwise(points[:-1]):  # plain segments, then the arrow head
            axis.plot(*zip(start, end, strict=True), color="0.25", linewidth=1.1)
        axis.add_patch(
            FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=12, color="0.25", linewidth=1.1)
        )

    def mono(x: float, y: float, text: str, **style: object) -> None:
        axis.text(x, y, text, **{"ha": "center", "fontsize": 9.5, "family": "monospace", **style})

    # Row 1: face -> backbone -> region attention.
    face_axis = figure.add_axes((0.1 / WIDTH, 4.3 / HEIGHT, 1.3 / WIDTH, 1.3 / HEIGHT))
    face_axis.imshow(example.face)
    face_axis.set_axis_off()
    mono(0.75, 4.2, "aligned face\n" + _shape(images), va="top")
    stage = f"timm {model.config.backbone}\nto stage {model.config.feature_index}\n(Mixed_6e)"
    box(1.9, 4.15, 1.8, 1.6, "Backbone", stage, "#dbe9f6")
    arrow((1.45, 4.95), (1.9, 4.95))
    arrow((3.7, 4.95), (5.2, 4.95))
    mono(4.45, 5.05, "F " + _shape(features), va="bottom", fontsize=8.5)

    box(5.2, 3.45, 2.4, 2.85, "ROIAttention", f"{model.num_regions} region maps A_u", "#fde7d3")
    maps = out.attention[0]
    for index in range(maps.shape[0]):
        row, col = divmod(index, 6)
        x0, y0 = 5.27 + col * 0.38, 5.05 - row * 0.4
        inset = figure.add_axes((x0 / WIDTH, y0 / HEIGHT, 0.34 / WIDTH, 0.34 / HEIGHT))
        inset.imshow(maps[index].numpy(), cmap="inferno", vmin=0, vmax=1)
        inset.set_xticks([])
        inset.set_yticks([])
    mono(6.4, 3.55, "A " + _shape(out.attention), va="bottom")
    arrow((7.6, 4.95), (8.05, 4.95))
    mono(8.1, 4.95, "attention\nlogits\n" + _shape(out.attention_logits), ha="left", va="center")

    # Row 2: region embeddings -> the two heads -> outputs.
    arrow((6.4, 3.45), (6.4, 3.15), (1.3, 3.15), (1.3, 2.8))
    box(0.2, 0.8, 2.2, 2.0, "ROIEmbedding", "f_u = CNN_u(F * (1 + A_u))\none 16-d vector\nper region", "#e3f1df")
    box(3.5, 1.6, 2.2, 1.3, "SignVehicleHead", "transformer over the\nregions; one metric\nspace per AU", "#ece2f4")
    box(3.5, 0.1, 2.2, 1.3, "MessageSpaceHead", "a matrix per region;\nmean = consensus", "#f6e0e6")
    arrow((2.4, 2.0), (3.5, 2.25))
    arrow((2.4, 1.5), (3.5, 0.75))
    mono(2.95, 1.72, "f " + _shape(out.region_features), va="center", fontsize=8.5, backgroundcolor="white")
    arrow((5.7, 2.25), (6.0, 2.25))
    arrow((5.7, 0.75), (6.0, 0.75))
    mono(6.1, 2.25, "sign vehicles\nAU logits " + _shape(out.au), ha="left", va="center")
    mono(6.1, 0.75, "messages\nEXPR " + _shape(out.expr) + "\nVA   " + _shape(out.va), ha="left", va="center")
    return figure
