"""The ``smm-emotionnet`` command line: predict, plot, align, check-submission, train, convert, info.

Each command is a module of :mod:`smm.cli` with ``add_parser`` (its options) and ``run`` (a
call of the library, and the lines it says). Exit status: 0 done; 1 done, but some inputs
failed (each reported in one line) or the checked submission has errors; 2 the command could
not run (one line says why; nothing is written); 130 interrupted (Ctrl-C): one line says how
many inputs are complete, nothing is half-written, and the same command again continues.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smm._version import __version__
from smm.cli import align, check, common, convert, info, plot, predict, train

#: The exit status after Ctrl-C (SIGINT), as shells give it: 128 + 2.
INTERRUPTED = 130

#: The commands, in the order ``--help`` lists them.
COMMANDS = (predict, plot, align, check, train, convert, info)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (importing no torch)."""
    parser = argparse.ArgumentParser(
        prog="smm-emotionnet",
        description="SMM-EmotionNet: action units, expressions and valence/arousal from face videos.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``smm-emotionnet``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except KeyboardInterrupt as interrupt:
        # A run says how far it got (smm.runs.RunInterrupted); anything else stopped before or between runs.
        common.err(str(interrupt) if str(interrupt).startswith("interrupted") else "interrupted")
        return INTERRUPTED
    except (FileNotFoundError, ValueError, OSError, ImportError) as error:
        message = " ".join(str(error).split())
        common.err(f"smm-emotionnet {args.command}: error: {message}")
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
