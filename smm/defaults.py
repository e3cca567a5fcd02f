"""Every default and list of choices of the library and the command line, stated once.

This module imports nothing (no torch), so the command line's ``--help`` can read it. The
functions and options that use a value import it from here; a test checks that none of these
values is written out anywhere else in ``smm/``.
"""

from __future__ import annotations

#: Full face detection every this many frames of a video (and on every cut); tracked faces are
#: re-located on every frame in between (:class:`smm.face.FaceFollower`).
DETECT_EVERY = 10
#: Full detection runs on the frame scaled so that its shorter side is at most this many pixels.
DETECT_SIZE = 480
#: Model inputs a batch, in every prediction path (photos, videos, frame folders, submissions, the CLI).
BATCH_SIZE = 32
#: The AU decision: an AU is present when its probability is strictly above this.
THRESHOLD = 0.5
#: Valence and arousal are written raw (as the published tester did), not clamped to [-1, 1].
CLAMP_VA = False
#: ``faces=``'s choices: every face with its own track, or only the followed largest face.
FACES = ("all", "largest")
DEFAULT_FACES = FACES[0]

#: ``engine=``'s choices (:mod:`smm.inference.engines`); ``"auto"`` is the default everywhere.
ENGINES = ("auto", "eager", "onnxruntime", "onnxruntime-int8")
DEFAULT_ENGINE = ENGINES[0]
#: The environment variable that sets the command line's ``--engine`` default.
ENGINE_ENV = "SMM_EMOTIONNET_ENGINE"

#: ``precision=``'s choices (:class:`smm.inference.runtime.Precision`); ``"auto"`` is the default.
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DEFAULT_PRECISION = PRECISIONS[-1]

#: The folder of downloaded weights, exported graphs and the engine choices: ``$SMM_EMOTIONNET_CACHE``,
#: else ``~/.cache/smm-emotionnet``.
CACHE_ENV = "SMM_EMOTIONNET_CACHE"

#: Raw inputs by file suffix (lower case): what ``predict --input`` reads as a video or a photo. An animated
#: GIF (or WebP, PNG) is a photo: its first frame, in the CLI as in :func:`smm.predict_images`.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")

__all__ = [
    "BATCH_SIZE",
    "CACHE_ENV",
    "CLAMP_VA",
    "DEFAULT_ENGINE",
    "DEFAULT_FACES",
    "DEFAULT_PRECISION",
    "DETECT_EVERY",
    "DETECT_SIZE",
    "ENGINES",
    "ENGINE_ENV",
    "FACES",
    "PHOTO_SUFFIXES",
    "PRECISIONS",
    "THRESHOLD",
    "VIDEO_SUFFIXES",
]
