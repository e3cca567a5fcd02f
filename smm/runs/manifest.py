"""The record of a run in its output folder, so that a rerun skips what is done and another run is refused.

Each output is written atomically, then recorded in the manifest (:class:`RunManifest`). A
rerun with the same model and options, after a crash or a kill at any point, skips the inputs
whose record and outputs are complete and redoes the rest. A run with another model or other
options into the same folder is refused in one line, so results are never mixed. The
prediction loop of :mod:`smm.runs.runner` keeps one; so can a loop of your own.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smm._atomic import atomic_write

#: The manifest's folder inside the output folder.
MANIFEST_DIR = ".smm-run"


class RunManifest:
    """The record of a run in its output folder: its model and options, and each input that is complete.

    ``OUT/.smm-run/run.json`` holds the model's fingerprint and the options that change the
    outputs; ``OUT/.smm-run/inputs/<key>.json`` holds, per input, its path, size and
    modification time and the outputs written for it (with their sizes). An input is complete
    when its record matches the run and the input, and its outputs are all there with those
    sizes. Records are written atomically after the outputs, so a process killed at any point
    leaves at worst an input without a record, which the next run redoes.

    Parameters
    ----------
    out : path-like
        The output folder.
    run : mapping
        JSON-able facts that identify the run (model fingerprint, options).
    folder : path-like, optional
        Where the manifest lives; default ``out/.smm-run``. A submission keeps it beside its
        folder, so that the folder holds nothing but the challenge's files.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        run: Mapping[str, Any],
        *,
        folder: str | os.PathLike[str] | None = None,
    ) -> None:
        self.out = Path(out)
        self.run = json.loads(json.dumps(dict(run), default=str))  # as it reads back from run.json
        self.key = hashlib.sha256(json.dumps(self.run, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = self.out / MANIFEST_DIR if folder is None else Path(folder)

    def claim(self) -> None:
        """Record the run in ``out``, or refuse one with another model or other options (``ValueError``)."""
        path = self.folder / "run.json"
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                stored = {}
            if stored.get("key") != self.key:
                differ = sorted(
                    k
                    for k in set(self.run) | set(stored.get("run", {}))
                    if self.run.get(k) != stored.get("run", {}).get(k)
                )
                what = ", ".join(differ) or "unreadable"
                raise ValueError(
                    f"{self.out} holds a run with another model or other options ({what}); "
                    "use another output folder, or remove it to start again"
                )
            return
        (self.folder / "inputs").mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda p: p.write_text(json.dumps({"key": self.key, "run": self.run}, indent=1) + "\n"))

    def complete(self, source: str | os.PathLike[str]) -> bool:
        """Whether ``source``'s outputs for this run are all written (and it has not changed since)."""
        record = self._record_path(source)
        try:
            stored = json.loads(record.read_text())
        except (OSError, ValueError):
            return False
        if stored.get("run") != self.key or stored.get("input") != _identity(source):
            return False
        return all(
            (self.out / name).is_file() and (self.out / name).stat().st_size == size
            for name, size in stored.get("outputs", {}).items()
        )

    def record(self, source: str | os.PathLike[str], outputs: Sequence[str | os.PathLike[str]]) -> None:
        """Mark ``source`` complete with its ``outputs`` (paths in ``out``), after they are written."""
        files = {str(Path(p).resolve().relative_to(self.out.resolve())): Path(p).stat().st_size for p in outputs}
        text = json.dumps({"run": self.key, "input": _identity(source), "outputs": files}, indent=1, sort_keys=True)
        record = self._record_path(source)
        record.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(record, lambda p: p.write_text(text + "\n"))

    def _record_path(self, source: str | os.PathLike[str]) -> Path:
        name = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:24]
        return self.folder / "inputs" / f"{name}.json"


def _identity(source: str | os.PathLike[str]) -> dict[str, Any]:
    """A file's path, size and modification time; a folder's path and a digest of its files' names, sizes and times."""
    path = Path(source)
    try:
        stat = path.stat()
        if path.is_dir():
            digest = hashlib.sha256()
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                if entry.is_file():
                    info = entry.stat()
                    digest.update(f"{entry.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
            return {"path": str(path.resolve()), "files": digest.hexdigest()}
    except OSError:
        return {"path": str(path.resolve())}
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


__all__ = ["MANIFEST_DIR", "RunManifest"]
