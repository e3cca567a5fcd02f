"""``engine="auto"``'s decision (:mod:`smm.inference.autotune`) with stand-in engines and clocks: every rule
and boundary of the module's steps by its value, without a model (the engines' own tests time real ones)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from smm.inference import autotune
from smm.inference.autotune import AUTO_MIN_IMAGES, ChoiceCache, Measured, choice_key, pick, time_engines

BATCH = torch.zeros(4, 1)  # four "images"
MAKING = {"onnxruntime fp32": 200.0, "onnxruntime int8": 300.0}  # images of the reference engine's time


def test_a_measurement_is_worth_redoing_only_for_a_run_that_pays_for_an_unmade_graph() -> None:
    # 10 img/s: a run of 1000 images takes 100 s, a quarter of which is 25 s.
    measured = Measured("eager fp32", {"eager fp32": 10.0, "eager bf16": 4.0}, unmade={"onnxruntime fp32": 25.0})
    assert measured.worth_making(1000)  # 25 s <= 25 s
    assert not measured.worth_making(999)
    assert not measured.worth_making(None)
    assert not Measured("eager fp32", {"eager fp32": 10.0}).worth_making(10**9)  # nothing left unmade
    # The cheapest unmade graph decides, and the chosen engine's speed prices the run (not the slower one's).
    both = Measured("eager fp32", {"eager fp32": 10.0, "eager bf16": 4.0}, unmade={"a": 50.0, "b": 25.0})
    assert both.worth_making(1000)
    assert not both.worth_making(999)


def test_a_measurement_says_what_ran_fastest_then_the_others_then_what_did_not_run() -> None:
    rates = {"eager fp32": 3.5, "onnxruntime int8": 10.7, "eager bf16": 7.04}
    assert Measured("onnxruntime int8", rates).describe() == "10.7 img/s vs eager bf16 7.0, eager fp32 3.5"
    assert Measured("eager fp32", {"eager fp32": 3.46}).describe() == "3.5 img/s"
    full = Measured(
        "eager bf16",
        {"eager bf16": 7.0, "eager fp32": 3.5},
        refused={"onnxruntime int8": "AU decisions agree on 95.2% (needs 99%)"},
        unmade={"onnxruntime fp32": 40.4},
    )
    assert full.describe() == (
        "7.0 img/s vs eager fp32 3.5; onnxruntime int8 refused: AU decisions agree on 95.2% (needs 99%); "
        "onnxruntime fp32 not made (about 40 s, more than 25% of this run; a longer run makes it)"
    )


def _clock(*durations: float) -> Callable[[], float]:
    """A clock read twice a call: the calls take ``durations`` in turn (one engine after the other, each round)."""
    now, reads = [0.0], [0]

    def read() -> float:
        if reads[0] % 2:
            now[0] += durations[(reads[0] // 2) % len(durations)]
        reads[0] += 1
        return now[0]

    return read


def test_the_timing_runs_its_rounds_then_more_until_the_slowest_to_add_up_has_its_seconds() -> None:
    calls: list[str] = []
    engines = {name: (lambda batch, name=name: calls.append(name if batch is BATCH else "?")) for name in "ab"}
    # Calls of 1 s: the two rounds asked for are enough; 4 images in 1 s.
    assert time_engines(engines, BATCH, clock=_clock(1.0)) == {"a": 4.0, "b": 4.0}
    assert calls == ["a", "b"] + ["a", "b"] * 2
    calls.clear()
    assert time_engines(engines, BATCH, rounds=3, clock=_clock(1.0)) == {"a": 4.0, "b": 4.0}
    assert len(calls) == 2 + 2 * 3
    # a takes 62.5 ms a call and b 1 s: the rounds go on until a's calls add up to 0.2 s (four rounds, 0.25 s;
    # three are 0.1875 s); b's seconds do not stop them.
    calls.clear()
    rates = time_engines(engines, BATCH, clock=_clock(0.0625, 1.0))
    assert calls.count("a") == calls.count("b") == 1 + 4
    assert rates == {"a": 64.0, "b": 4.0}
    calls.clear()
    time_engines({"a": engines["a"]}, BATCH, seconds=0.5, clock=_clock(0.0625))
    assert calls.count("a") == 1 + 8
    # However fast the calls, at most MAX_ROUNDS rounds.
    calls.clear()
    fast = time_engines({"a": engines["a"]}, BATCH, clock=_clock(1e-6))
    assert calls.count("a") == 1 + autotune.MAX_ROUNDS == 26
    assert fast["a"] == pytest.approx(4 / 1e-6)
    # A call the clock cannot see is not an infinite rate; nothing to time is nothing timed.
    assert time_engines({"a": engines["a"]}, BATCH, rounds=1, clock=lambda: 0.0) == {"a": pytest.approx(4e9)}
    assert time_engines({}, BATCH) == {}
    for rounds in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match=rf"^rounds must be a positive integer, got {rounds!r}$"):
            time_engines(engines, BATCH, rounds=rounds)  # type: ignore[arg-type]


def test_the_cache_key_changes_with_each_thing_the_measurement_depends_on() -> None:
    base = {"fingerprint": "f" * 16, "input_size": (3, 64, 64), "machine": {"cpu": "x", "threads": 2}}
    key = choice_key(**base, candidates=["eager fp32", "onnxruntime fp32"])
    assert len(key) == 24
    assert set(key) <= set("0123456789abcdef")
    assert choice_key("f" * 16, [3, 64, 64], {"threads": 2, "cpu": "x"}, ("eager fp32", "onnxruntime fp32")) == key
    changed = [
        {**base, "fingerprint": "e" * 16},
        {**base, "input_size": (3, 96, 96)},
        {**base, "machine": {"cpu": "x", "threads": 4}},
    ]
    assert all(choice_key(**c, candidates=["eager fp32", "onnxruntime fp32"]) != key for c in changed)
    assert choice_key(**base, candidates=["eager fp32"]) != key


def test_the_cache_keeps_a_measurement_whole_and_trusts_only_its_own(tmp_path: Path) -> None:
    said: list[str] = []
    cache = ChoiceCache(tmp_path / "auto", log=said.append)
    assert cache.load("k" * 24, ["eager fp32"]) is None  # nothing stored: no line either
    measured = Measured("b", {"a": 1.0, "b": 2.5}, refused={"c": "why"}, unmade={"d": 30.0}, batch=8)
    clashing = {"key": "not this", "chosen": "a", "rates": {}, "refused": {}, "unmade": {}, "batch": 99}
    cache.store("k" * 24, Measured("a", {"a": 1.0}), {})
    path = cache.store("k" * 24, measured, {"model": "f", "folder": Path("x"), **clashing})  # over the first
    assert path == tmp_path / "auto" / f"{'k' * 24}.json"
    text = path.read_text()
    assert text.endswith("}\n")
    assert text.splitlines()[:3] == ["{", ' "batch": 8,', ' "chosen": "b",']  # one field a line, sorted
    record = json.loads(text)
    assert record == {
        "key": "k" * 24, "chosen": "b", "rates": {"a": 1.0, "b": 2.5}, "refused": {"c": "why"},
        "unmade": {"d": 30.0}, "batch": 8, "model": "f", "folder": "x",
    }  # fmt: skip
    assert cache.load("k" * 24, ["a", "b", "c", "d"]) == measured
    assert said == []
    # Older files without the optional fields read with their defaults.
    path.write_text(json.dumps({"key": "k" * 24, "chosen": "b", "rates": {"b": 2}}))
    assert cache.load("k" * 24, ["b"]) == Measured("b", {"b": 2.0}, batch=autotune.TIMING_BATCH)
    for stored, reason in (
        ("[1, 2]", "it holds another measurement"),
        (json.dumps({"key": "k" * 24, "chosen": "b", "rates": {"a": 1.0}}), "its choice 'b' is not one of"),
        (json.dumps({"key": "k" * 24, "chosen": "z", "rates": {"z": 1.0}}), "its choice 'z' is not one of"),
        (json.dumps({"key": "k" * 24, "chosen": "b", "rates": [1]}), "has no attribute 'items'"),
        (json.dumps({"key": "k" * 24, "chosen": "b", "rates": {"b": "fast"}}), "could not convert"),
    ):
        path.write_text(stored)
        assert cache.load("k" * 24, ["a", "b"]) is None
        assert said[-1].startswith(f"note: the engine choice cached in {path} is ignored (")
        assert said[-1].endswith("); timing the engines again")
        assert reason in said[-1]
    assert said[0] == f"note: the engine choice cached in {path} is ignored (it holds another measurement); " + (
        "timing the engines again"
    )
    assert len(said) == 5
    path.write_text("{broken")
    assert ChoiceCache(tmp_path / "auto").load("k" * 24, ["b"]) is None  # without a log: silent
    assert ChoiceCache(tmp_path / "auto", log=said.append).load("k" * 24, ["b"]) is None
    assert "(not JSON)" in said[-1]


class _Engine:
    """A stand-in engine: a callable that knows its label."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, batch: torch.Tensor) -> None:
        if batch is not BATCH:
            raise AssertionError(f"{self.label} was given {batch!r}, not the run's batch")


