"""Benchmark: the README's main job, ``smm-emotionnet train`` (the demo recipe), end to end on this machine.

    python -m benchmarks.demo [--steps 150]

Runs the demo recipe in a temporary folder (data generation included) and prints the machine,
the precision the trainer picked, the wall time and the validation before and after.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from smm.inference.machine import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's (150)")
    args = parser.parse_args()
    from smm.training import RECIPES, describe, train

    print(f"machine: {describe_machine()}")
    recipe = RECIPES["demo"] if args.steps is None else RECIPES["demo"].replace(steps=args.steps)
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = train(recipe, Path(folder) / "demo", log=lines.append)
        seconds = time.perf_counter() - start
    setup = next((line for line in lines if line.startswith("training ")), "")
    print(setup)
    print(f"demo recipe, {recipe.steps} steps: {seconds:.0f} s ({seconds / 60:.1f} min) end to end")
    if result.history:
        print(f"validation: {describe(result.history[0][1])} -> {describe(result.history[-1][1])}")


if __name__ == "__main__":
    main()
