"""PredictOptions' checks by value, and build_engine: what it hands make_engine, and the line it says."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest

from smm.inference import options as options_module
from smm.inference.options import PredictOptions, build_engine


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("batch_size", 0, "batch_size must be a positive integer, got 0"),
        ("batch_size", True, "batch_size must be a positive integer, got True"),
        ("threshold", 1.5, "threshold must be a number in [0, 1], got 1.5"),
        ("clamp_va", 1, "clamp_va must be True or False, got 1"),
        ("alpha", -1.0, "alpha"),
        ("faces", "both", "faces must be one of 'all', 'largest', got 'both'"),
        ("detect_every", 0, "detect_every must be a positive integer, got 0"),
        ("detect_every", True, "detect_every must be a positive integer, got True"),
        ("detect_every", 1.5, "detect_every must be a positive integer, got 1.5"),
        ("detect_size", 0, "detect_size must be a positive integer or None, got 0"),
        ("engine", "fast", "engine must be one of 'auto', 'eager', 'onnxruntime', 'onnxruntime-int8' or an Engine"),
        ("precision", "fp64", "precision must be one of ('fp32', 'bf16', 'fp16', 'auto'), got 'fp64'"),
        ("progress", "yes", "progress must be True, False or None, got 'yes'"),
    ],
)
def test_options_out_of_range_are_refused_naming_the_option(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        PredictOptions(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("detect_every", 1), ("detect_size", None), ("detect_size", 1), ("progress", True), ("progress", None),
     ("threshold", 0.0), ("threshold", 1.0), ("batch_size", 1), ("alpha", "published"), ("clamp_va", True)],
)  # fmt: skip
def test_the_edges_of_each_range_are_accepted(name: str, value: object) -> None:
    assert getattr(PredictOptions(**{name: value}), name) == value


def test_a_recorded_alpha_is_a_plain_dict() -> None:
    class Named:
        name = "eager (fp32)"

    record = PredictOptions(alpha=MappingProxyType({"VA": 3.0})).record(Named())  # type: ignore[arg-type]
    assert type(record["alpha"]) is dict
    assert record["alpha"] == {"VA": 3.0}


class _Engine:
    name = "stand-in"
    auto = None

    def __call__(self, batch: object) -> object:
        raise AssertionError("not run")


def test_build_engine_hands_make_engine_the_options_and_says_a_slow_choice(
    monkeypatch: pytest.MonkeyPatch, tiny_model: Any
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    built = _Engine()

    def make_engine(*args: Any, **kwargs: Any) -> _Engine:
        calls.append((args, kwargs))
        return built

    class Clock:  # each reading 1.5 s after the one before
        now = 0.0

        def perf_counter(self) -> float:
            Clock.now += 1.5
            return Clock.now

    said: list[str] = []
    monkeypatch.setattr(options_module, "make_engine", make_engine)
    monkeypatch.setattr(options_module, "face_calibration", lambda model: ("faces of", model))
    monkeypatch.setattr(options_module, "time", Clock())
    monkeypatch.setattr(options_module, "engine_line", lambda seconds, describe: said.append(f"{seconds} {describe()}"))
    monkeypatch.setattr(options_module, "describe_engine", lambda engine: f"described {engine.name}")

    def log(line: str) -> None:
        pass

    chosen = PredictOptions(engine="onnxruntime", precision="fp32", batch_size=5)
    assert build_engine(tiny_model, chosen, 77, log=log) is built
    args, kwargs = calls[-1]
    assert args == (tiny_model, "onnxruntime")
    assert kwargs == {
        "precision": "fp32",
        "calibration": ("faces of", tiny_model),
        "workload": 77,
        "batch_size": 5,
        "log": log,
    }
    assert said == []  # not shown: nothing said
    build_engine(tiny_model, chosen, None, calibrate=False, shown=True)
    assert calls[-1][1]["calibration"] is None  # frame folders: no calibration faces
    assert calls[-1][1]["workload"] is None
    assert said == ["1.5 described stand-in"]  # the seconds the choice took, and what was built
    build_engine(tiny_model, PredictOptions(engine=built), 3, shown=True)  # a built engine: nothing chosen
    assert said == ["1.5 described stand-in"]
