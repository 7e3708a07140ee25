"""``python -m nadefast ...`` runs the command-line tool (see nadefast.cli)."""

import sys

from nadefast.cli import main

sys.exit(main())
