"""What long prediction work shows while it runs: a progress bar, and the engine's line when choosing it took a while.

``progress=None`` (the default of :func:`smm.predict_images` and :func:`smm.predict_video`)
reports progress where a person is watching: in a terminal (standard error is one) or in a
Jupyter notebook; ``True`` always reports (a closing line with the rate, and the bar wherever
it can be drawn), ``False`` never. The bar is tqdm's (part of the ``face`` extra); without
tqdm there is no bar, and nothing fails.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

#: Choosing the engine for longer than this many seconds is said on standard error (with the bar on).
ENGINE_LINE_AFTER = 1.0


def watched() -> bool:
    """Whether a person is likely watching: standard error is a terminal, or this runs in a Jupyter kernel."""
    stream = sys.stderr
    try:
        if stream is not None and stream.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or replaced stream
        pass
    ipython = sys.modules.get("IPython")  # only where IPython runs is it imported
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def show_progress(progress: bool | None) -> bool:
    """``progress`` resolved: ``None`` is :func:`watched`; a bool is itself (anything else is a ``TypeError``)."""
    if progress is None:
        return watched()
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    return progress


class _NoBar:
    """Stands in for a bar that is not shown."""

    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(shown: bool, *, total: int | None, desc: str, unit: str) -> Any:
    """A tqdm bar on standard error that leaves no line behind, or a stand-in with ``update`` and ``close``.

    The bar is drawn only where it can be seen as one (:func:`watched`): redrawn into a log file
    or a pipe it would be a line per redraw, so there the caller's closing line is all that shows.
    """
    if not shown or not watched():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit, leave=False)  # on stderr


def say(text: str) -> None:
    """One line on standard error."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def engine_line(seconds: float, describe: Callable[[], str], write: Callable[[str], None] = say) -> None:
    """``engine: ...`` when choosing the engine took more than :data:`ENGINE_LINE_AFTER` seconds."""
    if seconds > ENGINE_LINE_AFTER:
        write(f"engine: {describe()} (chosen in {seconds:.1f} s)")


__all__ = ["ENGINE_LINE_AFTER", "engine_line", "progress_bar", "show_progress", "watched"]
