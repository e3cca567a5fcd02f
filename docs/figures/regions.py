"""The 17 facial regions of the ABAW3 model, placed on an aligned face with their FACS names.

The model learns where each region's attention falls; the markers show where FACS locates
each action unit, relative to the five alignment landmarks (eyes, nose tip, mouth corners).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from smm.formats import FACS_NAMES
from smm.models.config import ABAW3


def region_points(landmarks: np.ndarray) -> dict[str, tuple[float, float]]:
    """FACS location of each action unit, from the five landmarks of an aligned face (image coordinates)."""
    eye_a, eye_b, nose, mouth_a, mouth_b = (np.asarray(p, dtype=float) for p in landmarks)
    d = float(np.linalg.norm(eye_b - eye_a))  # eye distance: the unit of the offsets below
    eyes = (eye_a + eye_b) / 2
    mouth = (mouth_a + mouth_b) / 2

    def at(origin: np.ndarray, dx: float, dy: float) -> tuple[float, float]:
        return float(origin[0] + dx * d), float(origin[1] + dy * d)

    return {
        "AU1": at(eyes, -0.15, -0.42),  # inner brow
        "AU2": at(eye_a, -0.3, -0.42),  # outer brow
        "AU4": at(eyes, 0.02, -0.28),  # between the brows
        "AU5": at(eye_b, 0.0, -0.12),  # upper lid
        "AU6": at(eye_b, 0.1, 0.35),  # cheek below the eye
        "AU7": at(eye_a, 0.0, 0.1),  # lower lid
        "AU9": at(eyes, 0.0, 0.2),  # side of the nose
        "AU10": at((nose + mouth) / 2, 0.12, 0.0),  # upper lip
        "AU12": at(mouth_b, 0.08, -0.1),  # lip corner, pulled up
        "AU14": at(mouth_b, 0.22, 0.05),  # dimple beside the corner
        "AU15": at(mouth_a, -0.05, 0.12),  # lip corner, pulled down
        "AU16": at(mouth, 0.12, 0.2),  # lower lip
        "AU17": at(mouth, 0.0, 0.48),  # chin boss
        "AU23": at(mouth_a, 0.12, -0.03),  # lips, tightened
        "AU24": at(mouth, -0.02, 0.06),  # lips, pressed
        "AU25": at(mouth, 0.0, -0.02),  # between the lips
        "AU26": at(mouth, -0.32, 0.36),  # lower jaw
    }


def draw(face: np.ndarray, landmarks: np.ndarray) -> Figure:
    points = region_points(landmarks)
    labelled = set(ABAW3.region_names[: ABAW3.num_labelled])
    figure = Figure(figsize=(9.5, 6.2), layout="constrained")
    axis = figure.subplots()
    height, width = face.shape[:2]
    margin = 0.62 * width
    axis.imshow(face, extent=(0, width, height, 0))
    axis.set_xlim(-margin, width + margin)
    axis.set_ylim(height, 0)
    axis.set_axis_off()
    axis.scatter(
        *np.asarray(landmarks).T,
        marker="o",
        facecolors="white",
        edgecolors="black",
        s=14,
        linewidths=0.6,
        label="alignment landmarks",
    )
    centre = width / 2
    for side, names in (
        ("left", [n for n in ABAW3.region_names if points[n][0] < centre]),
        ("right", [n for n in ABAW3.region_names if points[n][0] >= centre]),
    ):
        names.sort(key=lambda n: points[n][1])
        slots = np.linspace(0.06 * height, 0.94 * height, len(names))
        for slot, name in zip(slots, names, strict=True):
            colour = "tab:orange" if name in labelled else "tab:cyan"
            x, y = points[name]
            axis.scatter([x], [y], s=36, color=colour, edgecolors="black", linewidths=0.6, zorder=3)
            text_x = -0.04 * width if side == "left" else 1.04 * width
            axis.annotate(
                f"{name} {FACS_NAMES[name]}",
                xy=(x, y),
                xytext=(text_x, slot),
                ha="right" if side == "left" else "left",
                va="center",
                fontsize=9,
                color="black",
                arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.9, "shrinkA": 2, "shrinkB": 3},
            )
    axis.scatter([], [], s=36, color="tab:orange", edgecolors="black", label="labelled in Aff-Wild2 (12)")
    axis.scatter([], [], s=36, color="tab:cyan", edgecolors="black", label="further regions (5)")
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=9, frameon=False)
    return figure
