"""``python -m kanlab …`` is the ``kanlab`` command."""

from __future__ import annotations

import sys

from kanlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
