"""The version of smm-emotionnet (read by the build from here)."""

from __future__ import annotations

__version__ = "0.2.0"
