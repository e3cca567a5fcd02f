"""SMM-EmotionNet at a glance: backbone, 17 region maps, region embeddings, the two heads.

Every shape on the figure is read from a forward pass of the ABAW3 preset on one aligned face,
and the 17 small maps are that pass's attention maps.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def _shape(tensor: torch.Tensor) -> str:
    return "(B, " + ", ".join(str(n) for n in tensor.shape[1:]) + ")"


def draw(example) -> Figure:
    model, out, images = example.model, example.out, example.images
    with torch.no_grad():
        features = model.forward_features(images)
    width = 14.0
    figure = Figure(figsize=(width, 5.0), layout=None)
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(0, width)
    axis.set_ylim(0, 5.0)
    axis.set_axis_off()

    def box(x: float, y: float, w: float, h: float, title: str, body: str, colour: str) -> None:
        axis.add_patch(
            FancyBboxPatch(
                (x, y),
                w,
                h,
                boxstyle="round,pad=0.04,rounding_size=0.12",
                facecolor=colour,
                edgecolor="0.3",
                linewidth=1,
            )
        )
        axis.text(x + w / 2, y + h - 0.22, title, ha="center", va="top", fontsize=10.5, weight="bold")
        axis.text(x + w / 2, y + h - 0.55, body, ha="center", va="top", fontsize=8.5, linespacing=1.35)

    def arrow(start: tuple[float, float], end: tuple[float, float], label: str = "", dy: float = 0.14) -> None:
        axis.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="0.25", linewidth=1.1))
        if label:
            middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + dy)
            axis.text(*middle, label, ha="center", va="bottom", fontsize=8, family="monospace", color="0.15")

    def mono(x: float, y: float, text: str, **style: object) -> None:
        axis.text(x, y, text, **{"ha": "center", "fontsize": 8, "family": "monospace", **style})

    # The face.
    face_axis = figure.add_axes((0.1 / width, 0.33, 1.3 / width, 1.3 / 5.0))
    face_axis.imshow(example.face)
    face_axis.set_axis_off()
    axis.text(0.8, 1.45, "aligned face\n" + _shape(images), ha="center", va="top", fontsize=8.5, family="monospace")

    backbone = model.config.backbone
    stage = f"timm {backbone}\nto its stage {model.config.feature_index}\n(Mixed_6e)"
    box(1.75, 1.7, 1.75, 1.6, "Backbone", stage, "#dbe9f6")
    arrow((1.5, 2.5), (1.75, 2.5))

    box(5.0, 1.0, 2.0, 3.0, "ROIAttention", f"{model.num_regions} region maps A_u\nsigmoid, in (0, 1)", "#fde7d3")
    arrow((3.5, 2.5), (5.0, 2.5), "F " + _shape(features))
    maps = out.attention[0]
    for index in range(maps.shape[0]):
        row, col = divmod(index, 6)
        x0 = (5.17 + col * 0.28) / width
        y0 = (2.55 - row * 0.36) / 5.0
        inset = figure.add_axes((x0, y0, 0.25 / width, 0.25 / 5.0))
        inset.imshow(maps[index].numpy(), cmap="inferno", vmin=0, vmax=1)
        inset.set_xticks([])
        inset.set_yticks([])
    mono(6.0, 1.15, "A " + _shape(out.attention))

    box(7.8, 1.7, 1.8, 1.6, "ROIEmbedding", "f_u = CNN_u(F * (1 + A_u))\none 16-d vector\nper region", "#e3f1df")
    arrow((7.0, 2.5), (7.8, 2.5))
    arrow((6.0, 1.0), (6.0, 0.45))
    mono(6.0, 0.38, "attention logits " + _shape(out.attention_logits), va="top")

    box(10.6, 3.05, 1.75, 1.6, "SignVehicleHead", "transformer over\nthe regions; one\nmetric space per AU", "#ece2f4")
    message = "one matrix per region\ninto a shared space;\nmean = consensus"
    box(10.6, 0.35, 1.75, 1.6, "MessageSpaceHead", message, "#f6e0e6")
    arrow((9.6, 2.7), (10.6, 3.6))
    mono(10.1, 2.5, "f " + _shape(out.region_features), va="center", backgroundcolor="white")
    arrow((9.6, 2.3), (10.6, 1.4))
    axis.text(
        12.45,
        3.85,
        "sign vehicles\nAU logits " + _shape(out.au),
        ha="left",
        va="center",
        fontsize=8.5,
        family="monospace",
    )
    axis.text(
        12.45,
        1.15,
        "messages\nEXPR " + _shape(out.expr) + "\nVA   " + _shape(out.va),
        ha="left",
        va="center",
        fontsize=8.5,
        family="monospace",
    )
    return figure
