"""Run every benchmark and write one Markdown report: ``python -m benchmarks all [--out report.md] [--quick]``.

Made for the first machine with a GPU: one command produces the whole table (heads vs the
per-region loop, the full model in fp32/bf16 eager and compiled, the video pipeline), each
section headed by the machine it ran on. ``--quick`` uses small sizes (a smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import time
from pathlib import Path

from smm.inference.machine import describe_machine

#: (module, arguments, arguments with --quick)
BENCHMARKS = (
    ("benchmarks.heads", [], ["--batch", "4", "--repeats", "1"]),
    ("benchmarks.model", [], ["--batch", "2", "--repeats", "1", "--no-compile"]),
    ("benchmarks.train_step", [], ["--batch", "2", "--repeats", "1"]),
    ("benchmarks.input", [], ["--images", "32", "--model", "smm_resnet18"]),
    # The engines on this machine, the int8 gate, and what engine="auto" picks (it times them here).
    ("benchmarks.engines", ["--int8", "--int8-speed"], ["--model", "smm_resnet18", "--batch", "2", "--repeats", "1"]),
    # The video path with what auto picks, and with the eager fp32 baseline.
    ("benchmarks.video", ["--frames", "90"], ["--frames", "10", "--model", "smm_resnet18"]),
    (
        "benchmarks.video",
        ["--frames", "90", "--engine", "eager", "--precision", "fp32"],
        ["--frames", "10", "--model", "smm_resnet18", "--engine", "eager", "--precision", "fp32"],
    ),
    ("benchmarks.demo", [], ["--steps", "2"]),
    ("benchmarks.corpus", [], ["--videos", "2", "--frames", "6"]),
)


def run(module: str, arguments: list[str]) -> str:
    """The printed output of ``python -m module *arguments`` (run in this process)."""
    main = importlib.import_module(module).main
    buffer = io.StringIO()
    saved = sys.argv
    sys.argv = [module, *arguments]
    try:
        with contextlib.redirect_stdout(buffer):
            main()
    except Exception as error:  # a failing benchmark must not lose the others' numbers
        buffer.write(f"\nFAILED: {type(error).__name__}: {error}\n")
    finally:
        sys.argv = saved
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("all",))
    parser.add_argument("--out", type=Path, default=Path("benchmark-report.md"))
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args(argv)
    lines = [
        f"# smm-emotionnet benchmarks, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"Machine: {describe_machine()}",
        "",
    ]
    for module, full, quick in BENCHMARKS:
        arguments = quick if args.quick else full
        sys.stderr.write(f"running {module} {' '.join(arguments)}\n")
        started = time.perf_counter()
        output = run(module, arguments)
        lines += [f"## `python -m {module} {' '.join(arguments)}`", "", "```text", output.rstrip(), "```", ""]
        lines.append(f"({time.perf_counter() - started:.0f} s)")
        lines.append("")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
