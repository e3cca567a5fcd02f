"""``python -m smm.cli``: the same as the ``smm-emotionnet`` command."""

from __future__ import annotations

import sys

from smm.cli.main import main

sys.exit(main())
