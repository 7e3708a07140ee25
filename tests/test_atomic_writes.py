"""Atomic writes leave nothing behind: a write killed part-way leaves a temporary file that
the next write to the same path removes; other programs' files are never touched."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nadefast import NADE

pytestmark = pytest.mark.skipif(os.name == "nt", reason="process checks by os.kill are POSIX")


def _dead_pid():
    """The pid of a process that has exited (and is not reused at once)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _model():
    return NADE.from_params(np.zeros((2, 4)), np.zeros(2), np.zeros((4, 2)), np.zeros(4))


KILLED_WRITE = """
import os, sys
import numpy as np
from nadefast import NADE

def half_a_file(file, **arrays):
    file.write(b"PK\\x03\\x04 half a zip")
    file.flush()
    os._exit(9)  # killed in the middle of the write

np.savez = half_a_file
NADE.from_params(np.zeros((2, 4)), np.zeros(2), np.zeros((4, 2)), np.zeros(4)).save(sys.argv[1])
"""


def test_a_killed_write_is_cleaned_up_by_the_next_write(tmp_path):
    target = tmp_path / "model.npz"
    result = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], cwd=tmp_path)
    assert result.returncode == 9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".model.npz.nadefast-"), left  # its leftover
    _model().save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_only_our_own_stale_temporaries_of_that_path_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    names = {
        f".model.npz.nadefast-{dead}-abc123.tmp": False,  # ours, for this path, writer gone
        f".model.npz.nadefast-{alive}-def456.tmp": True,  # a writer still running
        f".other.npz.nadefast-{dead}-ghi789.tmp": True,  # ours, but for another path
        ".nadefast-jkl012.tmp": True,  # another pattern (nadefast 0.1's): not ours to judge
        f".model.npz.nadefast-{dead}-x.tmp.keep": True,
        ".model.npz.nadefast-notapid-x.tmp": True,
        "model.npz.bak": True,  # another program's file
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    _model().save(tmp_path / "model.npz")
    for name, kept in names.items():
        assert (tmp_path / name).exists() == kept, name
