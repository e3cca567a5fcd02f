"""The Aff-Wild2 / ABAW3 codes and file formats, in one place (no torch needed to read them).

- Missing labels: ``-1`` for AU and EXPR, ``-5`` for valence/arousal.
- Per-video annotation and prediction files: a header line of names, then one line per frame.
- The multi-task file: header ``image,valence,arousal,expression,aus``, one row per image.
- The FACS names of the action units.
"""

from __future__ import annotations

#: An AU or expression label that is missing.
MISSING_LABEL = -1
#: A valence/arousal label that is missing.
MISSING_VA = -5.0
#: The tasks, as the challenge names its tracks and folders.
TASKS = ("AU", "EXPR", "VA")
#: Annotation folder of each task in the ABAW3 download (each holds Train_Set/ and Validation_Set/).
TASK_FOLDERS = {
    "AU": "AU_Detection_Challenge",
    "EXPR": "EXPR_Classification_Challenge",
    "VA": "VA_Estimation_Challenge",
}
#: Header of the multi-task annotation and prediction files (the last name spreads over the AUs).
MULTITASK_HEADER = ("image", "valence", "arousal", "expression", "aus")
#: File name of the multi-task prediction file (the published tester's name).
MULTITASK_FILE = "MTL_predictions.txt"
#: The FACS name of every action unit the ABAW3 model has a region for (Ekman & Friesen's
#: Facial Action Coding System): the 12 labelled in Aff-Wild2, then the 5 further regions.
FACS_NAMES = {
    "AU1": "Inner brow raiser",
    "AU2": "Outer brow raiser",
    "AU4": "Brow lowerer",
    "AU5": "Upper lid raiser",
    "AU6": "Cheek raiser",
    "AU7": "Lid tightener",
    "AU9": "Nose wrinkler",
    "AU10": "Upper lip raiser",
    "AU12": "Lip corner puller",
    "AU14": "Dimpler",
    "AU15": "Lip corner depressor",
    "AU16": "Lower lip depressor",
    "AU17": "Chin raiser",
    "AU23": "Lip tightener",
    "AU24": "Lip pressor",
    "AU25": "Lips part",
    "AU26": "Jaw drop",
}


def facs_label(region: str, *, sep: str = " ") -> str:
    """``"AU12 Lip corner puller"`` for ``"AU12"``; a name FACS does not list is returned as it is."""
    name = FACS_NAMES.get(region)
    return region if name is None else f"{region}{sep}{name}"
