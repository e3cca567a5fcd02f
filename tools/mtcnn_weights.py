"""Regenerate ``smm/face/mtcnn.safetensors``, MTCNN's three networks, from an installed facenet-pytorch.

    pip install "facenet-pytorch>=2.5,<2.6"
    python tools/mtcnn_weights.py

facenet-pytorch (MIT, Copyright (c) 2019 Timothy Esler) ships the P-, R- and O-Net weights of
Zhang et al.'s MTCNN (ported from the original Caffe models through David Sandberg's
TensorFlow facenet, MIT) as PyTorch state dicts. This script reads them with
``weights_only=True`` and writes one safetensors file that the wheel carries, so nothing is
converted or downloaded at run time. The licence notices are in ``smm/face/MTCNN_NOTICE``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "smm" / "face" / "mtcnn.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import facenet_pytorch

    data = Path(facenet_pytorch.__file__).parent / "data"
    tensors = {}
    for net in ("pnet", "rnet", "onet"):
        for key, value in torch.load(data / f"{net}.pt", map_location="cpu", weights_only=True).items():
            tensors[f"{net}.{key}"] = value.float().contiguous()
    from importlib.metadata import version as installed

    version = installed("facenet-pytorch")
    save_file(
        tensors,
        str(args.out),
        metadata={"source": f"facenet-pytorch {version} (MIT), MTCNN by Zhang et al. 2016", "licence": "MIT"},
    )
    print(f"wrote {args.out} ({args.out.stat().st_size:,d} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
