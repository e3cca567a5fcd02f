"""Run every test file alone, in its own pytest process, and say which fail there but pass in the suite.

    python tools/each_file_alone.py [--jobs 2] [--only tests/face] [-- extra pytest arguments]

A test that passes only after another file has run (an import that warns the first time, a
module-level cache another file filled) passes in the whole suite and fails when a developer,
or a mutation tool, runs its file alone. CI runs the suite in a random order (pytest-randomly,
the seed printed at the top); this runs each file with nothing before it. It takes about as
long as the suite plus a few seconds of start-up per file, so it is not part of CI: run it
after moving tests or adding module-level state (docs/contributing.rst).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_alone(path: Path, extra: list[str]) -> tuple[Path, int, float, str]:
    """``pytest path`` in a fresh process, in file order (no shuffling): its exit status, seconds and last lines."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", str(path), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return path, done.returncode, time.perf_counter() - start, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="files run at once (default: 2)")
    parser.add_argument("--only", default="tests", help="a folder or file under the repository (default: tests)")
    parser.add_argument("extra", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    root = ROOT / args.only
    files = [root] if root.is_file() else sorted(root.rglob("test_*.py"))
    failed = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for path, code, seconds, tail in pool.map(lambda p: run_alone(p, args.extra), files):
            name = path.relative_to(ROOT)
            # 5: no test collected (a file whose tests all skip on this machine is not a failure).
            verdict = "ok" if code in (0, 5) else f"FAILED (exit {code})"
            print(f"{verdict:18s} {seconds:6.1f} s  {name}", flush=True)
            if code not in (0, 5):
                failed.append((name, tail))
    for name, tail in failed:
        print(f"\n=== {name} alone ===\n{tail}")
    print(f"\n{len(files) - len(failed)} of {len(files)} test files pass alone")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
