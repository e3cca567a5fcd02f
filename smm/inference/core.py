"""The one inference core behind every prediction entry point.

Frame folders (:func:`smm.inference.predict_frames`), photos and videos
(:func:`smm.predict_images`, :func:`smm.predict_video`) and the command line all run:

1. :func:`image_features`: model inputs through the model in batches, by the one engine the
   entry point built (:func:`smm.inference.options.build_engine`: the engine and its
   precision are decided there), keeping only each image's AU features and message vector;
2. :func:`predictions`: per-output temporal smoothing of those features over the images in
   frame order (as published, before the heads' last linear layers), the heads' last layers,
   probabilities and decisions, and the published fill for frames without an image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal

import numpy as np
import torch

from smm._checks import check_positive
from smm.defaults import BATCH_SIZE, CLAMP_VA, THRESHOLD
from smm.inference.engines import Engine
from smm.inference.preprocess import ModelBatches
from smm.inference.results import FramePredictions, LabelNames, fill_index
from smm.models.emotionnet import SMMEmotionNet
from smm.temporal import exponential_smoothing, smoothing_strengths

Alpha = float | Mapping[str, float | None] | Literal["published"] | None


def batches(inputs: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Stack ``Tensor[C, H, W]`` inputs into batches of ``batch_size`` (the last may be smaller)."""
    check_batch_size(batch_size)
    batch: list[torch.Tensor] = []
    shape = None
    for index, item in enumerate(inputs):
        if not isinstance(item, torch.Tensor) or item.ndim != 3:
            got = tuple(item.shape) if isinstance(item, torch.Tensor) else type(item).__name__
            raise ValueError(f"model inputs must be (C, H, W) tensors, input {index} is {got}")
        if shape is None:
            shape = item.shape
        elif item.shape != shape:
            raise ValueError(
                f"model inputs must all have one size: input {index} is {tuple(item.shape)}, input 0 {tuple(shape)}"
            )
        batch.append(item)
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@torch.no_grad()
def image_features(
    model: SMMEmotionNet,
    inputs: Iterable[torch.Tensor],
    engine: Engine,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the model over preprocessed images; keep each image's AU features and message vector.

    Parameters
    ----------
    model : SMMEmotionNet
        Put in eval mode while ``engine`` runs (its mode is restored afterwards).
    inputs : iterable of Tensor[C, H, W], or ModelBatches
        Model inputs (:func:`smm.inference.preprocess`), in frame order; consumed lazily.
        :class:`~smm.inference.preprocess.ModelBatches` (the face pipeline's crops) are batched
        already, each batch made once, in place.
    engine : Engine
        What runs the model, built once by the caller (:func:`~smm.inference.engines.make_engine`
        or :func:`~smm.inference.options.build_engine`).
    batch_size : int, default 32
    progress : callable, optional
        Called with the number of images done after each batch.

    Returns
    -------
    (Tensor[N, H, D], Tensor[N, D])
        Float32, on the CPU; ``N`` may be 0.
    """
    check_batch_size(batch_size)
    if isinstance(engine, str) or not callable(engine):
        raise TypeError(f"engine must be a built Engine (smm.inference.engines.make_engine), got {engine!r}")
    was_training = model.training
    model.eval()
    au_features, messages = [], []
    done = 0
    try:
        formed = isinstance(inputs, ModelBatches)
        if formed and inputs.batch_size != batch_size:
            raise ValueError(f"inputs are in batches of {inputs.batch_size}, not batch_size={batch_size}")
        for batch in inputs if formed else batches(inputs, batch_size):
            features, message = engine(batch)
            au_features.append(features)
            messages.append(message)
            done += batch.shape[0]
            if progress is not None:
                progress(done)
    finally:
        model.train(was_training)
    if not au_features:
        dim, labelled = model.config.dim, model.config.num_labelled
        return torch.zeros(0, labelled, dim), torch.zeros(0, dim)
    return torch.cat(au_features), torch.cat(messages)


@torch.no_grad()
def predictions(
    model: SMMEmotionNet,
    au_features: torch.Tensor,
    messages: torch.Tensor,
    frames: np.ndarray,
    *,
    num_frames: int | None = None,
    alpha: Alpha = None,
    threshold: float = THRESHOLD,
    clamp_va: bool = CLAMP_VA,
) -> FramePredictions:
    """From the images' features to one row per frame of a video.

    Parameters
    ----------
    model : SMMEmotionNet
        Its heads' last layers read the (smoothed) features.
    au_features : Tensor[N, H, D]
    messages : Tensor[N, D]
    frames : numpy.ndarray
        ``(N,)`` the frame number (from 1) of each image, strictly increasing.
    num_frames : int, optional
        Rows to return (frames of the video); default the last frame with an image. Frames
        without an image repeat the nearest earlier image's prediction (:func:`fill_index`).
    alpha : float, mapping, "published" or None
        Temporal smoothing strength per output (:func:`smm.temporal.smoothing_strengths`),
        applied over the images in frame order.
    threshold : float, default 0.5
        AU decision: ``au_prob > threshold``.
    clamp_va : bool, default False

    Returns
    -------
    FramePredictions
        Without ``time``, ``box``, ``landmarks`` and ``source``; add them with ``_replace``.
        With no image at all, every row is unobserved, with NaN probabilities and VA and
        ``-1`` decisions.
    """
    strengths = smoothing_strengths(alpha)
    check_threshold(threshold)
    frames = np.asarray(frames, dtype=np.int64).reshape(-1)
    if num_frames is not None and (isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer))):
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if len(frames) == 0:
        return FramePredictions.empty(0 if num_frames is None else int(num_frames), LabelNames.of(model))
    last = int(frames[-1])
    if num_frames is not None and last > num_frames:
        raise ValueError(f"num_frames={num_frames}, but there is an image of frame {last}")
    index = torch.from_numpy(fill_index(frames, last if num_frames is None else int(num_frames)))
    observed = torch.zeros(len(index), dtype=torch.bool)
    observed[torch.from_numpy(frames - 1)] = True
    au_logits, expr_logits, va = _head_outputs(model, au_features, messages, strengths)
    au_prob = torch.sigmoid(au_logits)[index]
    expr_prob = torch.softmax(expr_logits, -1)[index]
    va = va[index]
    return FramePredictions(
        au_prob=au_prob,
        au=(au_prob > threshold).long(),
        expr_prob=expr_prob,
        expr=expr_prob.argmax(-1),
        va=va.clamp(-1, 1) if clamp_va else va,
        frame=torch.arange(1, len(index) + 1),
        observed=observed,
        names=LabelNames.of(model),
    )


def _head_outputs(
    model: SMMEmotionNet, au_features: torch.Tensor, messages: torch.Tensor, strengths: Mapping[str, float | None]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AU logits, expression logits and VA (float32, CPU) from the (smoothed) features."""
    device = next(model.parameters()).device

    def smooth(x: torch.Tensor, alpha: float | None) -> torch.Tensor:
        return (x if alpha is None else exponential_smoothing(x, alpha)).to(device)

    au_logits = model.sign_vehicle.classify(smooth(au_features, strengths["AU"])).float().cpu()
    expr_logits = model.message_space.classify(smooth(messages, strengths["EXPR"]))[0].float().cpu()
    va = model.message_space.classify(smooth(messages, strengths["VA"]))[1].float().cpu()
    return au_logits, expr_logits, va


def check_batch_size(batch_size: int) -> None:
    check_positive(batch_size, "batch_size")


def check_threshold(threshold: float) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
