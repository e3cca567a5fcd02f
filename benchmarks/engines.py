"""Benchmark: the prediction engines on this machine, the int8 gate, and which engine ``engine="auto"`` picks.

    python -m benchmarks.engines [--model smm_abaw3 | --checkpoint runs/demo] [--batch 8 16] [--repeats 5]
                                 [--int8] [--int8-speed]

Times eager PyTorch fp32, eager bf16 autocast (where the CPU has bf16 units), ONNX Runtime fp32
and (``--int8``) ONNX Runtime int8 on the model's forward pass, interleaved (a, b, c, a, b, c,
...), median per batch; also the one-off export and quantisation. With ``--int8`` it prints the
int8 gate's measures on the real faces it was not calibrated on (AU and expression agreement
with fp32, the largest and mean valence/arousal difference), and ``--int8-speed`` times an int8
graph the gate refused, for its speed only. Last, it asks ``auto`` for a long run, in a fresh
cache, and prints what it picked and why. Prints the machine first.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable

import torch

import smm
from benchmarks._timing import interleaved_median
from smm.inference.calibration import face_calibration
from smm.inference.engines import EagerEngine, OnnxRuntimeEngine, describe_engine, make_engine
from smm.inference.graphs import INT8_GATE, quantized_graph, quantized_path
from smm.inference.machine import cpu_supports_bf16, describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smm_abaw3", help="a registered model (random weights)")
    parser.add_argument("--checkpoint", help="a checkpoint folder instead (e.g. the demo's trained runs/demo)")
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
    model = (smm.load_checkpoint(args.checkpoint) if args.checkpoint else smm.create_model(args.model)).eval()
    print(f"model: {args.checkpoint or args.model} ({model.config.backbone}, input {model.default_input_size})")
    engines: dict[str, Callable[[torch.Tensor], object]] = {"eager fp32": EagerEngine(model, "fp32")}
    if cpu_supports_bf16():
        engines["eager bf16"] = EagerEngine(model, "bf16")
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        engines["onnxruntime fp32"] = OnnxRuntimeEngine(model, cache=cache)
        print(f"ONNX export and check against eager, once per model: {time.perf_counter() - start:.1f} s")
        if args.int8:
            calibration = face_calibration(model)
            start = time.perf_counter()
            try:
                engines["onnxruntime int8"] = OnnxRuntimeEngine(model, cache=cache, int8=True, calibration=calibration)
                print(f"int8 accepted, quantised and checked in {time.perf_counter() - start:.1f} s:")
                print(f"  {engines['onnxruntime int8'].name}")
                measured = engines["onnxruntime int8"].agreement
                print(f"  measured: VA max {measured['VA_max']:.4f} / mean {measured['VA_mean']:.4f}")
            except ValueError as error:
                print(f"int8 refused ({time.perf_counter() - start:.1f} s): {error}")
                refusal = quantized_path(model, calibration, cache=cache).with_name("refused.json")
                if refusal.is_file():
                    measured = json.loads(refusal.read_text())
                    print(
                        f"  measured: AU {measured['AU']:.1%}, EXPR {measured['EXPR']:.1%}, VA max "
                        f"{measured['VA_max']:.4f} / mean {measured['VA_mean']:.4f} on {measured['faces']} faces"
                    )
                if args.int8_speed:
                    engines["int8 (refused; speed only)"] = _refused_int8(model, calibration, cache)
            print(f"  the gate: {gate_words()}")
        print("| batch | " + " | ".join(engines) + " |")
        print("|---|" + "---|" * len(engines))
        for batch in args.batch:
            inputs = torch.rand(batch, *model.default_input_size, generator=torch.Generator().manual_seed(0))
            seconds = interleaved_median(
                {name: (lambda e=engine, x=inputs: e(x)) for name, engine in engines.items()},
                repeats=args.repeats,
                warmup=1,
                device=torch.device("cpu"),
            )
            base = seconds["eager fp32"]
            cells = [f"{batch / s:.1f} img/s ({base / s:.2f}x)" for s in seconds.values()]
            print(f"| {batch} | " + " | ".join(cells) + " |")
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        picked = make_engine(model, "auto", calibration=face_calibration(model), workload=10**6, cache=cache)
        print(f"engine='auto' for a long run, in a fresh cache ({time.perf_counter() - start:.1f} s, making the graphs")
        print(f"  and timing included): {describe_engine(picked)}")


def gate_words() -> str:
    return (
        f"AU decisions >= {INT8_GATE['AU']:.0%}, expressions >= {INT8_GATE['EXPR']:.0%}, "
        f"|VA difference| <= {INT8_GATE['VA']:g}, on the half of the calibration faces it was not calibrated on"
    )


def _refused_int8(model: torch.nn.Module, calibration: object, cache: str) -> Callable[[torch.Tensor], object]:
    """The int8 graph made without the gate, run by ONNX Runtime: its speed, not its answers."""
    import onnxruntime

    open_gate = {"AU": 0.0, "EXPR": 0.0, "VA": float("inf")}
    path = quantized_graph(model, calibration, cache=cache, gate=open_gate)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch.numpy()})


if __name__ == "__main__":
    main()
