"""ABAW3 challenge submissions: predict the test lists into files, and check a folder of them."""

from __future__ import annotations

from smm.submission.check import Problem, check_submission
from smm.submission.write import SubmissionReport, write_submission, write_video_files

__all__ = ["Problem", "SubmissionReport", "check_submission", "write_submission", "write_video_files"]
