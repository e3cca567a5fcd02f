"""Package attributes imported on first use, so that importing a package stays cheap (no torch until needed).

A package lists its public names once, as the imports of an ``if TYPE_CHECKING:`` block in
its ``__init__.py``; type checkers and editors read them as ordinary imports, and
:func:`lazy_exports` reads the same block to import each name only when it is first used::

    if TYPE_CHECKING:
        from smm import metrics                      # a submodule, reached as smm.metrics
        from smm.losses import ccc, weighted_bce     # public names, in __all__

    __getattr__, __dir__, __all__ = lazy_exports(__name__)
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def exported_names(source: str, package: str) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """The public names and submodules that the ``if TYPE_CHECKING:`` block of a package's source imports.

    Returns
    -------
    (dict, set)
        ``{name: (module, name in the module)}`` of the names imported from modules, and the
        submodules imported from the package itself (``from smm import metrics``).
    """
    names: dict[str, tuple[str, str]] = {}
    submodules: set[str] = set()
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and _is_type_checking(node.test)):
            continue
        for statement in node.body:
            if not isinstance(statement, ast.ImportFrom) or statement.level or statement.module is None:
                raise ValueError(f"{package}: the TYPE_CHECKING block may hold only 'from module import name' lines")
            for alias in statement.names:
                public = alias.asname or alias.name
                if statement.module == package:
                    submodules.add(public)
                else:
                    names[public] = (statement.module, alias.name)
    return names, submodules


def lazy_exports(
    package: str, *, fallback: Callable[[str], Any] | None = None, extra: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` of ``package``, from its ``if TYPE_CHECKING:`` imports.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    fallback : callable, optional
        Asked for a name the block does not list (old names that still work); it raises
        ``AttributeError`` for unknown ones.
    extra : tuple of str
        Names defined in the package itself that ``__all__`` lists too (``"__version__"``).
    """
    namespace = sys.modules[package].__dict__
    source = Path(namespace["__file__"]).read_text(encoding="utf-8")
    names, submodules = exported_names(source, package)

    def __getattr__(name: str) -> Any:
        if name in names:
            module, attribute = names[name]
            value = getattr(importlib.import_module(module), attribute)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        elif fallback is not None:
            return fallback(name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names, *submodules})

    return __getattr__, __dir__, sorted({*names, *extra})


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


__all__ = ["exported_names", "lazy_exports"]
