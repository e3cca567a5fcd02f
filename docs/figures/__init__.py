"""The documentation's figures, drawn at build time from the library itself.

``conf.py`` calls :func:`draw_all` when the build starts; the pages include the PNG files it
writes to ``docs/_generated``. A figure that fails to draw fails the build.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure


def _architecture() -> Figure:
    from .architecture import draw
    from .example import example

    return draw(example())


def _regions() -> Figure:
    from .example import aligned_face
    from .regions import draw

    return draw(*aligned_face())


def _viz_attention() -> Figure:
    from smm import viz

    from .example import caveat, example

    e = example()
    figure = viz.plot_attention(e.images[0], e.out.attention[0], e.model.region_names, panel_size=1.5)
    caveat(figure, e.trained)
    return figure


def _viz_votes() -> Figure:
    from smm import viz

    from .example import caveat, example

    e = example()
    figure = viz.plot_region_votes(e.votes.expr[0], e.model.region_names, e.model.expression_names)
    caveat(figure, e.trained)
    return figure


def _viz_va() -> Figure:
    from smm import viz

    from .example import caveat, example

    e = example()
    figure = viz.plot_va(e.votes.va[0], e.model.region_names, consensus=e.out.va[0])
    caveat(figure, e.trained)
    return figure


def _overlay_frame() -> Figure:
    from .run import overlay_frame

    return overlay_frame()


def _timeline() -> Figure:
    from .run import timeline

    return timeline()


FIGURES: dict[str, Callable[[], Figure]] = {
    "architecture": _architecture,
    "regions": _regions,
    "viz_attention": _viz_attention,
    "viz_votes": _viz_votes,
    "viz_va": _viz_va,
    "overlay_frame": _overlay_frame,
    "timeline": _timeline,
}


def model_card(target: Path) -> Path:
    """The model card that ``save_pretrained`` writes, for the ABAW3 preset (docs/citing.rst)."""
    import shutil
    import tempfile

    import smm

    model = smm.SMMEmotionNet.abaw3(pretrained_backbone=False)
    with tempfile.TemporaryDirectory() as folder:
        metrics = {"F1_AU": 0.548, "F1_EXPR": 0.518, "CCC_V": 0.447, "CCC_A": 0.499}  # the published validation
        model.save_pretrained(folder, training_data="Aff-Wild2 (ABAW3 multi-task set)", metrics=metrics)
        return Path(shutil.copyfile(Path(folder) / "README.md", target / "model_card.md"))


def draw_all(target: Path, dpi: int = 110) -> list[Path]:
    """Draw every figure into ``target`` as PNG, and write the model card; return the files."""
    target.mkdir(parents=True, exist_ok=True)
    written = [model_card(target)]
    for name, draw in FIGURES.items():
        path = target / f"{name}.png"
        draw().savefig(path, dpi=dpi, bbox_inches="tight")
        written.append(path)
    return written
