#!/usr/bin/env python3
"""Print the README's fresh-machine commands: the first ```bash block under "## On a fresh
machine".  .ci/run runs exactly these lines, so CI checks what a new user types.

    python3 tools/readme_commands.py [README.md]
"""

import pathlib
import sys

HEADING = "## On a fresh machine"


def fresh_machine_commands(readme_text):
    """The lines of the first ```bash block after HEADING (ValueError if there is none)."""
    _, found, rest = readme_text.partition(HEADING + "\n")
    if not found:
        raise ValueError(f"README has no {HEADING!r} section")
    _, found, rest = rest.partition("```bash\n")
    block, closed, _ = rest.partition("```")
    if not found or not closed or "\n## " in block:
        raise ValueError(f"README's {HEADING!r} section has no ```bash block")
    return block.strip("\n").splitlines()


def main(argv):
    path = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).parent.parent / "README.md")
    print("\n".join(fresh_machine_commands(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
