"""Files written all or nothing, and the temporary files that makes.

A file is written to a temporary file beside it, flushed to disk and renamed
over the target, so a crash or a full disk leaves any previous file intact.
The temporary file is named after its target and its writer,
``.TARGET.nadefast-PID-RANDOM.tmp``: when a write is killed part-way, the next
write to the same target removes what it left behind (only files of that
pattern whose process is gone; nothing else in the directory is touched).
"""

import errno
import os
import tempfile

import numpy as np


def _default_file_mode():
    """0o666 minus the process umask: what open() would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temporary_prefix(path):
    return f".{os.path.basename(path)}.nadefast-"


def _process_alive(pid):
    """Whether process `pid` may still be writing (when unsure: yes)."""
    if pid == os.getpid() or os.name == "nt":  # (os.kill would end a process on Windows)
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path):
    """Delete the temporary files of earlier writes to `path` whose writers are gone.

    Only names of the pattern ``.BASENAME.nadefast-PID-*.tmp`` with a PID that
    is no running process; any other file is left alone.
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temporary_prefix(path)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _new_temporary(path):
    """A new temporary file beside `path`: (fd, its path); OSError naming `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        return tempfile.mkstemp(prefix=f"{_temporary_prefix(path)}{os.getpid()}-", suffix=".tmp",
                                dir=directory)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {path!r}: {exc.strerror}") from None


def check_writable(path, what):
    """Fail now, before any work is done, if `path` could not be written later.

    Its directory must exist and take a new file (a temporary file is created
    there and removed), and it must not be a directory.  Raises OSError (or
    FileNotFoundError / IsADirectoryError / PermissionError) naming `what`
    and the path.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot write the {what} {path!r}: it is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot write the {what} {path!r}: there is no "
                                f"directory {directory!r}")
    try:
        fd, tmp = _new_temporary(path)
    except OSError as exc:
        raise type(exc)(exc.errno, f"{exc.strerror} (the {what})") from None
    os.close(fd)
    os.unlink(tmp)


def write_npz_atomic(path, arrays):
    """Write `arrays` to `path` as an .npz, all or nothing.

    The data goes to a temporary file in the same directory, is flushed to
    disk, then renamed over `path` (atomic on POSIX and Windows), so a crash
    or a full disk mid-write leaves any previous file untouched (and the next
    write to `path` removes the temporary file; see the module docstring).
    `path` is used as given: no ".npz" is appended.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path!r}: it is a directory")
    remove_stale_temporaries(path)
    fd, tmp = _new_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:
            raise type(exc)(exc.errno, f"cannot write {path!r}: {exc.strerror}") from None
        raise
