"""A video's run at a glance: per face, its AUs over time, its expression, its valence and arousal.

:func:`plot_timeline` takes the predictions of :func:`smm.predict_video`, or a per-frame CSV
read back (:meth:`smm.inference.FramePredictions.from_csv`: a run of yesterday, or of another machine), and
draws the same figure from either. Time runs along the x-axis in seconds, from the rows' own
timestamps, so a variable frame rate is drawn as it was; a frame where a face was not seen is a
gap in each of its panels, never an interpolation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smm.formats import facs_label
from smm.viz.regions import _figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from smm.inference.results import FramePredictions

#: The colour of each expression in the band, by position in the model's expression names
#: (matplotlib's "tab10", which tells eight classes apart).
BAND_COLOURS = "tab10"


def timeline_arrays(predictions: FramePredictions) -> tuple[np.ndarray, dict[int, dict[str, np.ndarray]]]:
    """What :func:`plot_timeline` draws, as arrays: the frames' times, and per face its values on them.

    Returns
    -------
    (numpy.ndarray, dict)
        ``(F,)`` the time in seconds of each frame of the video (in frame order), and for each
        ``face_id`` a dict of ``au_prob`` ``(F, H)``, ``expr`` ``(F,)`` (float, NaN where the face
        is not seen), ``expr_prob`` ``(F,)`` (the chosen expression's probability), ``valence`` and
        ``arousal`` ``(F,)``, NaN on the frames where that face was not seen.

    Raises
    ------
    ValueError
        For predictions without times (frame folders) or without ``face_id`` (see the CLI's
        ``predict --frames``: plot a CSV of ``predict --input`` instead).
    """
    if predictions.time is None or predictions.face_id is None:
        raise ValueError("predictions must have time and face_id (those of predict_video, or a per-frame CSV)")
    frame = predictions.frame.cpu().numpy()
    time = predictions.time.cpu().numpy()
    face = predictions.face_id.cpu().numpy().astype(np.int64)
    frames, first = np.unique(frame, return_index=True)  # each frame once, in frame order
    times = time[first]
    where = np.searchsorted(frames, frame)
    au_prob = predictions.au_prob.detach().float().cpu().numpy()
    expr_prob = predictions.expr_prob.detach().float().cpu().numpy()
    va = predictions.va.detach().float().cpu().numpy()
    expr = predictions.expr.cpu().numpy()
    observed = predictions.observed.cpu().numpy().astype(bool)
    faces: dict[int, dict[str, np.ndarray]] = {}
    for face_id in sorted(set(face[observed & (face >= 0)].tolist())):
        rows = np.flatnonzero((face == face_id) & observed)
        values = {
            "au_prob": np.full((len(frames), au_prob.shape[1]), np.nan),
            "expr": np.full(len(frames), np.nan),
            "expr_prob": np.full(len(frames), np.nan),
            "valence": np.full(len(frames), np.nan),
            "arousal": np.full(len(frames), np.nan),
        }
        at = where[rows]
        values["au_prob"][at] = au_prob[rows]
        values["expr"][at] = expr[rows]
        values["expr_prob"][at] = expr_prob[rows, expr[rows]]
        values["valence"][at] = va[rows, 0]
        values["arousal"][at] = va[rows, 1]
        faces[face_id] = values
    return times, faces


def _edges(times: np.ndarray) -> np.ndarray:
    """Cell edges around each time: midway to its neighbours, half a step beyond the ends."""
    if len(times) == 1:
        return np.array([times[0] - 0.05, times[0] + 0.05])
    middle = (times[1:] + times[:-1]) / 2
    return np.concatenate([[2 * times[0] - middle[0]], middle, [2 * times[-1] - middle[-1]]])


def plot_timeline(predictions: FramePredictions, *, title: str | None = None) -> Figure:
    """One panel group per face: AU probabilities as a heat-map, the expression as a band, VA as curves.

    Parameters
    ----------
    predictions : FramePredictions
        Of one video: :func:`smm.predict_video`'s, or a CSV read back with
        :meth:`smm.inference.FramePredictions.from_csv` (the same figure from either). Its ``names`` label
        the AUs (by FACS name) and the expressions.
    title : str, optional
        Default: the video's file name (``source``).

    Returns
    -------
    matplotlib.figure.Figure
        For each face, three panels sharing the time axis (seconds): the AU heat-map (0-1, one
        row per AU), the expression band (one colour per expression, a legend of the names), and
        valence and arousal (-1 to 1, wider where the model's raw VA goes beyond). Frames where
        the face was not seen are left blank.

    Raises
    ------
    ValueError
        Without times or face ids (see :func:`timeline_arrays`), without label names, or when no
        row has a face.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    times, faces = timeline_arrays(predictions)
    if predictions.names is None:
        raise ValueError(
            "predictions carry no label names (predictions.names): read the CSV with FramePredictions.from_csv"
        )
    if not faces:
        raise ValueError("no row of these predictions has a face: nothing to draw")
    au_names, expression_names = predictions.names.au, predictions.names.expression
    edges = _edges(times)
    palette = ListedColormap([_tab10(k) for k in range(len(expression_names))])
    norm = BoundaryNorm(np.arange(len(expression_names) + 1) - 0.5, len(expression_names))
    figure = _figure(10.0, 0.6 + len(faces) * (1.6 + 0.16 * len(au_names)))
    groups = figure.subfigures(len(faces), 1, squeeze=False)[:, 0]
    for group, (face_id, values) in zip(groups, faces.items(), strict=True):
        heat, band, curves = group.subplots(
            3, 1, sharex=True, height_ratios=[max(2.0, 0.16 * len(au_names)), 0.35, 1.2]
        )
        group.suptitle(f"face {face_id}", fontsize=10, x=0.02, ha="left")
        mesh = heat.pcolormesh(
            edges, np.arange(len(au_names) + 1) - 0.5, values["au_prob"].T, cmap="viridis", vmin=0, vmax=1
        )
        mesh.set_label("au_prob")
        heat.set_yticks(np.arange(len(au_names)), [facs_label(name) for name in au_names], fontsize=6)
        heat.invert_yaxis()
        group.colorbar(mesh, ax=heat, label="AU probability", fraction=0.03, pad=0.01)
        strip = band.pcolormesh(edges, [0, 1], values["expr"][None], cmap=palette, norm=norm)
        strip.set_label("expression")
        band.set_yticks([])
        band.set_ylabel("expr.", rotation=0, ha="right", va="center", fontsize=8)
        seen = sorted({int(k) for k in values["expr"][np.isfinite(values["expr"])]})
        band.legend(
            handles=[Patch(color=_tab10(k), label=expression_names[k]) for k in seen],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.6),
            fontsize=7,
            frameon=False,
        )
        curves.plot(times, values["valence"], color="tab:red", linewidth=1.2, label="valence")
        curves.plot(times, values["arousal"], color="tab:blue", linewidth=1.2, label="arousal")
        curves.axhline(0, color="grey", linewidth=0.6)
        both = np.concatenate([values["valence"], values["arousal"]])
        reach = float(np.nanmax(np.abs(both))) if np.isfinite(both).any() else 1.0
        curves.set_ylim(-1.05 * max(1.0, reach), 1.05 * max(1.0, reach))  # -1 to 1, or wider for raw VA beyond it
        curves.set_ylabel("VA", fontsize=8)
        curves.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        curves.set_xlabel("time (s)")
        curves.set_xlim(edges[0], edges[-1])
    name = title if title is not None else (Path(predictions.source[0]).name if predictions.source else "")
    if name:
        figure.suptitle(name, fontsize=11)
    return figure


def _tab10(k: int) -> tuple[float, float, float, float]:
    from matplotlib import colormaps

    return colormaps[BAND_COLOURS](k % 10)


__all__ = ["BAND_COLOURS", "plot_timeline", "timeline_arrays"]
