#!/usr/bin/env python3
"""Build the demo set by hand: see nadefast/_demo_data.py (load_demo builds it on first use)."""

import sys

from nadefast._demo_data import main

if __name__ == "__main__":
    sys.exit(main())
