"""What the model saw in a video, kept small: :class:`VideoFeatures`, and its rows per face or per frame.

:func:`smm.predict_video` is ``video_features(...).predictions(model, ...)``; keeping the
features gives predictions with other smoothing strengths or thresholds, or per side for the
challenge files, without running the model again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from smm.defaults import CLAMP_VA, THRESHOLD
from smm.face.orientation import Orientation
from smm.face.sides import side_rows
from smm.inference.core import Alpha, predictions
from smm.inference.results import FramePredictions, LabelNames
from smm.models.emotionnet import SMMEmotionNet


@dataclass(frozen=True)
class VideoFeatures:
    """What the model saw in a video, kept small: each face's features, and where each face was.

    :func:`predict_video` is ``video_features(...).predictions(model, ...)``; keep this object
    to get predictions with other smoothing strengths or thresholds, or per side for the
    challenge files, without running the model again.

    Attributes
    ----------
    au_features : Tensor[N, H, D]
        Of the N rows with a face, in row order.
    messages : Tensor[N, D]
    frame : numpy.ndarray
        ``(R,)`` int64, the frame (from 1) of each row: one row per (frame, face), and one row
        for each frame without a face.
    face_id : numpy.ndarray
        ``(R,)`` int64 track ids, ``-1`` without a face.
    time : numpy.ndarray
        ``(R,)`` float64 seconds.
    box : numpy.ndarray
        ``(R, 4)`` float32, NaN without a face.
    landmarks : numpy.ndarray
        ``(R, 5, 2)`` float32.
    num_frames : int
        Frames decoded.
    size : tuple of int
        ``(width, height)`` of the frames, upright.
    source : str
    orientation : Orientation
        The display rotation (and mirror) applied to every frame: boxes, landmarks and crops
        are in the upright frames' pixels (:class:`smm.face.orientation.Orientation`).
    """

    au_features: torch.Tensor
    messages: torch.Tensor
    frame: np.ndarray
    face_id: np.ndarray
    time: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray
    num_frames: int
    size: tuple[int, int]
    source: str
    orientation: Orientation = field(default_factory=Orientation)

    @property
    def observed(self) -> np.ndarray:
        """``(R,)`` bool, whether each row has a face."""
        return self.face_id >= 0

    @property
    def tracks(self) -> list[int]:
        """The face ids found, in order of appearance."""
        return sorted(set(self.face_id[self.observed].tolist()))

    def predictions(
        self, model: SMMEmotionNet, *, alpha: Alpha = None, threshold: float = THRESHOLD, clamp_va: bool = CLAMP_VA
    ) -> FramePredictions:
        """One row per (frame, face), and one per frame without a face (see :func:`predict_video`).

        Smoothing (``alpha``) runs along each face's own track.
        """
        observed = self.observed
        feature_row = np.cumsum(observed) - 1  # row -> its position among the rows with a face
        table = FramePredictions.empty(len(self.frame), LabelNames.of(model))
        for track in self.tracks:
            rows = np.flatnonzero(self.face_id == track)
            index = torch.from_numpy(feature_row[rows])
            part = predictions(
                model,
                self.au_features[index],
                self.messages[index],
                np.arange(1, len(rows) + 1),
                alpha=alpha,
                threshold=threshold,
                clamp_va=clamp_va,
            )
            table = table.with_rows(rows, part)
        return table._replace(
            frame=torch.from_numpy(self.frame),
            observed=torch.from_numpy(observed),
            time=torch.from_numpy(self.time),
            box=torch.from_numpy(self.box),
            landmarks=torch.from_numpy(self.landmarks),
            source=(self.source,) * len(self.frame),
            face_id=torch.from_numpy(self.face_id),
            reason=tuple("" if seen else "no face found" for seen in observed.tolist()),
        )

    def per_frame(
        self,
        model: SMMEmotionNet,
        side: str = "",
        *,
        alpha: Alpha = None,
        threshold: float = THRESHOLD,
        clamp_va: bool = CLAMP_VA,
    ) -> FramePredictions:
        """One row per frame of the video for one position, filled as the published tester did.

        Parameters
        ----------
        model : SMMEmotionNet
        side : {"", "left", "right"}, default ""
            ``""``: the one face of a video that never shows two at once; ``"left"`` /
            ``"right"``: the face on that side in each frame (:func:`smm.face.sides.side_rows`);
            one of :attr:`sides`.
        alpha, threshold, clamp_va
            As :meth:`predictions`; smoothing runs along the side's frames.

        Returns
        -------
        FramePredictions
            ``num_frames`` rows; frames where the side has no face repeat the nearest earlier
            face's prediction (``observed`` False), as in the challenge files; NaN rows when the
            side never has a face.
        """
        positions = side_rows(self.frame, self.face_id, self.box, self.size)
        if side not in positions:
            raise ValueError(f"side must be one of this video's sides {list(positions)}, got {side!r}")
        rows = positions[side]
        feature_row = np.cumsum(self.observed) - 1
        index = torch.from_numpy(feature_row[rows])
        result = predictions(
            model,
            self.au_features[index] if len(rows) else torch.zeros(0),
            self.messages[index] if len(rows) else torch.zeros(0),
            self.frame[rows],
            num_frames=self.num_frames,
            alpha=alpha,
            threshold=threshold,
            clamp_va=clamp_va,
        )
        box = torch.full((self.num_frames, 4), float("nan"))
        landmarks = torch.full((self.num_frames, 5, 2), float("nan"))
        face_id = torch.full((self.num_frames,), -1, dtype=torch.int64)
        frames = torch.from_numpy(self.frame[rows] - 1)
        box[frames] = torch.from_numpy(self.box[rows])
        landmarks[frames] = torch.from_numpy(self.landmarks[rows])
        face_id[frames] = torch.from_numpy(self.face_id[rows])
        time = np.zeros(self.num_frames)
        time[self.frame - 1] = self.time
        return result._replace(
            time=torch.from_numpy(time),
            box=box,
            landmarks=landmarks,
            source=(self.source,) * self.num_frames,
            face_id=face_id,
            reason=tuple("" if seen else "no face found" for seen in result.observed.tolist()),
        )

    @property
    def sides(self) -> list[str]:
        """The challenge files' positions: ``[""]`` when no frame shows two faces, else ``["left", "right"]``."""
        return list(side_rows(self.frame, self.face_id, self.box, self.size))


__all__ = ["VideoFeatures"]
