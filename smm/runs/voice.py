"""What one process of a prediction run says, on the terminal it may share with others."""

from __future__ import annotations

from collections.abc import Callable

from smm.inference.progress import say


class RunVoice:
    """The lines one process of a run says.

    Alone, it says everything as it is. One of several shares its terminal with the others:
    each line starts with ``[rank R]``, and the per-batch progress line, which rewrites itself
    with a carriage return, is left out (the processes would write over each other).

    Parameters
    ----------
    quiet : bool
        Say only what failed (and what warns).
    rank, world : int
        This process and the number of processes.
    write : callable, optional
        Where the lines go; default stderr.
    """

    def __init__(self, quiet: bool, rank: int, world: int, write: Callable[[str], None] | None = None) -> None:
        self.quiet, self.rank, self.world = quiet, rank, world
        self.write = write if write is not None else say

    @property
    def progress(self) -> bool:
        """Whether the per-batch progress line is shown."""
        return not self.quiet and self.world == 1

    def say(self, text: str) -> None:
        """A line said even when quiet (what failed)."""
        self.write(text if self.world == 1 else f"[rank {self.rank}] {text}")

    def tell(self, text: str) -> None:
        """A line said unless quiet (what was done)."""
        if not self.quiet:
            self.say(text)

    def announce(self, text: str) -> None:
        """A line about the whole run, said once, by rank 0 and untagged, unless quiet."""
        if not self.quiet and self.rank == 0:
            self.write(text)


__all__ = ["RunVoice"]
