"""Writing files so that a crash or a kill mid-write never leaves a half-written file behind."""

import os
import tempfile
from pathlib import Path
from typing import Callable, IO


def atomic_write(path: Path, write: Callable[[IO], None], binary: bool = True) -> None:
    """Write into a temporary file beside `path`, fsync it, then rename it over `path`: readers
    see the old file or the new one, never a mixture."""
    path = Path(path)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)  # from a write that was killed before it could clean up
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "wb" if binary else "w", newline=None if binary else "") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_link(source: Path, path: Path) -> None:
    """Give the finished file `source` a second name, `path`, replacing any file there atomically
    as atomic_write does: a hard link, so its bytes are neither written nor synced again. The two
    names stay independent because files here are only ever replaced (atomic_write, atomic_link),
    never rewritten in place. Raises OSError where the filesystem has no hard links."""
    path = Path(path)
    temporary = path.parent / f".{path.name}.link.tmp"  # a leftover of the kind atomic_write clears
    temporary.unlink(missing_ok=True)
    os.link(source, temporary)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (POSIX; skipped where a folder cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
