"""``smm-emotionnet check-submission``: a folder of prediction files against the test lists.

The check is :func:`smm.submission.check_submission`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smm.cli import common
from smm.formats.codes import MULTITASK_FILE


def add_parser(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check-submission",
        help="check a folder of prediction files against the test lists",
        description=(
            "Check file names, headers, line counts, value ranges, class codes and the multi-task image order; "
            "print one line per problem. Exit code 0: no error; 1: errors found; 2: the check could not run."
        ),
    )
    check.add_argument("folder", type=Path, help="the submission folder (AU/, EXPR/, VA/, the multi-task file)")
    common.add_list_options(check, "check the files it requires")
    common.add_count_options(check)
    check.add_argument(
        "--mtl-file", default=MULTITASK_FILE, help=f"name of the multi-task file (default: {MULTITASK_FILE})"
    )
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """One line per problem, then the counts; exit status 1 if there is an error."""
    from smm.submission import check_submission

    lists = common.test_lists(args)
    if not lists:
        raise ValueError("give at least one test list: --au-list, --expr-list, --va-list, --mtl-list")
    whole = [v for key, videos in lists.items() if key != "mtl_list" for v in videos]
    counts = common.frame_counts(args, list(dict.fromkeys(whole)))
    problems = check_submission(args.folder, frame_counts=counts, mtl_file=args.mtl_file, **lists)
    for problem in problems:
        common.out(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    checked = ", ".join(name.replace("_videos", "").replace("_list", "").upper() for name in lists)
    if not counts and whole:
        common.err("note: line counts not checked against the videos (pass --videos or --annotations)")
    common.out(f"{args.folder}: {errors} error(s), {warnings} warning(s) ({checked} checked)")
    return 1 if errors else 0
