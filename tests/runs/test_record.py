"""A run's record follows the prediction options: every option that changes what is written changes the record, so
a rerun into the same folder with another value is refused; an option that changes nothing does not."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from smm.inference.engines import EagerEngine
from smm.inference.options import BY_ENGINE, NO_EFFECT, PredictOptions
from smm.runs import RunManifest

#: A value other than the default for every option (a new option fails the first test until it has one).
OTHER = {
    "batch_size": 7,
    "threshold": 0.7,
    "clamp_va": True,
    "alpha": {"VA": 4.0},
    "faces": "largest",
    "detect_every": 3,
    "detect_size": None,
    "engine": "onnxruntime",
    "precision": "fp32",
    "progress": False,
}


class _Named:
    """A built engine that is only a name (what a record reads of an engine)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, batch: object) -> object:
        raise AssertionError("not run")


def test_every_option_has_another_value_here() -> None:
    assert set(OTHER) == {f.name for f in fields(PredictOptions)}
    assert all(OTHER[f.name] != f.default for f in fields(PredictOptions))


@pytest.mark.parametrize("name", sorted(OTHER))
def test_each_option_that_changes_outputs_changes_the_record_and_a_rerun_is_refused(
    name: str, tmp_path: Path, tiny_model: object
) -> None:
    base = PredictOptions()
    changed = replace(base, **{name: OTHER[name]})
    engine = EagerEngine(tiny_model, "fp32")  # type: ignore[arg-type]
    # The engine and precision are recorded as the engine they build (its name says both).
    rebuilt = _Named("onnxruntime (fp32)") if name in BY_ENGINE else engine
    first, second = base.record(engine), changed.record(rebuilt)  # type: ignore[arg-type]
    out = tmp_path / "out"
    RunManifest(out, first).claim()
    if name in NO_EFFECT:
        assert second == first
        RunManifest(out, second).claim()  # the same run: it resumes
        return
    assert second != first
    with pytest.raises(ValueError, match=r"holds a run with another model or other options \((\w+)\)") as refused:
        RunManifest(out, second).claim()
    assert ("engine" if name in BY_ENGINE else name) in str(refused.value)


def test_the_recorded_options_are_derived_from_the_options() -> None:
    recorded = set(PredictOptions.recorded())
    assert recorded == {f.name for f in fields(PredictOptions)} - NO_EFFECT - BY_ENGINE
    assert NO_EFFECT == {"progress"}
    assert BY_ENGINE == {"engine", "precision"}
    # Frame folders (submissions) find no faces: the face pipeline's options are not theirs to record.
    assert set(PredictOptions.recorded(frames_only=True)) == recorded - {"faces", "detect_every", "detect_size"}
    record = PredictOptions(alpha={"AU": 7.0}).record(_Named("eager (fp32)"), frames_only=True)  # type: ignore[arg-type]
    assert record == {"engine": "eager (fp32)", "batch_size": 32, "threshold": 0.5, "clamp_va": False,
                      "alpha": {"AU": 7.0}}  # fmt: skip
