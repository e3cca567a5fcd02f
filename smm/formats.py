"""The Aff-Wild2 / ABAW3 codes and file formats, in one place (no torch needed to read them).

- Missing labels: ``-1`` for AU and EXPR, ``-5`` for valence/arousal.
- Per-video annotation and prediction files: a header line of names, then one line per frame.
- The multi-task file: header ``image,valence,arousal,expression,aus``, one row per image.
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
