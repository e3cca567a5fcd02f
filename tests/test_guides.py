"""The guides' commands run as written.

Every line of every ``.. code-block:: bash`` in the two guides is run here, in a scratch
folder laid out as the guide assumes (an Aff-Wild2-style folder, a video, a photo). Commands
that would train for hours get a few overrides appended (``SPEED``), and ``--device cuda``
becomes ``cpu`` on a machine without CUDA; nothing else is changed. ``pip install`` lines are
checked against the package's extras instead of run.
"""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from smm.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Appended to the guides' training commands so that the test runs in seconds, not hours.
SPEED = {"train": ["--steps", "2", "--batch-size", "2", "--val-every", "2", "--save-every", "1"]}


def bash_commands(page: Path) -> list[str]:
    """The command lines of the page's ``bash`` code blocks, comments removed."""
    text = page.read_text()
    commands = []
    for block in re.findall(r"\.\. code-block:: bash\n\n((?:   .*\n|\n)+)", text):
        for line in block.splitlines():
            line = line.strip()
            if line:
                commands.append(shlex.split(line, comments=True))
    return [" ".join(shlex.quote(part) for part in command) for command in commands]


def run(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    argv = shlex.split(command)
    if argv[:2] == ["pip", "install"]:
        from importlib import metadata

        extras = set(metadata.metadata("smm-emotionnet").get_all("Provides-Extra") or [])
        for requirement in argv[2:]:
            match = re.fullmatch(r"smm-emotionnet\[([\w,]+)\]", requirement)
            assert match, f"the guide installs something else than this package: {requirement}"
            assert set(match.group(1).split(",")) <= extras, requirement
        return ""
    assert argv[0] == "smm-emotionnet", f"unexpected command in a guide: {command}"
    args = argv[1:]
    if not torch.cuda.is_available() and "--device" in args:
        args[args.index("--device") + 1] = "cpu"
    args += SPEED.get(args[0], [])
    capsys.readouterr()
    assert main(args) == 0, command
    return capsys.readouterr().out


def test_guides_have_commands() -> None:
    assert bash_commands(DOCS / "training.rst")[:2] == [
        "smm-emotionnet train",
        "smm-emotionnet info --checkpoint runs/demo",
    ]
    assert "smm-emotionnet predict --checkpoint runs/demo --input clip.mp4 photo.jpg --out results/" in bash_commands(
        DOCS / "faces.rst"
    )


# The guide's GPU command asks for 8 loader workers; on a small CI machine torch warns about that.
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_train_on_affwild2_guide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from smm.data.synthetic import make_synthetic_affwild2

    monkeypatch.chdir(tmp_path)
    make_synthetic_affwild2(tmp_path / "affwild2", videos=3, frames_per_video=8, validation_videos=1)
    outputs = [run(command, capsys) for command in bash_commands(DOCS / "training.rst")]
    assert len(outputs) == 4
    assert (tmp_path / "runs" / "demo" / "model.safetensors").is_file()
    assert "model: runs/demo" in outputs[1]
    # The published recipe's run: InceptionV3 at 299x299, a resume state, and --resume continued it.
    config = (tmp_path / "runs" / "abaw3" / "config.json").read_text()
    assert '"backbone": "inception_v3"' in config
    assert "299" in config
    assert (tmp_path / "runs" / "abaw3" / "resume.pt").is_file()


def _clip(path: Path, frames: int = 6) -> None:
    av = pytest.importorskip("av")
    from PIL import Image
    from skimage import data

    face = Image.fromarray(data.astronaut()).resize((256, 256))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 384, 256, "yuv420p"
        for i in range(frames):
            canvas = Image.new("RGB", (384, 256), (90, 90, 90))
            if i != 3:  # frame 4 (the 4th) has no face
                canvas.paste(face, (4 * i, 0))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")))
        container.mux(stream.encode())


def test_predict_on_your_own_video_guide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av", reason="the face extra is missing: pip install 'smm-emotionnet[face]'")
    pytest.importorskip("skimage", reason="scikit-image missing: pip install -e '.[dev]'")
    from skimage import data

    monkeypatch.chdir(tmp_path)
    _clip(tmp_path / "clip.mp4")
    from PIL import Image

    Image.fromarray(data.astronaut()).save(tmp_path / "photo.jpg")
    for command in bash_commands(DOCS / "faces.rst"):
        run(command, capsys)
    guide = (DOCS / "faces.rst").read_text()
    with open(tmp_path / "results" / "clip.csv", newline="") as file:
        rows = list(csv.reader(file))
    header, body = rows[0], rows[1:]
    assert [row[header.index("frame")] for row in body] == [str(i) for i in range(1, 7)]  # one row per frame, from 1
    # Full detection runs on frame 1 (every 10th frame by default) and at cuts; the tracked face is re-located
    # on every frame between, so frame 4, which has no face, is marked 0, and frame 5 finds the face again.
    assert [row[header.index("face")] for row in body] == ["1", "1", "1", "0", "1", "1"]
    assert [row[header.index("face_id")] for row in body] == ["0", "0", "0", "", "0", "0"]
    assert "the tracked faces' landmarks are re-located on every frame between" in " ".join(guide.split())
    assert (tmp_path / "results" / "images.csv").is_file()
    assert (tmp_path / "annotated" / "clip.overlay.mp4").is_file()  # section 5: the annotated video
    assert (tmp_path / "clip.png").stat().st_size > 10_000  # and the timeline
    # Every column of the file is explained in the guide's table.
    table = guide.split("4. What each column means", 1)[1].split("From Python", 1)[0]
    unexplained = [name for name in header if f"``{name}``" not in table]
    assert not unexplained, f"columns the guide does not explain: {unexplained}"
