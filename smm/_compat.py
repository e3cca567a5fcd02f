"""Every name and import path of earlier releases that still works, with a ``DeprecationWarning`` naming the new one.

Two kinds of shims live here, and nowhere else:

- **moved modules** (:data:`MOVED_MODULES`): ``import smm.presets`` or ``from smm.model
  import ...`` gives a stand-in module that warns once, then finds each name in the module's
  new homes, searched in order;
- **renamed names and keywords**: :func:`warn_renamed` and :func:`renamed_kwargs`, which the
  modules that kept a 0.1 spelling call, and :data:`RENAMED` for ``smm.MessageOutput``.

This is the only module of ``smm`` that imports another by a string (``importlib``), so the
import-graph test can see every other dependency.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

#: Removed in this release (the one after the rename).
REMOVED_IN = "0.3"

#: 0.1.0's module paths -> the modules their contents moved to, searched in order for each name. Only
#: paths that were released have a shim: those that came and went between releases have none.
MOVED_MODULES: Mapping[str, tuple[str, ...]] = {
    # 0.1's flat layout.
    "smm.predictions": ("smm.inference.frames", "smm.inference.results", "smm.formats.abaw_files", "smm.formats.codes"),
    "smm.attention": ("smm.layers.attention",),
    "smm.embedding": ("smm.layers.embedding",),
    "smm.sign_vehicle": ("smm.layers.sign_vehicle",),
    "smm.message_space": ("smm.layers.message_space",),
    "smm.positional": ("smm.layers.positional",),
    # The model and its weights: smm.models.
    "smm.presets": ("smm.models.config",),
    "smm.model": ("smm.models.emotionnet",),
    "smm.checkpoint": ("smm.models.checkpoint", "smm.models.builder"),
    "smm.convert": ("smm.models.convert", "smm.models.builder", "smm.models.checkpoint"),
}

#: Renamed attributes of the ``smm`` package: old name -> (new name, the module that defines it).
RENAMED: Mapping[str, tuple[str, str]] = {"MessageOutput": ("MessageSpaceOutput", "smm.layers.message_space")}


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


def renamed_attribute(name: str) -> Any:
    """The object a renamed ``smm`` attribute (:data:`RENAMED`) now is, with a warning."""
    new, module = RENAMED[name]
    warn_renamed(f"smm.{name}", f"smm.{new}", stacklevel=4)
    return getattr(importlib.import_module(module), new)


def moved_module(fullname: str) -> ModuleType:
    """The stand-in module of an old path (``"smm.presets"``), imported through :class:`MovedFinder`."""
    return importlib.import_module(fullname)


class MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets ``import smm.presets`` (and the other old paths of :data:`MOVED_MODULES`) work for one release.

    It sits at the end of :data:`sys.meta_path`, so it is asked only for modules that no longer
    exist as files.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        homes = MOVED_MODULES[module.__name__]
        warn_renamed(module.__name__, " / ".join(homes), stacklevel=3)

        def lookup(attribute: str) -> Any:
            if attribute.startswith("__"):
                raise AttributeError(attribute)
            for home in homes:
                found = importlib.import_module(home)
                if hasattr(found, attribute):
                    return getattr(found, attribute)
            raise AttributeError(f"{attribute!r} is not in {module.__name__}'s new homes ({', '.join(homes)})")

        module.__doc__ = f"Moved: see {', '.join(homes)}."
        module.__getattr__ = lookup  # type: ignore[method-assign]


def install() -> None:
    """Put :class:`MovedFinder` at the end of :data:`sys.meta_path` (once)."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedFinder())


__all__ = [
    "MOVED_MODULES",
    "REMOVED_IN",
    "RENAMED",
    "MovedFinder",
    "install",
    "moved_module",
    "renamed_attribute",
    "renamed_kwargs",
    "warn_renamed",
]
