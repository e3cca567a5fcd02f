"""The repository's own tools: what tools/mutate.py reads back from an earlier run's output."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mutate():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recheck_reads_the_survivors_printed_by_an_earlier_run() -> None:
    log = "\n".join(
        [
            "⠋ 577/577  🎉 451 🫥 9  ⏰ 0  🤔 0  🙁 126",
            "2 surviving mutant(s) of smm/face/video.py",
            "",
            "--- smm.face.video.x_aligned_crops__mutmut_1",
            "--- smm/face/video.py",
            "+++ smm/face/video.py",
            "@@ -1,4 +1,4 @@",
            "--- smm.face.video.xǁFaceFollowerǁ_step__mutmut_22 ",
            "-    a = 1",
            "+    a = 2",
        ]
    )
    assert _mutate().survivors_in(log) == [
        "smm.face.video.x_aligned_crops__mutmut_1",
        "smm.face.video.xǁFaceFollowerǁ_step__mutmut_22",
    ]
    assert _mutate().survivors_in("nothing survived\n") == []
