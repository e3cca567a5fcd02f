"""What ``engine="auto"`` measured: timing candidate engines, and keeping the choice per machine and model.

:func:`smm.inference.engines.make_engine` decides which engines are candidates and builds
them; this module times them on one batch (:func:`time_engines`) and keeps the choice in the
cache, beside the exported graphs (:class:`ChoiceCache`), keyed by everything the
measurement depends on: the model's fingerprint and input size, the machine (CPU model,
flags, threads, GPU), the library versions and the candidates. A later run with the same key
reuses the choice without timing; any change makes a new key, so the engines are timed again.
A cache file that cannot be read or that is not what its name says is ignored, in one line.
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
TIMING_BATCH = 8
#: Timed calls of each candidate, interleaved, after one warm-up call each; the fastest counts.
TIMING_ROUNDS = 2


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
    notes : dict of str to str
        What a candidate's label leaves out, e.g. the int8 gate's agreement.
    batch : int
        Images per timed call.
    """

    chosen: str
    rates: dict[str, float]
    refused: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    batch: int = TIMING_BATCH

    def describe(self) -> str:
        """``measured 10.7 img/s vs eager bf16 7.0, eager fp32 3.5; ...`` for the engine line."""
        others = sorted((rate, label) for label, rate in self.rates.items() if label != self.chosen)
        text = f"{self.rates[self.chosen]:.1f} img/s"
        if others:
            text += " vs " + ", ".join(f"{label} {rate:.1f}" for rate, label in reversed(others))
        notes = [self.notes[label] for label in (self.chosen, *self.refused) if label in self.notes]
        refused = [f"{label} refused: {reason}" for label, reason in self.refused.items()]
        return "; ".join([text, *notes, *refused])


def time_engines(
    engines: Mapping[str, Callable[[torch.Tensor], Any]],
    batch: torch.Tensor,
    *,
    rounds: int = TIMING_ROUNDS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Images per second of each engine on ``batch``: one warm-up call each, then ``rounds`` interleaved timed calls.

    The fastest of an engine's timed calls counts (the others were slowed by something else).

    Parameters
    ----------
    engines : mapping of str to callable
        Label -> engine (``Tensor[B, C, H, W] -> outputs``).
    batch : Tensor[B, C, H, W]
    rounds : int, default 2
    clock : callable
        Seconds, for tests.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    for engine in engines.values():
        engine(batch)
    best = dict.fromkeys(engines, float("inf"))
    for _ in range(rounds):
        for label, engine in engines.items():
            began = clock()
            engine(batch)
            best[label] = min(best[label], clock() - began)
    return {label: len(batch) / max(seconds, 1e-9) for label, seconds in best.items()}


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
                notes={str(k): str(v) for k, v in stored.get("notes", {}).items()},
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
            "notes": measured.notes,
            "batch": measured.batch,
            **{k: v for k, v in facts.items() if k not in ("key", "chosen", "rates", "refused", "notes", "batch")},
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, indent=1, sort_keys=True, default=str) + "\n"
        return atomic_write(self.path(key), lambda p: p.write_text(text))


__all__ = [
    "AUTO_MIN_IMAGES",
    "TIMING_BATCH",
    "TIMING_ROUNDS",
    "ChoiceCache",
    "Measured",
    "choice_key",
    "time_engines",
]
