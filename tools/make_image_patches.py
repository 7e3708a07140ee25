#!/usr/bin/env python3
"""Build the natural-image patches by hand: see nadefast/_patch_data.py (load_image_patches
builds them on first use)."""

import sys

from nadefast._patch_data import main

if __name__ == "__main__":
    sys.exit(main())
