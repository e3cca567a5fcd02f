"""Mutation testing of one module against its own tests, with mutmut, in a scratch copy of the repository.

    python tools/mutate.py smm/models/loader.py tests/test_one_door.py tests/models/test_registry.py

mutmut plants single-point bugs (an operator, a constant, a dropped argument) in the module,
one at a time, and runs the given tests against each; a mutant the tests do not notice
("survived") is a missing test, unless it is equivalent (the code means the same). The run
happens in a temporary copy of the tracked files, so the working tree is never touched; the
surviving mutants are printed as diffs at the end. It is slow (minutes per module on two
cores), so it is not part of CI: run it on the modules a change touches (docs/contributing.rst).
Save the output; after adding tests, ``--recheck saved.log`` runs only its survivors again.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def scratch_copy(folder: Path, module: str, tests: list[str], pytest_args: list[str]) -> Path:
    """The tracked files in ``folder/repo``, with a ``[tool.mutmut]`` section for ``module`` and ``tests``."""
    repo = folder / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    # mutmut runs pytest from its mutants/ copy, and its sys.path set-up drops that folder (mutmut
    # 3.8 removes every entry equal to the working directory after moving into it), so the
    # unmutated package installed in development mode would be tested instead. In the copy only:
    # the tests folder becomes plain modules, and the conftest puts mutants/ first on sys.path
    # and drops the import system's cached folder listings.
    (repo / "tests" / "__init__.py").unlink(missing_ok=True)
    for test in (repo / "tests").glob("*.py"):
        test.write_text(test.read_text().replace("from tests.strategies import", "from strategies import"))
    conftest = repo / "tests" / "conftest.py"
    head, future, rest = conftest.read_text().partition("from __future__ import annotations\n")
    conftest.write_text(
        head + future + "import importlib as _importlib\nimport sys as _sys\nfrom pathlib import Path as _Path\n\n"
        "_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))\n"
        "_importlib.invalidate_caches()  # the folder's listing may have been cached before mutmut filled it\n" + rest
    )
    if SHARED.is_dir():  # the reference fixture, where the tests look for it (beside the checkout, and in mutants/)
        (folder / "shared").symlink_to(SHARED)
        (repo / "shared").symlink_to(SHARED)
    quoted = ", ".join(f'"{test}"' for test in tests)
    with (repo / "pyproject.toml").open("a") as file:
        file.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["smm"]\n'
            # Tests that import a benchmark (the loop oracle of the heads) need it beside them.
            'also_copy = ["benchmarks"]\n'
            f'only_mutate = ["{module}"]\n'
            f"pytest_add_cli_args_test_selection = [{quoted}]\n"
            f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', *pytest_args])}\n"
            "mutate_only_covered_lines = false\n"
            # torch is not fork-safe once its thread pool runs: fork the workers from a server that
            # has imported the tests but run nothing, and allow for a worker's start-up.
            'process_isolation = "forkserver"\n'
            "timeout_constant = 20.0\n"
        )
    return repo


def survivors_in(log: str) -> list[str]:
    """The mutant names of the ``--- <name>`` lines this script prints for each survivor."""
    return [line[4:].strip() for line in log.splitlines() if line.startswith("--- ") and "__mutmut_" in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the module to mutate, e.g. smm/loader.py")
    parser.add_argument("tests", nargs="+", help="its own test files")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1, help="parallel test runs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print where it is")
    parser.add_argument("--debug", action="store_true", help="mutmut's debug output (the tests' own output)")
    parser.add_argument(
        "--pytest-args", default="", help="extra pytest arguments, e.g. \"-k 'not slow_test'\" (split like a shell)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="NAME",
        help="only these mutants (names or shell patterns, e.g. 'smm.face.video.x_area*')",
    )
    parser.add_argument(
        "--recheck",
        type=Path,
        metavar="LOG",
        help="only the mutants that survived in LOG, the saved output of an earlier run (after adding tests)",
    )
    args = parser.parse_args()
    names = list(args.only)
    if args.recheck is not None:
        if not args.recheck.is_file():
            parser.error(f"--recheck: no such file {args.recheck}")
        names += survivors_in(args.recheck.read_text(errors="replace"))
        if not names:
            parser.error(f"--recheck: {args.recheck} lists no surviving mutant ('--- <name>' lines)")
    if not (ROOT / args.module).is_file():
        parser.error(f"{args.module} is not a file of this repository")
    missing = [test for test in args.tests if not (ROOT / test).is_file()]
    if missing:
        parser.error(f"no such test file(s): {', '.join(missing)}")
    folder = Path(tempfile.mkdtemp(prefix="smm-mutate-"))
    try:
        repo = scratch_copy(folder, args.module, args.tests, shlex.split(args.pytest_args))
        if args.debug:
            with (repo / "pyproject.toml").open("a") as file:
                file.write("debug = true\n")
        env = {
            **os.environ,
            "PYTHONPATH": str(repo / "mutants"),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            # Tests make their module-wide fixtures per test (mutmut links a fixture's calls to one test only).
            "SMM_MUTATION": "1",
        }
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *names], cwd=repo, env=env
        )
        results = subprocess.run(
            [sys.executable, "-m", "mutmut", "results"], cwd=repo, env=env, capture_output=True, text=True
        )
        survivors = [line.split(":")[0].strip() for line in results.stdout.splitlines() if "survived" in line]
        print(f"\n{len(survivors)} surviving mutant(s) of {args.module}")
        for name in survivors:
            diff = subprocess.run(
                [sys.executable, "-m", "mutmut", "show", name], cwd=repo, env=env, capture_output=True, text=True
            )
            print(f"\n--- {name}\n{diff.stdout}")
        return run.returncode
    finally:
        if args.keep:
            print(f"scratch copy kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
