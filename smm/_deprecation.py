"""Renamed names of the 0.1 API keep working for one release, with a ``DeprecationWarning`` naming the new one."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

#: Removed in this release (the one after the rename).
REMOVED_IN = "0.3"


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new``."""
    warnings.warn(
        f"{old} is deprecated and will be removed in smm-emotionnet {REMOVED_IN}; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_kwargs(kwargs: Mapping[str, Any], renames: Mapping[str, str], where: str, *, stacklevel: int = 4) -> dict:
    """``kwargs`` with deprecated keyword names replaced by their new names (warning once per name).

    Raises
    ------
    TypeError
        When both a deprecated name and its new name are given.
    """
    out = dict(kwargs)
    for old, new in renames.items():
        if old in out:
            if new in out:
                raise TypeError(f"{where}: give {new}= only ({old}= is its deprecated name)")
            warn_renamed(f"{where}({old}=...)", f"{new}=", stacklevel=stacklevel)
            out[new] = out.pop(old)
    return out
