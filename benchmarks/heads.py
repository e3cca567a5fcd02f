"""Benchmark: SMM heads (batched) vs the per-region loop of the published code.

Run ``python -m benchmarks.heads`` from the repository root. Both implementations hold
the same weights and must agree to 1e-5. Prints median times (interleaved runs), the
memory autograd keeps for a training step (and the CUDA peak on a GPU), the ratios
ours/loop, and the heads' GFLOP/s next to a plain ``torch.matmul`` of the same shape
as their main GEMM, measured in the same run.
"""

from __future__ import annotations

import argparse

import torch

import smm
from benchmarks._timing import interleaved_median, peak_cuda_bytes, saved_tensor_bytes
from benchmarks.loop_heads import LoopHeads

C, HW, U, D, TAPS = 768, 17, 17, 16, 9


def heads_flops(batch: int) -> float:
    """Forward FLOPs of the heads' 3x3 convolutions (everything else is negligible)."""
    pixels = batch * HW * HW
    return float(2 * (U * D + 4 * U) * C * TAPS * pixels)


def _fields(out: object) -> dict[str, torch.Tensor]:
    return out if isinstance(out, dict) else out._asdict()  # type: ignore[attr-defined]


def _train_step(model: torch.nn.Module, call, x: torch.Tensor):
    def step() -> None:
        model.train()
        out = _fields(call(x.detach().requires_grad_(True)))
        (out["au"].sum() + out["expr"].sum()).backward()

    return step


def _eval_step(model: torch.nn.Module, call, x: torch.Tensor):
    def step() -> None:
        model.eval()
        with torch.no_grad():
            call(x)

    return step


def _saved_bytes(model: torch.nn.Module, call, x: torch.Tensor) -> int:
    model.train()
    inp = x.detach().requires_grad_(True)
    return saved_tensor_bytes(lambda: call(inp))


def measure(loop: LoopHeads, ours: smm.SMMEmotionNet, batch: int, repeats: int, device: torch.device) -> str:
    x = torch.randn(batch, C, HW, HW, device=device)
    loop.eval()
    ours.eval()
    with torch.no_grad():
        expected, got = loop(x), ours.forward_head(x)._asdict()
    error = max((got[k] - expected[k]).abs().max().item() for k in ("au", "expr", "va", "region_features"))

    steps = {
        "train loop": _train_step(loop, loop, x),
        "train ours": _train_step(ours, ours.forward_head, x),
        "eval loop": _eval_step(loop, loop, x),
        "eval ours": _eval_step(ours, ours.forward_head, x),
    }
    a = torch.randn(U * D * TAPS, C, device=device)
    b = torch.randn(C, batch * HW * HW, device=device)
    steps["matmul"] = lambda: a @ b
    t = interleaved_median(steps, repeats=repeats, warmup=1, device=device)
    matmul_gflops = 2 * a.shape[0] * a.shape[1] * b.shape[1] / t["matmul"] / 1e9
    train_gflops = 3 * heads_flops(batch) / t["train ours"] / 1e9
    mem_loop = _saved_bytes(loop, loop, x)
    mem_ours = _saved_bytes(ours, ours.forward_head, x)
    line = (
        f"B={batch:3d} | train ms loop {t['train loop'] * 1e3:7.1f} ours {t['train ours'] * 1e3:7.1f} "
        f"({t['train ours'] / t['train loop']:.2f}x) | eval ms loop {t['eval loop'] * 1e3:7.1f} "
        f"ours {t['eval ours'] * 1e3:7.1f} ({t['eval ours'] / t['eval loop']:.2f}x) | "
        f"saved MiB loop {mem_loop / 2**20:6.1f} ours {mem_ours / 2**20:6.1f} ({mem_ours / mem_loop:.2f}x)"
    )
    if device.type == "cuda":
        peak_loop = peak_cuda_bytes(steps["train loop"], device)
        peak_ours = peak_cuda_bytes(steps["train ours"], device)
        line += f" | peak MiB loop {peak_loop / 2**20:.0f} ours {peak_ours / 2**20:.0f} ({peak_ours / peak_loop:.2f}x)"
    return line + (
        f" | train GFLOP/s {train_gflops:.0f} vs matmul {matmul_gflops:.0f} ({train_gflops / matmul_gflops:.0%})"
        f" | max |diff| {error:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    loop = LoopHeads().to(device)
    ours = smm.SMMEmotionNet.abaw3(backbone=None)
    ours.load_state_dict(smm.convert_reference_state_dict(loop.reference_state_dict()))
    ours.to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"heads vs per-region loop | {device} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}")
    for batch in args.batch:
        print(measure(loop, ours, batch, args.repeats, device), flush=True)


if __name__ == "__main__":
    main()
