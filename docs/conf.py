"""Sphinx configuration for smm-emotionnet.

The build is strict in CI: ``sphinx-build -W -n`` (warnings are errors, every cross-reference
must resolve). It executes the example notebooks and the figure scripts, so a notebook or
figure that fails fails the build.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import smm

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))  # the figure scripts, docs/figures

project = "smm-emotionnet"
author = "smm-emotionnet developers"
copyright = "2026, smm-emotionnet developers"
release = smm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",  # the notebooks, executed at build time, and the Markdown changelog
]
# intersphinx is left out on purpose: it needs the network at build time.

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store", "notebooks/.ipynb_checkpoints"]

# --- API reference -----------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_inherit_docstrings = False  # else torch's docstrings (extra_repr, ...) fill the pages
autosummary_generate = False  # summary tables only; the pages are written by hand
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_custom_sections = ["Shape", "Items"]
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_preprocess_types = True

# Strict cross-references. What cannot resolve without intersphinx (no network at build time)
# is listed here, and nothing else.
nitpicky = True
nitpick_ignore_regex = [
    # Types from other libraries: torch, numpy, matplotlib, PIL, the standard library.
    ("py:class", r"(torch|numpy|np|matplotlib|PIL|os|pathlib|collections|typing|enum|argparse|pandas)(\..+)?"),
    ("py:func", r"scipy\..+"),
    ("py:class", r"(Tensor|Module|Figure|Image|Path|PathLike|Generator|Iterator|Iterable|Sequence|Mapping)"),
    ("py:class", r"(Callable|Dataset|Sampler|Optimizer|LRScheduler|ndarray|dtype|device|Self|Literal|NamedTuple)"),
    # Numpy-style type prose that napoleon turns into references: "array (U, h, w)", "int, default 6".
    ("py:class", r"(array|tensor|optional|default|or|of|str|int|float|bool|None|dict|list|tuple|bytes|mapping)"),
    ("py:class", r"(sequence|iterable|callable|path|path-like|file|module|Tensors?|object|any|array-like)"),
    ("py:class", r".*[ (),=\[\]{}'\"].*"),  # shapes and defaults in a type field: "(B, U, D)", "default 0.5"
    ("py:class", r"\d+.*|[A-Za-z]"),  # "(B, 12)" fragments and single-letter dimensions
    # Words of numpy-style type fields that are prose, not types.
    ("py:class", r"ints|int64|float64|uint8|bool|size|probabilities|logits|in_chans|H_img|collection"),
    # Type aliases of Literal choices shown in signatures.
    ("py:class", r"Average|Alpha|Crop|Photo|FaceChoice"),
    # SMMConfig's fields live in a private base (so that SMMConfig can take 0.1's keyword without patching).
    ("py:class", r"smm\.models\.config\._ConfigFields"),
    ("py:(obj|func|meth|class|data|attr)", r"(torch|numpy|np|nn|timm|PIL|matplotlib)\..+"),
    ("py:obj", r"True|False|None"),
]

# --- Notebooks -----------------------------------------------------------------------------------
# The notebooks live in examples/ (where users find them) and are copied here to be executed.
nb_execution_mode = os.environ.get("SMM_DOCS_NB_EXECUTION", "force")  # "off" for a quick draft build
nb_execution_raise_on_error = True  # a notebook that fails fails the build
nb_execution_timeout = 900
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove"  # progress-bar and kernel noise; errors still fail the build
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"smm-emotionnet {release}"
html_static_path: list[str] = []


def _copy_notebooks(app) -> None:
    target = DOCS / "notebooks"
    target.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "examples").glob("*.ipynb")):
        destination = target / notebook.name
        if not destination.exists() or destination.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, destination)


def _draw_figures(app) -> None:
    from figures import draw_all

    draw_all(DOCS / "_generated")


def _skip_member(app, what, name, obj, skip, options):
    if name in {"extra_repr", "reset_parameters"} and not getattr(obj, "__doc__", None):
        return True
    return skip


def _lookup(path: str) -> object | None:
    import importlib

    if not all(part.isidentifier() for part in path.split(".")):
        return None
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except (ImportError, AttributeError, TypeError, ValueError):
            continue
        return getattr(obj, "__func__", obj)
    return None


_DOCUMENTED: dict[int, str] = {}


def _documented_name(env, target: str) -> str | None:
    """Where ``target`` (``smm.weighted_bce``, ``SMMConfig``, ...) is documented, if anywhere.

    Docstrings name objects by any public path (``smm.weighted_bce``,
    ``smm.losses.weighted_bce``); the pages document each object once. Follow the path to the
    object and find the page entry of the same object; failing that, a unique entry with
    the same last name.
    """
    objects = env.get_domain("py").objects
    if not _DOCUMENTED:
        for name in objects:
            if name.startswith("smm"):
                found = _lookup(name)
                if found is not None and not isinstance(found, (str, int, float, tuple, dict)):
                    _DOCUMENTED.setdefault(id(found), name)
    for candidate in [target] if target.startswith("smm") else [f"smm.{target}", target]:
        found = _lookup(candidate)
        if found is not None and id(found) in _DOCUMENTED:
            return _DOCUMENTED[id(found)]
    same = [name for name in objects if name.startswith("smm") and name.endswith("." + target.split(".")[-1])]
    return same[0] if len(same) == 1 else None


def _resolve_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = _documented_name(env, node["reftarget"])
    if target is None or target == node["reftarget"]:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], target, node, contnode)


def setup(app) -> None:
    app.connect("builder-inited", _copy_notebooks)
    app.connect("builder-inited", _draw_figures)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_alias)
