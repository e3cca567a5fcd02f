"""How ``engine="auto"`` picks: time the candidates, keep the fastest accepted, remember it per machine and model.

:mod:`smm.inference.engines` says which engines are candidates and how to build each;
:func:`pick` decides (and :func:`time_engines` times):

1. A choice measured earlier for the same key is reused without timing. The key
   (:func:`choice_key`) holds everything the measurement depends on: the model's fingerprint
   and input size, the machine (CPU model, flags, threads, GPU), the library versions and the
   candidates; any change makes a new key, so the engines are timed again. A cache file that
   cannot be read, or is not what its name says, is ignored in one line, never trusted.
2. A run of fewer than :data:`AUTO_MIN_IMAGES` images (or of an unknown number) is not timed:
   it runs the default candidate, and says so. Nor is a run for which timing the engines would
   cost more than :data:`TIMING_SHARE` of its own time, priced by one call of the default.
3. The candidates that are ready (eager PyTorch; ONNX Runtime where its graph is cached) are
   built and timed on one batch of the run's shape (at most :data:`TIMING_BATCH` images), one
   warm-up call and :data:`TIMING_ROUNDS` or more interleaved timed calls each
   (:func:`time_engines`).
4. A candidate whose graph must first be made (an ONNX export, an int8 quantisation and its
   gate) is made only when that one-off cost, estimated from the eager fp32 timing, is at most
   :data:`MAKING_SHARE` of the run's own time at the best speed so far; otherwise it is left
   unmade, and a later run large enough to pay for it makes and times it.
5. The fastest candidate that was built and accepted wins; the choice is cached, beside the
   exported graphs (:class:`ChoiceCache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from smm._atomic import atomic_write

#: Runs with fewer images than this are not timed (the timing would cost more than it saves):
#: they run the default engine, unless a choice measured earlier on this machine is cached.
AUTO_MIN_IMAGES = 256
#: Images per timed call, at most (the run's batch size when it is smaller).
TIMING_BATCH = 16
#: Timed calls of each candidate, interleaved, after one warm-up call each; the fastest counts. More rounds
#: (up to :data:`MAX_ROUNDS`) run until each candidate's timed calls add up to :data:`TIMING_SECONDS`.
TIMING_ROUNDS = 2
#: Seconds of timed calls each candidate gets before the timing stops (within :data:`MAX_ROUNDS`).
TIMING_SECONDS = 0.2
#: The most rounds of timed calls, however short each call is.
MAX_ROUNDS = 25
#: The engines are timed only when the timing costs at most this share of the run's own time.
TIMING_SHARE = 0.1
#: A candidate's graph is made only when making it costs at most this share of the run's time.
MAKING_SHARE = 0.25


@dataclass(frozen=True)
class Measured:
    """A measured choice: what was timed, how fast, what was refused, and what was picked.

    Attributes
    ----------
    chosen : str
        The label of the fastest accepted candidate (``"onnxruntime int8"``).
    rates : dict of str to float
        Images per second of each candidate that ran.
    refused : dict of str to str
        Why a candidate did not run (an export that failed its check, an int8 graph that
        failed its gate).
    unmade : dict of str to float
        Candidates whose graph was not made because the run was too short to pay for it: the
        estimated seconds of making it.
    batch : int
        Images per timed call.
    """

    chosen: str
    rates: dict[str, float]
    refused: dict[str, str] = field(default_factory=dict)
    unmade: dict[str, float] = field(default_factory=dict)
    batch: int = TIMING_BATCH

    def worth_making(self, workload: int | None) -> bool:
        """Whether a run of ``workload`` images is long enough to make a candidate this measurement left unmade."""
        if not self.unmade or workload is None:
            return False
        return min(self.unmade.values()) <= MAKING_SHARE * workload / self.rates[self.chosen]

    def describe(self) -> str:
        """``10.7 img/s vs eager bf16 7.0, eager fp32 3.5`` (and what was refused, and why) for the engine line."""
        others = sorted((rate, label) for label, rate in self.rates.items() if label != self.chosen)
        text = f"{self.rates[self.chosen]:.1f} img/s"
        if others:
            text += " vs " + ", ".join(f"{label} {rate:.1f}" for rate, label in reversed(others))
        refused = [f"{label} refused: {reason}" for label, reason in self.refused.items()]
        unmade = [
            f"{label} not made (about {_seconds(seconds)}, more than {MAKING_SHARE:.0%} of this run; "
            "a longer run makes it)"
            for label, seconds in self.unmade.items()
        ]
        return "; ".join([text, *refused, *unmade])


def time_engines(
    engines: Mapping[str, Callable[[torch.Tensor], Any]],
    batch: torch.Tensor,
    *,
    rounds: int = TIMING_ROUNDS,
    seconds: float = TIMING_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Images per second of each engine on ``batch``: one warm-up call each, then interleaved timed calls.

    At least ``rounds`` rounds, and more (up to :data:`MAX_ROUNDS`) until every engine's timed
    calls add up to ``seconds``, so that a fast model is not timed on one noisy millisecond. The
    fastest of an engine's timed calls counts (the others were slowed by something else).

    Parameters
    ----------
    engines : mapping of str to callable
        Label -> engine (``Tensor[B, C, H, W] -> outputs``).
    batch : Tensor[B, C, H, W]
    rounds : int, default 2
    seconds : float, default 0.2
    clock : callable
        Seconds, for tests.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    for engine in engines.values():
        engine(batch)
    best = dict.fromkeys(engines, float("inf"))
    spent = dict.fromkeys(engines, 0.0)
    done = 0
    while done < rounds or (done < MAX_ROUNDS and min(spent.values(), default=seconds) < seconds):
        for label, engine in engines.items():
            began = clock()
            engine(batch)
            took = clock() - began
            best[label], spent[label] = min(best[label], took), spent[label] + took
        done += 1
    return {label: len(batch) / max(took, 1e-9) for label, took in best.items()}


def choice_key(
    fingerprint: str, input_size: Sequence[int], machine: Mapping[str, Any], candidates: Sequence[str]
) -> str:
    """The cache key of a measurement: a digest of the model, the machine and versions, and the candidates."""
    text = json.dumps(
        {"model": fingerprint, "input": list(input_size), "machine": dict(machine), "candidates": list(candidates)},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ChoiceCache:
    """The measured choices in a folder, one JSON file per key (:func:`choice_key`).

    Parameters
    ----------
    folder : path-like
        Default ``$SMM_EMOTIONNET_CACHE/onnx/auto``, beside the exported graphs.
    log : callable, optional
        Told, in one line, when a file is ignored.
    """

    def __init__(self, folder: str | os.PathLike[str], log: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self.log = log

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str, candidates: Sequence[str]) -> Measured | None:
        """The choice stored under ``key``, or ``None`` when there is none or it cannot be trusted.

        A file that is not JSON, holds another key, or names a choice that is not among
        ``candidates`` or was not measured, is ignored with one line (never trusted) and
        measured again.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text())
            if not isinstance(stored, dict) or stored.get("key") != key:
                raise ValueError("it holds another measurement")
            measured = Measured(
                chosen=str(stored["chosen"]),
                rates={str(k): float(v) for k, v in stored["rates"].items()},
                refused={str(k): str(v) for k, v in stored.get("refused", {}).items()},
                unmade={str(k): float(v) for k, v in stored.get("unmade", {}).items()},
                batch=int(stored.get("batch", TIMING_BATCH)),
            )
            if measured.chosen not in candidates or measured.chosen not in measured.rates:
                raise ValueError(f"its choice {measured.chosen!r} is not one of this run's engines")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            if self.log is not None:
                reason = "not JSON" if isinstance(error, json.JSONDecodeError) else " ".join(str(error).split())
                self.log(f"note: the engine choice cached in {path} is ignored ({reason}); timing the engines again")
            return None
        return measured

    def store(self, key: str, measured: Measured, facts: Mapping[str, Any]) -> Path:
        """Keep ``measured`` under ``key`` (atomically), with the facts it depends on for a reader."""
        record = {
            "key": key,
            "chosen": measured.chosen,
            "rates": measured.rates,
            "refused": measured.refused,
            "unmade": measured.unmade,
            "batch": measured.batch,
            **{k: v for k, v in facts.items() if k not in ("key", "chosen", "rates", "refused", "unmade", "batch")},
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, indent=1, sort_keys=True, default=str) + "\n"
        return atomic_write(self.path(key), lambda p: p.write_text(text))


