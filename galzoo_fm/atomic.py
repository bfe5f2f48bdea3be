"""Atomic file writes that need nothing heavier than the standard library.

Used by the cutout store, the HTTP cache, checkpoints and training state (``galzoo_fm.checkpoint``
re-exports :func:`atomic_write` as ``atomic_write_bytes``); it imports nothing heavy, so that
``galzoo-fm fetch`` never imports torch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir"]


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (new names) to disk; a no-op where the platform cannot."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | memoryview, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one.

    The bytes go to a temporary file in the same folder, are flushed (``fsync``), and the file is renamed
    over ``path``. A crash at any point leaves at most a stray ``.<name>.*.tmp`` file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
