"""Screenshot every page of the built documentation at desktop width with headless Chromium.

Usage: ``python tools/docs_screenshots.py [docs/_build/html] [out_dir]``. Needs a Chromium binary
(``chromium`` on Debian: ``apt-get install chromium``). The PNG files are for looking at pages as
a reader does, after ``sphinx-build``; nothing here runs in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(browser: str, page: Path, out: Path, width: int = 1440, height: int = 4000) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> int:
    html = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/_build/screenshots")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("no Chromium found: apt-get install chromium", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for page in sorted(html.rglob("*.html")):
        relative = page.relative_to(html)
        if relative.parts[0] in {"_modules", "_static", "_sources"} or relative.name in {
            "genindex.html",
            "search.html",
        }:
            continue
        target = out / (str(relative.with_suffix("")).replace("/", "__") + ".png")
        screenshot(browser, page, target)
        print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
