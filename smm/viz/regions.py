"""Plots of what each facial region sees and says. Needs matplotlib (``smm-emotionnet[viz]``).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no
global state, never ``show()``); display it in a notebook or ``fig.savefig(path)``.
Inputs may be torch tensors (any device) or numpy arrays. Colour maps are perceptually
uniform and every colour scale has a colour bar; probabilities and attention use a fixed
0-1 scale, so two figures can be compared by eye. Regions are labelled with their FACS names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from smm.formats import facs_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ArrayLike = torch.Tensor | np.ndarray


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("smm.viz needs matplotlib: pip install 'smm-emotionnet[viz]'") from error
    return Figure(figsize=(width, height), layout="constrained")


def _numpy(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")


def _check_names(names: Sequence[str], count: int, argument: str, what: str) -> None:
    if len(names) != count:
        raise ValueError(f"{argument} must have {count} names (one per {what}), got {len(names)}")


def _image_hwc(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3), got shape {image.shape}")
    if image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)  # e.g. a normalised tensor
    return image


def plot_attention(
    image: ArrayLike,
    attention: ArrayLike,
    region_names: Sequence[str],
    *,
    ncols: int = 6,
    alpha: float = 0.55,
    cmap: str = "inferno",
    panel_size: float = 1.8,
) -> Figure:
    """Overlay each region's attention map on the face, one panel per region titled by its FACS name.

    Parameters
    ----------
    image : array (3, H, W) or (H, W, 3)
        The face; uint8, or float in any range (rescaled for display, so a normalised
        input tensor works as it is).
    attention : array (U, h, w)
        Region maps in [0, 1] (``SMMOutput.attention[i]``); upsampled to the image size.
    region_names : sequence of str
        U titles, e.g. ``model.region_names``.
    ncols : int, default 6
    alpha : float, default 0.55
        Opacity of the maps.
    cmap : str, default "inferno"
        A matplotlib colour map; the scale is fixed to [0, 1] and shown by a colour bar.
    panel_size : float, default 1.8
        Width and height of one panel, in inches.
    """
    picture = _image_hwc(_numpy(image, "image"))
    maps = _numpy(attention, "attention")
    if maps.ndim != 3:
        raise ValueError(f"attention must be (U, h, w) for one image, got shape {maps.shape}")
    _check_names(region_names, maps.shape[0], "region_names", "attention map")
    height, width = picture.shape[:2]
    upsampled = torch.nn.functional.interpolate(
        torch.from_numpy(maps[None].astype(np.float32)), size=(height, width), mode="bilinear", align_corners=False
    )[0].numpy()
    count = maps.shape[0]
    rows = -(-count // ncols)
    figure = _figure(panel_size * ncols + 0.8, (panel_size + 0.25) * rows + 0.4)
    axes = figure.subplots(rows, ncols, squeeze=False)
    overlay = None
    for index, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if index < count:
            axis.imshow(picture)
            overlay = axis.imshow(upsampled[index], cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
            axis.set_title(facs_label(region_names[index], sep="\n"), fontsize=10)
    if overlay is not None:
        figure.colorbar(overlay, ax=axes, shrink=0.6, label="attention (0 to 1)")
    figure.suptitle("Region attention maps")
    return figure


def plot_region_votes(
    votes: ArrayLike,
    region_names: Sequence[str],
    class_names: Sequence[str],
    *,
    probabilities: bool = True,
) -> Figure:
    """Heat map of each region's expression vote, with the consensus as the last row.

    Parameters
    ----------
    votes : array (U, K)
        Per-region expression logits (``model.message_space(f, "none").expr[i]``).
    region_names : sequence of str
        U names.
    class_names : sequence of str
        K names.
    probabilities : bool, default True
        Show softmax probabilities on a fixed 0-1 scale (else raw logits, on a diverging
        scale centred at 0). The consensus row is the softmax of the mean logit, which equals
        the paper's prediction from the mean message.
    """
    logits = _numpy(votes, "votes")
    if logits.ndim != 2:
        raise ValueError(f"votes must be (U, K) for one image, got shape {logits.shape}")
    _check_names(region_names, logits.shape[0], "region_names", "region")
    _check_names(class_names, logits.shape[1], "class_names", "class")
    table = np.vstack([logits, logits.mean(0, keepdims=True)])
    if probabilities:
        shifted = np.exp(table - table.max(1, keepdims=True))
        table = shifted / shifted.sum(1, keepdims=True)
    if probabilities:
        scale = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
    else:
        bound = max(float(np.abs(table).max()), 1e-6)
        scale = {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    figure = _figure(0.7 * len(class_names) + 4.0, 0.3 * len(table) + 1.5)
    axis = figure.subplots()
    image = axis.imshow(table, aspect="auto", **scale)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(table)), [*(facs_label(name) for name in region_names), "consensus"])
    axis.axhline(len(region_names) - 0.5, color="white", linewidth=2)
    figure.colorbar(image, ax=axis, label="probability" if probabilities else "logit")
    axis.set_title("Expression votes per region")
    return figure


def plot_va(
    region_va: ArrayLike,
    region_names: Sequence[str],
    *,
    consensus: ArrayLike | None = None,
) -> Figure:
    """Each region's (valence, arousal) as a point on the circumplex plane, consensus marked.

    Parameters
    ----------
    region_va : array (U, 2)
        Per-region valence and arousal (``model.message_space(f, "none").va[i]``).
    region_names : sequence of str
        U labels.
    consensus : array (2,), optional
        The model's VA output; default: the mean of the regions (the same, for a linear head).
    """
    points = _numpy(region_va, "region_va")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"region_va must be (U, 2), got shape {points.shape}")
    _check_names(region_names, points.shape[0], "region_names", "region")
    centre = points.mean(0) if consensus is None else _numpy(consensus, "consensus").reshape(-1)
    if centre.shape != (2,):
        raise ValueError(f"consensus must have 2 values (valence, arousal), got shape {centre.shape}")
    figure = _figure(7.5, 5.5)
    axis = figure.subplots()
    limit = max(1.0, float(np.abs(points).max()) * 1.1)
    axis.add_patch(_circle())
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.scatter(points[:, 0], points[:, 1], s=25, color="tab:blue", label="regions", zorder=3)
    axis.scatter([centre[0]], [centre[1]], s=160, marker="*", color="tab:red", label="consensus", zorder=4)
    axis.set_xlim(-limit, limit)
    axis.set_ylim(-limit, limit)
    axis.set_aspect("equal")
    axis.set_xlabel("valence")
    axis.set_ylabel("arousal")
    axis.legend(loc="lower right", fontsize=8)
    # Labels in a column beside the plane, in the order of the points' arousal, each joined to its
    # point by a thin line: they never overlap, however close the points are.
    order = np.argsort(-points[:, 1], kind="stable")
    slots = np.linspace(0.97, 0.03, len(order)) if len(order) > 1 else np.array([0.5])
    for slot, index in zip(slots, order, strict=True):
        axis.annotate(
            facs_label(region_names[index]),
            xy=(points[index, 0], points[index, 1]),
            xycoords="data",
            xytext=(1.04, slot),
            textcoords="axes fraction",
            fontsize=7,
            va="center",
            arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 2},
            annotation_clip=False,
        )
    axis.set_title("Valence-arousal per region")
    return figure


def _circle():
    from matplotlib.patches import Circle

    return Circle((0, 0), 1.0, fill=False, linestyle="--", color="grey")
