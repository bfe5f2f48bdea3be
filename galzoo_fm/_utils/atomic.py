"""Atomic file writes that need nothing heavier than the standard library.

Every file the package writes goes first to a temporary name beside its destination and is renamed over it,
so that readers see either the old file or the complete new one. The temporary names follow one pattern,
``.<name>.<host>-<pid>-<random>.tmp[<suffix>]``, for two reasons:

- the files are created with mode ``0o666`` minus the process umask, like any ``open(path, "w")`` (the
  standard library's ``mkstemp`` makes ``0600`` files, which a colleague in a shared group folder cannot
  read once renamed into place);
- a later run can tell its own debris — the temporary files a killed process left beside its output —
  from files in use: :func:`remove_stale_temporaries` removes those of one destination whose writing process
  is gone (same host, PID no longer alive), and nothing else.

This is the package's one writer; every other module calls it:

- :func:`atomic_write` — bytes in memory (store chunks, manifests, JSON documents, the HTTP cache);
- :func:`atomic_path` — a context manager for libraries that write to a file name themselves (safetensors);
- :func:`commit_temporary` — the last step (fsync, rename, folder fsync) for writers that fill a
  :func:`temporary_path` over time (the streaming output tables);
- :func:`exclusive_write` / :func:`write_json_once` — create a file only if it does not exist, safely against
  racing processes (the store manifest, an embedding run's ``run.json``);
- :func:`atomic_folder` (:func:`temporary_folder` then :func:`replace_folder`) — a folder built under a
  temporary name and renamed into place (training checkpoints).

``galzoo_fm.models.checkpoint`` re-exports :func:`atomic_write` as ``atomic_write_bytes``. The module imports
nothing heavy, so that ``galzoo-fm fetch`` never imports torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_folder", "atomic_path", "atomic_write", "commit_temporary", "exclusive_write", "fsync_dir",
           "honour_umask", "remove_stale_temporaries", "replace_folder", "temporary_folder", "temporary_path",
           "write_json_once"]

_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname() or "host")[:40]
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]{8}\.tmp(?:\..*)?$")


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


def temporary_path(path: str | Path, suffix: str = "") -> Path:
    """Create an empty temporary file beside ``path`` (exclusively, honouring the umask) and return its name.

    Parameters
    ----------
    path : str or path
        The destination the temporary file will be renamed to.
    suffix : str
        Appended after ``.tmp``, e.g. ``".fits"`` for writers that look at the extension.

    Returns
    -------
    pathlib.Path
        ``<folder>/.<name>.<host>-<pid>-<random>.tmp<suffix>``; the caller renames or removes it.
    """
    path = Path(path)
    for _ in range(100):
        tmp = _temporary_name(path, suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")  # pragma: no cover


def _temporary_name(path: Path, suffix: str = "") -> Path:
    """``<folder>/.<name>.<host>-<pid>-<random>.tmp<suffix>``: the one pattern :data:`_TEMP_RE` recognises."""
    return path.with_name(f".{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")


def temporary_folder(path: str | Path) -> Path:
    """Create an empty temporary folder beside ``path`` (named like :func:`temporary_path`) and return it.

    Fill it, then move it into place with :func:`replace_folder`. A folder left by a killed process is
    removed by :func:`remove_stale_temporaries`, like a temporary file.
    """
    path = Path(path)
    for _ in range(100):
        tmp = _temporary_name(path)
        try:
            tmp.mkdir()
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary folder beside {path}")  # pragma: no cover


def _umask() -> int:
    """The process umask, read without changing it where the platform tells (Linux ``/proc``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # pragma: no cover - other platforms: set and restore at once
    os.umask(old)
    return old


def honour_umask(path: str | Path) -> Path:
    """Give ``path`` the mode a plain ``open(path, "w")`` would (``0o666`` minus the umask).

    For files written by libraries that create them ``0600`` (safetensors' ``save_file``).
    """
    os.chmod(path, 0o666 & ~_umask())
    return Path(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:  # pragma: no cover - platforms without signals: assume alive
        return True
    return True


def remove_stale_temporaries(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove the temporary files that dead processes of this host left in ``folder``.

    Parameters
    ----------
    folder : str or path
        Folder to clean (not recursive).
    name : str, optional
        Only the temporaries of the destination ``folder/name`` (e.g. an output table). By default those of
        every destination in the folder, for folders the package owns (a cutout-store part, a checkpoint
        folder, ``OUT.partial/``).

    Returns
    -------
    list of pathlib.Path
        The files removed. Temporaries of live processes, and of other hosts (a shared file system), are kept.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None or (name is not None and m["name"] != name) or m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:
            pass
    return removed


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def commit_temporary(tmp: str | Path, path: str | Path, *, fsync: bool = True, sync_dir: bool = False) -> Path:
    """Move a finished temporary file over ``path``: flush it to disk, rename it, optionally flush the folder.

    Parameters
    ----------
    tmp : str or path
        A closed file from :func:`temporary_path` beside ``path``; removed if the rename fails.
    path : str or path
        The destination; readers see either its old content or ``tmp``'s.
    fsync : bool
        ``fsync`` the file before the rename (so that a power cut cannot leave a renamed, empty file).
    sync_dir : bool
        Also ``fsync`` the folder, so that the new name itself is on disk when this returns.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    tmp, path = Path(tmp), Path(path)
    try:
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = "", fsync: bool = True, sync_dir: bool = False
                ) -> Iterator[Path]:
    """A temporary file name beside ``path`` to write to; renamed over ``path`` when the block ends.

    For libraries that write to a file name themselves (``safetensors.torch.save_file``). The file gets the
    mode of a plain ``open(path, "w")`` (:func:`honour_umask`) before the rename; if the block raises, the
    temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> from galzoo_fm._utils.atomic import atomic_path
    >>> with atomic_path(getfixture("tmp_path") / "x.txt") as tmp:
    ...     _ = tmp.write_text("complete")
    """
    path = Path(path)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        honour_umask(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit_temporary(tmp, path, fsync=fsync, sync_dir=sync_dir)


def _write_temporary(path: Path, data: bytes | memoryview, fsync: bool) -> Path:
    """``data`` in a new :func:`temporary_path` beside ``path``, flushed to disk with ``fsync``."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: str | Path, data: bytes | memoryview, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one.

    The bytes go to a :func:`temporary_path` in the same folder, are flushed (``fsync``), and the file is
    renamed over ``path``. A crash at any point leaves at most a stray temporary file, which
    :func:`remove_stale_temporaries` recognises.
    """
    path = Path(path)
    return commit_temporary(_write_temporary(path, data, fsync), path, fsync=False)


def exclusive_write(path: str | Path, data: bytes | memoryview) -> bool:
    """Create ``path`` with ``data`` unless it exists, atomically and safely against racing writers.

    The complete file is hard-linked into place (``os.link`` fails if another process created ``path``
    first), so a reader never sees a partial file and the first writer wins. Returns whether this call
    created it.
    """
    path = Path(path)
    tmp = _write_temporary(path, data, True)
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return created


def write_json_once(path: str | Path, document: Any, *, sort_keys: bool = False) -> bool:
    """Create ``path`` holding ``document`` as JSON (indent 2, final newline) unless it exists already.

    The first of several racing processes wins (:func:`exclusive_write`); the others read what it wrote.
    Returns whether this call created the file.
    """
    path = Path(path)
    if path.exists():
        return False
    return exclusive_write(path, (json.dumps(document, indent=2, sort_keys=sort_keys) + "\n").encode())


def replace_folder(tmp: str | Path, path: str | Path) -> Path:
    """Move the finished folder ``tmp`` (from :func:`temporary_folder`) to ``path``, replacing any folder there.

    An existing ``path`` is first renamed to a temporary name and then deleted, so ``path`` is at every
    moment either the old folder, absent, or the complete new one; a crash mid-way leaves temporaries that
    :func:`remove_stale_temporaries` removes.
    """
    tmp, path = Path(tmp), Path(path)
    if path.exists():
        trash = _temporary_name(path)
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A :func:`temporary_folder` beside ``path`` to fill; moved over ``path`` (:func:`replace_folder`) at the end.

    If the block raises, the temporary folder is deleted and ``path`` is left as it was.
    """
    tmp = temporary_folder(path)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_folder(tmp, path)
