"""The ``smm-emotionnet`` command line (:mod:`smm.cli.main`).

One module per command, each its options and one call of the library.
"""

from __future__ import annotations

from smm.cli.main import main

__all__ = ["main"]