def pick(
    labels: Sequence[str],
    build: Callable[[str], Any],
    *,
    ready: Callable[[str], bool],
    making: Callable[[str], float],
    reference: str,
    batch: torch.Tensor,
    workload: int | None,
    key: str,
    facts: Mapping[str, Any],
    choices: ChoiceCache,
    say: Callable[[str], None],
) -> tuple[Any, str]:
    """The engine ``auto`` runs, and why, in words (see the module for the steps).

    Parameters
    ----------
    labels : sequence of str
        The candidates, the default first.
    build : callable
        Label -> engine; raises ``ImportError``, ``OSError``, ``RuntimeError`` or ``ValueError``
        for a candidate that cannot run here (the reason is kept).
    ready : callable
        Whether a candidate is built without making a graph.
    making : callable
        The one-off cost of making a candidate's graph, in images' worth of ``reference``'s time.
    reference : str
        The candidate whose timing prices the making (eager fp32).
    batch : Tensor[B, C, H, W]
        What each timed call runs.
    workload : int or None
        Images of the run.
    key, facts, choices
        The cache key (:func:`choice_key`), what it stands for, and the cache.
    say : callable
        Told a note in one line (an ignored cache file).

    Returns
    -------
    (engine, str)
    """
    measured = choices.load(key, labels)
    if measured is not None and not measured.worth_making(workload):
        try:
            return build(measured.chosen), f"auto, measured earlier on this machine: {measured.describe()}"
        except (ImportError, OSError, RuntimeError, ValueError) as error:
            say(f"note: the cached engine choice {measured.chosen} cannot be built ({_short(error)}); timing again")
    if workload is None or workload < AUTO_MIN_IMAGES:
        size = "an unknown number of images" if workload is None else f"{workload} image(s)"
        why = f"auto: {size}, too few to time the engines (they are timed for runs of {AUTO_MIN_IMAGES} or more)"
        return build(labels[0]), why
    engines: dict[str, Any] = {}
    refused: dict[str, str] = {}

    def tried(label: str) -> bool:
        try:
            engines[label] = build(label)
        except (ImportError, OSError, RuntimeError, ValueError) as error:
            refused[label] = _short(error)
            return False
        return True

    first = [label for label in labels if ready(label) and tried(label)]
    # One call of the default says what the run costs here, and so what timing the others may cost.
    began = time.perf_counter()
    engines[labels[0]](batch)
    call = time.perf_counter() - began
    run, timing = workload * call / len(batch), len(first) * (1 + TIMING_ROUNDS) * call
    if timing > TIMING_SHARE * run:
        why = (
            f"auto: {workload} image(s), about {_seconds(run)} here, too few to time the engines "
            f"(about {_seconds(timing)}, more than {TIMING_SHARE:.0%} of the run)"
        )
        return engines[labels[0]], why
    rates = time_engines({label: engines[label] for label in first}, batch)
    unmade: dict[str, float] = {}
    later = []
    for label in (label for label in labels if not ready(label)):
        if reference not in rates:
            break
        seconds = making(label) / rates[reference]
        if seconds <= MAKING_SHARE * workload / max(rates.values()) and tried(label):
            later.append(label)
        elif label not in refused:
            unmade[label] = seconds
    if later:
        rates.update(time_engines({label: engines[label] for label in later}, batch))
    chosen = max(rates, key=lambda label: (rates[label], -list(labels).index(label)))
    result = Measured(chosen, rates, refused, unmade, len(batch))
    try:
        choices.store(key, result, facts)
    except OSError as error:
        say(f"note: the engine choice could not be cached ({_short(error)}); the next run times the engines again")
    return engines[chosen], f"auto: {result.describe()}"


def _seconds(seconds: float) -> str:
    """``25 s``, and ``0.4 s`` under a second (where whole seconds would read 0)."""
    return f"{seconds:.1f} s" if seconds < 1 else f"{seconds:.0f} s"


def _short(error: BaseException) -> str:
    """An error in one line, without the advice of which engine to use instead (the line says what runs)."""
    text = " ".join(str(error).split()).split("; use engine=")[0]
    return text if len(text) <= 240 else text[:239] + "…"


__all__ = [
    "AUTO_MIN_IMAGES",
    "MAKING_SHARE",
    "MAX_ROUNDS",
    "TIMING_BATCH",
    "TIMING_ROUNDS",
    "TIMING_SECONDS",
    "TIMING_SHARE",
    "ChoiceCache",
    "Measured",
    "choice_key",
    "pick",
    "time_engines",
]
