"""Benchmark: the prediction engines on this machine, and which one ``engine="auto"`` picks.

    python -m benchmarks.engines [--model smm_abaw3] [--batch 8 16] [--repeats 5]

Times eager PyTorch fp32, eager bf16 autocast (where the CPU has bf16 units) and ONNX Runtime
fp32 on the full model's forward pass, interleaved (a, b, c, a, b, c, ...), median per batch;
also the one-off export and check. Prints the machine first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import torch

import smm
from benchmarks._timing import interleaved_median
from smm.inference.engines import EagerEngine, OnnxRuntimeEngine, resolve_engine
from smm.inference.machine import cpu_supports_bf16, describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smm_abaw3")
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--int8", action="store_true", help="also the int8 graph (calibrated on real faces)")
    parser.add_argument(
        "--int8-speed",
        action="store_true",
        help="with --int8: time the int8 graph even where it is refused (random weights), for its speed only",
    )
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    model = smm.create_model(args.model).eval()
    engines = {"eager fp32": EagerEngine(model, "fp32")}
    if cpu_supports_bf16():
        engines["eager bf16"] = EagerEngine(model, "bf16")
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        engines["onnxruntime fp32"] = OnnxRuntimeEngine(model, cache=cache)
        export = time.perf_counter() - start
        print(f"{args.model}: ONNX export and check against eager, once per model: {export:.1f} s")
        if args.int8:
            start = time.perf_counter()
            try:
                engines["onnxruntime int8"] = OnnxRuntimeEngine(model, cache=cache, int8=True)
                print(f"int8: {engines['onnxruntime int8'].name}; quantised in {time.perf_counter() - start:.1f} s")
            except ValueError as error:
                print(f"int8 refused: {error}")
                if args.int8_speed:
                    engines["int8 (refused; speed only)"] = _refused_int8(model, cache)
        print(f"engine='auto' picks here: {resolve_engine('auto', 'cpu')}")
        print("| batch | " + " | ".join(engines) + " | onnxruntime / eager fp32 |")
        print("|---|" + "---|" * (len(engines) + 1))
        for batch in args.batch:
            inputs = torch.rand(batch, *model.default_input_size, generator=torch.Generator().manual_seed(0))
            seconds = interleaved_median(
                {name: (lambda e=engine, x=inputs: e(x)) for name, engine in engines.items()},
                repeats=args.repeats,
                warmup=1,
                device=torch.device("cpu"),
            )
            cells = [f"{batch / s:.1f} img/s ({s * 1000:.0f} ms)" for s in seconds.values()]
            ratio = seconds["eager fp32"] / seconds["onnxruntime fp32"]
            print(f"| {batch} | " + " | ".join(cells) + f" | {ratio:.2f}x |")


def _refused_int8(model: torch.nn.Module, cache: str) -> Callable[[torch.Tensor], object]:
    """The int8 graph made without the agreement gate, run by ONNX Runtime: its speed, not its answers."""
    import onnxruntime

    from smm.face.calibration import calibration_faces
    from smm.inference.engines import quantized_graph

    path = quantized_graph(
        model, lambda: calibration_faces(model), cache=cache, agreement={"AU": 0.0, "EXPR": 0.0}, calibration_name="x"
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch.numpy()})


if __name__ == "__main__":
    main()
