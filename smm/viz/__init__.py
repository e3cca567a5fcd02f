"""Plots and videos of what the model saw. Needs matplotlib (``smm-emotionnet[viz]``); the overlay video PyAV.

- :mod:`smm.viz.regions`: what each facial region of one crop sees and says
  (:func:`plot_attention`, :func:`plot_region_votes`, :func:`plot_va`);
- :mod:`smm.viz.timeline`: a video's run at a glance, per face (:func:`plot_timeline`);
- :mod:`smm.viz.overlay`: the video annotated with every face's box, id, landmarks and
  predictions (:func:`overlay_video`).

Every plotting function returns a :class:`matplotlib.figure.Figure` built without pyplot (no
global state, never ``show()``); display it in a notebook or ``fig.savefig(path)``.
"""

from __future__ import annotations

from smm.viz.overlay import overlay_video
from smm.viz.regions import plot_attention, plot_region_votes, plot_va
from smm.viz.timeline import plot_timeline, timeline_arrays

__all__ = ["overlay_video", "plot_attention", "plot_region_votes", "plot_timeline", "plot_va", "timeline_arrays"]
