"""Sphinx configuration for smm-emotionnet."""

from __future__ import annotations

import smm

project = "smm-emotionnet"
author = "smm-emotionnet developers"
copyright = "2026, smm-emotionnet developers"  # noqa: A001
release = smm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
# intersphinx is left out on purpose: it needs the network at build time.

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_custom_sections = ["Shape", "Items"]
napoleon_use_rtype = False
napoleon_use_ivar = True
nitpicky = False

html_theme = "furo"
html_title = f"smm-emotionnet {release}"
exclude_patterns = ["_build"]
