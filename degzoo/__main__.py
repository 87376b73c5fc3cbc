"""``python -m degzoo`` runs the ``degzoo`` command."""

import sys

from degzoo.cli import main

sys.exit(main())
