"""``python -m dsa110`` runs the ``dsa110`` command."""

import sys

from dsa110.cli import main

sys.exit(main())
