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


def test_quickstart_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMM_CHECKPOINT", raising=False)
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "AU26" in out
    assert "Happiness" in out
    assert out.startswith("RANDOM WEIGHTS")  # random outputs are never shown without saying so
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    assert capsys.readouterr().out == out  # seeded: the same numbers every run


def test_quickstart_example_reads_smm_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("skimage", reason="scikit-image missing: pip install -e '.[dev]'")
    import torch
    import torch.nn.functional as F
    from skimage import data

    torch.manual_seed(3)
    model = smm.create_model("smm_resnet18", image_size=64).eval()
    model.save_pretrained(tmp_path / "run")
    monkeypatch.setenv("SMM_CHECKPOINT", str(tmp_path / "run"))
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "RANDOM WEIGHTS" not in out
    # The printed AU1 probability is the checkpoint's, on the face preprocessed as its config says
    # (64x64 here, ImageNet statistics), written out again here.
    face = torch.from_numpy(data.astronaut()[30:220, 160:350].copy()).permute(2, 0, 1).float()[None] / 255
    face = F.interpolate(face, size=(64, 64), mode="bilinear", align_corners=False)
    face = (face - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        expected = torch.sigmoid(model(face).au[0, 0]).item()
    assert f"AU1: {expected:.3f}" in out


@pytest.mark.parametrize(
    "module",
    ["smm", "smm.data", "smm.training", "smm.face", "smm.submission", "smm.inference", "smm.formats", "smm.layers"],
)
def test_api_reference_covers_every_public_name(module: str) -> None:
    import importlib

    pages = {p.name: p.read_text() for p in (ROOT / "docs" / "api").glob("*.rst")}
    api = "\n".join(pages.values())
    # Each name has an autodoc entry (``.. autofunction:: name``, or a dotted path ending in it).
    documented = set(re.findall(r"^\.\. auto(?:class|function|data):: (?:[\w.]+\.)?(\w+)$", api, flags=re.M))
    names = [n for n in importlib.import_module(module).__all__ if n not in ("__version__", "export")]
    missing = [n for n in names if n not in documented]
    assert not missing, f"{module}: not in docs/api/*.rst: {missing}"
    assert "export.rst" in pages
    # Each page lists what it documents in a summary table.
    for name, text in pages.items():
        if name != "index.rst":
            assert ".. autosummary::" in text, name


def test_facs_names() -> None:
    from smm.formats import FACS_NAMES, facs_label
    from smm.models.config import ABAW3_REGION_NAMES

    assert set(FACS_NAMES) == set(ABAW3_REGION_NAMES)
    # Every name, as the FACS manual (Ekman, Friesen & Hager, 2002) writes it, in sentence case here.
    manual = (
        "1 Inner Brow Raiser; 2 Outer Brow Raiser; 4 Brow Lowerer; 5 Upper Lid Raiser; 6 Cheek Raiser; "
        "7 Lid Tightener; 9 Nose Wrinkler; 10 Upper Lip Raiser; 12 Lip Corner Puller; 14 Dimpler; "
        "15 Lip Corner Depressor; 16 Lower Lip Depressor; 17 Chin Raiser; 23 Lip Tightener; 24 Lip Pressor; "
        "25 Lips Part; 26 Jaw Drop"
    )
    expected = {f"AU{entry.split(' ', 1)[0]}": entry.split(" ", 1)[1].capitalize() for entry in manual.split("; ")}
    assert FACS_NAMES == expected
    assert facs_label("AU25") == "AU25 Lips part"
    assert facs_label("AU6", sep="\n") == "AU6\nCheek raiser"
    assert facs_label("AU99") == "AU99"


def test_citation_metadata_matches_the_package() -> None:
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^version: (.+)$", cff, flags=re.M).group(1) == smm.__version__
    assert "arXiv:2203.12845" in cff
    citing = (ROOT / "docs" / "citing.rst").read_text()
    assert f"version = {{{smm.__version__}}}" in citing
    assert "eprint        = {2203.12845}" in citing


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    import os

    from smm._atomic import atomic_write

    old = os.umask(0o027)
    try:
        path = atomic_write(tmp_path / "a.txt", lambda p: p.write_text("x"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640  # 0o666 less the umask, as open() gives
    old = os.umask(0o002)
    try:
        path = atomic_write(tmp_path / "b.txt", lambda p: p.write_text("x"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o664


def test_project_urls_fit_core_metadata() -> None:
    import tomllib

    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls
    for label in urls:
        assert len(label) <= 32, f"project URL label longer than core metadata allows: {label!r}"


def test_the_face_extra_needs_no_facenet_and_the_wheel_carries_mtcnn() -> None:
    """Face detection is ours: the face extra names neither facenet-pytorch nor torchvision (dev keeps facenet as the
    oracle), and the package data that goes into the wheel holds the weights and their notice."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    face = " ".join(extras["face"]).lower()
    assert "facenet" not in face
    assert "torchvision" not in face
    assert any(entry.startswith("facenet-pytorch") for entry in extras["dev"])
    data = project["tool"]["setuptools"]["package-data"]["smm.face"]
    assert sorted(data) == ["MTCNN_NOTICE", "mtcnn.safetensors"]
    for name in data:
        assert (ROOT / "smm" / "face" / name).is_file()
    assert "MIT License" in (ROOT / "smm" / "face" / "MTCNN_NOTICE").read_text()
