"""The package as a user meets it: metadata, public names, the README's usage snippet."""

from __future__ import annotations

import re
import runpy
from importlib import metadata, resources
from pathlib import Path

import pytest

import smm

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_distribution() -> None:
    assert smm.__version__ == metadata.version("smm-emotionnet")


def test_typed_marker_shipped() -> None:
    assert resources.files("smm").joinpath("py.typed").is_file()


def test_public_names_exist_and_are_documented() -> None:
    for name in smm.__all__:
        obj = getattr(smm, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_usage_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert blocks, "README has no python example"
    namespace: dict[str, object] = {}
    for block in blocks:  # every snippet, in order, as a reader would paste them
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "AU1" in out
    assert "'smm_resnet18'" in out
    assert "(3, 224, 224)" in out
    assert namespace["au_probability"].shape == (2, 12)


def test_readme_has_exactly_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("##", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", setup, flags=re.DOTALL)
    lines = [line for block in commands for line in block.strip().splitlines()]
    assert lines == ['pip install -e ".[dev]"', "python -m pytest"]


def test_quickstart_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "AU26" in out
    assert "Happiness" in out


def test_api_reference_covers_every_public_name() -> None:
    api = (ROOT / "docs" / "api.rst").read_text()
    # Each name is documented by an autodoc directive or in an automodule's :members: list.
    missing = [n for n in smm.__all__ if n not in ("__version__", "export") and not re.search(rf"\b{n}\b", api)]
    assert not missing, f"not in docs/api.rst: {missing}"
    assert "smm.export" in api
