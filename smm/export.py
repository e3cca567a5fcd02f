"""Export SMM-EmotionNet to ONNX with a dynamic batch axis.

Needs the ``export`` extra (``pip install "smm-emotionnet[export]"``: onnx, onnxscript,
onnxruntime to run the result).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from smm.models.emotionnet import SMMEmotionNet, SMMOutput

#: ONNX opset used by default; 18 is the first with ``Col2Im`` (our batched ROI embedding).
DEFAULT_OPSET = 18


def to_onnx(
    model: SMMEmotionNet,
    path: str | os.PathLike[str],
    *,
    input_size: tuple[int, int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
) -> Path:
    """Write ``model`` as an ONNX graph whose outputs are the fields of :class:`~smm.SMMOutput`.

    The model is exported in eval mode from an example batch on its own device
    and dtype; validation code is skipped while exporting.

    Parameters
    ----------
    model : SMMEmotionNet
        With a backbone (input ``images``) or without (input ``feature_maps``).
    path : path-like
        Where to write the ``.onnx`` file (parent folders are created).
    input_size : (int, int, int), optional
        ``(channels, height, width)`` of one input. Defaults to
        ``model.default_input_size`` for a model with a backbone, and to
        ``(feature_channels, 17, 17)`` for heads alone.
    opset : int, default 18
        ONNX opset; at least 18.
    dynamic_batch : bool, default True
        Make the batch axis symbolic (``"batch"``) in the graph.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"to_onnx needs {', '.join(missing)}: pip install 'smm-emotionnet[export]'")
    if opset < DEFAULT_OPSET:
        raise ValueError(f"opset must be >= {DEFAULT_OPSET} (Col2Im), got {opset}")
    heads_only = model.backbone is None
    if input_size is None:
        input_size = (model.feature_channels, 17, 17) if heads_only else model.default_input_size
    if len(input_size) != 3:
        raise ValueError(f"input_size must be (channels, height, width), got {input_size}")
    parameter = next(model.parameters())
    example = torch.randn(2, *input_size, device=parameter.device, dtype=parameter.dtype)
    was_training = model.training
    model.eval()

    class _Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> SMMOutput:
            return self.model.forward_head(x) if heads_only else self.model(x)

    input_name = "feature_maps" if heads_only else "images"
    dynamic = {"x": {0: torch.export.Dim("batch")}} if dynamic_batch else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.onnx.export(
            _Graph().eval(),
            (example,),
            str(path),
            input_names=[input_name],
            output_names=list(SMMOutput._fields),
            opset_version=opset,
            dynamic_shapes=dynamic,
            dynamo=True,
            verbose=False,
        )
    finally:
        model.train(was_training)
    return path
