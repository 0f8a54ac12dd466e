"""``python -m agenttree``: the same as the ``agenttree`` command."""

import sys

from .cli import main

sys.exit(main())