class _Run:
    """What :func:`pick` is handed: stand-in engines, their builds and graphs, a fake timing table."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        rates: dict[str, float],
        *,
        ready: tuple[str, ...] = ("eager fp32", "eager bf16"),
        failing: dict[str, str] | None = None,
        call: float = 0.01,
    ) -> None:
        self.rates, self.ready, self.failing = rates, ready, failing or {}
        self.built: list[str] = []
        self.timed: list[list[str]] = []
        self.said: list[str] = []
        self.choices = ChoiceCache(tmp_path / "auto", log=self.said.append)
        ticks = iter(range(1000, 10**6))  # a clock that does not start at 0
        monkeypatch.setattr(autotune.time, "perf_counter", lambda: call * next(ticks))  # each call takes `call`
        monkeypatch.setattr(autotune, "time_engines", self._time)

    def _time(self, engines: dict[str, Any], batch: torch.Tensor, **_: object) -> dict[str, float]:
        assert batch is BATCH
        self.timed.append(list(engines))
        return {label: self.rates[label] for label in engines}

    def build(self, label: str) -> _Engine:
        if label in self.failing:
            raise RuntimeError(self.failing[label])
        self.built.append(label)
        return _Engine(label)

    def pick(self, labels: list[str], workload: int | None) -> tuple[Any, str]:
        return pick(
            labels,
            self.build,
            ready=lambda label: label in self.ready,
            making=MAKING.__getitem__,
            reference="eager fp32",
            batch=BATCH,
            workload=workload,
            key="k" * 24,
            facts={"model": "f"},
            choices=self.choices,
            say=self.said.append,
        )


def test_pick_times_the_ready_engines_makes_what_pays_and_keeps_the_fastest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    labels = ["eager bf16", "eager fp32", "onnxruntime fp32"]
    run = _Run(monkeypatch, tmp_path, {"eager bf16": 20.0, "eager fp32": 10.0, "onnxruntime fp32": 30.0})
    # The graph costs 200 images of eager fp32 time: 20 s; a run of 2000 images at 20 img/s is 100 s, a
    # quarter of which is 25 s: made.
    engine, why = run.pick(labels, 2000)
    assert engine.label == "onnxruntime fp32"
    assert run.timed == [["eager bf16", "eager fp32"], ["onnxruntime fp32"]]
    assert why == "auto: 30.0 img/s vs eager bf16 20.0, eager fp32 10.0"
    stored = run.choices.load("k" * 24, labels)
    assert stored == Measured("onnxruntime fp32", run.rates, batch=4)
    # Reused later without timing, whatever the run's size (even one too small to time).
    engine, why = run.pick(labels, 3)
    assert why == "auto, measured earlier on this machine: 30.0 img/s vs eager bf16 20.0, eager fp32 10.0"
    assert len(run.timed) == 2
    assert run.built[-1] == "onnxruntime fp32"


def test_pick_makes_a_graph_exactly_when_it_costs_at_most_a_quarter_of_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    labels = ["eager fp32", "onnxruntime fp32"]
    rates = {"eager fp32": 10.0, "onnxruntime fp32": 30.0}
    # 20 s to make; 800 images at 10 img/s: 80 s, a quarter of which is 20 s: made.
    run = _Run(monkeypatch, tmp_path / "a", rates)
    assert run.pick(labels, 800)[0].label == "onnxruntime fp32"
    # 799 images: not made, and the measurement says so; a later run of 800 makes it and times again.
    run = _Run(monkeypatch, tmp_path / "b", rates)
    engine, why = run.pick(labels, 799)
    assert engine.label == "eager fp32"
    assert run.timed == [["eager fp32"]]
    assert (
        why
        == "auto: 10.0 img/s; onnxruntime fp32 not made (about 20 s, more than 25% of this run; a longer run makes it)"
    )
    assert run.choices.load("k" * 24, labels) == Measured(
        "eager fp32", {"eager fp32": 10.0}, unmade={"onnxruntime fp32": 20.0}, batch=4
    )
    assert run.pick(labels, 799)[1].startswith("auto, measured earlier")
    assert run.pick(labels, 800)[0].label == "onnxruntime fp32"
    assert run.timed == [["eager fp32"], ["eager fp32"], ["onnxruntime fp32"]]


def test_pick_prices_the_making_by_the_reference_engine_and_keeps_refusals(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    labels = ["eager bf16", "eager fp32", "onnxruntime fp32", "onnxruntime int8"]
    rates = {"eager bf16": 50.0, "eager fp32": 10.0, "onnxruntime fp32": 20.0, "onnxruntime int8": 99.0}
    run = _Run(monkeypatch, tmp_path / "a", rates, failing={"onnxruntime int8": "falls short; use engine='x'"})
    engine, why = run.pick(labels, 10**6)
    assert engine.label == "eager bf16"
    assert run.timed == [["eager bf16", "eager fp32"], ["onnxruntime fp32"]]
    assert why == "auto: 50.0 img/s vs onnxruntime fp32 20.0, eager fp32 10.0; onnxruntime int8 refused: falls short"
    assert run.choices.load("k" * 24, labels).refused == {"onnxruntime int8": "falls short"}  # type: ignore[union-attr]
    # Without the reference engine timed (it could not be built), no graph is priced, so none is made or listed.
    run = _Run(monkeypatch, tmp_path / "b", rates, failing={"eager fp32": "no"})
    engine, why = run.pick(labels, 10**6)
    assert engine.label == "eager bf16"
    assert run.timed == [["eager bf16"]]
    assert why == "auto: 50.0 img/s; eager fp32 refused: no"
    # A ready candidate that fails to build is refused, never timed; equal rates go to the earlier candidate.
    run = _Run(monkeypatch, tmp_path / "c", {"eager bf16": 7.0, "eager fp32": 7.0}, ready=("eager bf16", "eager fp32"))
    assert run.pick(["eager fp32", "eager bf16"], 10**6)[0].label == "eager fp32"
    run = _Run(monkeypatch, tmp_path / "d", {"eager bf16": 7.0, "eager fp32": 7.0}, ready=("eager bf16", "eager fp32"))
    assert run.pick(["eager bf16", "eager fp32"], 10**6)[0].label == "eager bf16"


def test_pick_does_not_time_small_unknown_or_short_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    labels = ["eager bf16", "eager fp32"]
    run = _Run(monkeypatch, tmp_path, {"eager bf16": 5.0, "eager fp32": 9.0})
    for workload, size in (
        (AUTO_MIN_IMAGES - 1, f"{AUTO_MIN_IMAGES - 1} image(s)"),
        (None, "an unknown number of images"),
    ):
        engine, why = run.pick(labels, workload)
        assert engine.label == "eager bf16"  # the default
        assert why == f"auto: {size}, too few to time the engines (they are timed for runs of 256 or more)"
    assert run.timed == []
    # At AUTO_MIN_IMAGES it is timed, when the timing is cheap against the run: each call takes 10 ms for 4
    # images, so 256 images take 0.64 s and timing two engines (3 calls each) 0.06 s, under a tenth.
    engine, why = run.pick(labels, AUTO_MIN_IMAGES)
    assert engine.label == "eager fp32"
    assert run.timed == [labels]
    # The boundary is a tenth: with calls of 2 s for 4 images, timing one engine (3 calls) costs 6 s, a tenth
    # of a run of 120 images (60 s); a run of 119 is not timed. (The minimum size is set aside here.)
    run = _Run(monkeypatch, tmp_path / "slow", {"eager fp32": 4.0}, call=2.0)
    monkeypatch.setattr(autotune, "AUTO_MIN_IMAGES", 1)
    assert run.pick(["eager fp32"], 120)[1] == "auto: 4.0 img/s"
    run = _Run(monkeypatch, tmp_path / "slower", {"eager fp32": 4.0}, call=2.0)
    engine, why = run.pick(["eager fp32"], 119)
    assert why == (
        "auto: 119 image(s), about 60 s here, too few to time the engines (about 6 s, more than 10% of the run)"
    )
    assert run.timed == []
    # Under a second, the line keeps a decimal (whole seconds would say "about 0 s, more than 10%").
    run = _Run(monkeypatch, tmp_path / "fast", {"eager fp32": 4.0}, call=0.1)
    assert run.pick(["eager fp32"], 4)[1] == (
        "auto: 4 image(s), about 0.1 s here, too few to time the engines (about 0.3 s, more than 10% of the run)"
    )
    assert autotune._seconds(0.96) == "1.0 s"
    assert autotune._seconds(1.0) == "1 s"
    assert autotune._seconds(0.04) == "0.0 s"


def test_pick_survives_a_cached_choice_it_cannot_build_and_a_cache_it_cannot_write(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    labels = ["eager fp32", "onnxruntime fp32"]
    run = _Run(monkeypatch, tmp_path, {"eager fp32": 1.0, "onnxruntime fp32": 2.0}, ready=tuple(labels))
    assert run.pick(labels, 10**6)[0].label == "onnxruntime fp32"
    run.failing = {"onnxruntime fp32": "the graph is gone\n  (deleted)"}
    engine, why = run.pick(labels, 10**6)
    assert run.said[0] == (
        "note: the cached engine choice onnxruntime fp32 cannot be built (the graph is gone (deleted)); timing again"
    )
    assert engine.label == "eager fp32"
    assert why == "auto: 1.0 img/s; onnxruntime fp32 refused: the graph is gone (deleted)"
    blocked = tmp_path / "file"
    blocked.write_text("")
    run.choices = ChoiceCache(blocked / "auto")  # a folder under a file: cannot be made
    run.failing = {}
    engine, why = run.pick(labels, 10**6)
    assert engine.label == "onnxruntime fp32"
    assert run.said[-1].startswith("note: the engine choice could not be cached (")
    assert run.said[-1].endswith("); the next run times the engines again")
    assert str(blocked) in run.said[-1]  # the error itself


def test_an_error_is_cut_to_one_line_without_its_advice() -> None:
    short = autotune._short
    assert short(ValueError("AU 95%\n   (needs 99%); use engine='onnxruntime' (fp32)")) == "AU 95% (needs 99%)"
    assert short(ValueError("x" * 240)) == "x" * 240
    assert short(ValueError("x" * 241)) == "x" * 239 + "…"
