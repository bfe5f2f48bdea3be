"""Download, resume and verify a release's files in a local data folder.

* :func:`data_dir` — the data folder: an explicit path, else ``$GALZOO_FM_DATA_DIR``, else
  ``$XDG_CACHE_HOME/galzoo_fm/datasets`` (``~/.cache/galzoo_fm/datasets``); a release's files live in
  ``data_dir()/<release.name>/`` (:func:`release_dir`).
* :func:`download` — fetch every file that is not already there and verified: HTTP ``Range`` requests
  continue a ``<name>.part`` left by an interrupted run, transient failures are retried with backoff, the
  size and checksum are checked, and only then is the file renamed to its final name. A verified file is
  stamped in ``.verified.json`` (size, modification time, checksum) so that gigabytes are not hashed again.
* :func:`verify` / :func:`status` — hash the files / report each file's state without touching the network.

Errors: :class:`ChecksumError` (a file's bytes are wrong, also after fetching it again once),
:class:`DatasetUnavailableError` (no network, or ``offline=True``: the message lists every file to place,
with its URL, size and exact path), :class:`DiskFullError` (naming the folder and the bytes needed; the
``.part`` file stays for resuming), :class:`~galzoo_fm._utils.http.HTTPFailure` (e.g. HTTP 404).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from galzoo_fm._utils.atomic import atomic_write, fsync_dir
from galzoo_fm._utils.http import RETRY_STATUS, HTTPFailure, RetryPolicy, user_agent
from galzoo_fm.datasets.public.base import Release, RemoteFile, open_release

__all__ = [
    "DATA_DIR_ENV",
    "ChecksumError",
    "DatasetUnavailableError",
    "DiskFullError",
    "FileState",
    "Verification",
    "data_dir",
    "download",
    "file_checksum",
    "release_dir",
    "status",
    "verify",
    "verify_release",
]

DATA_DIR_ENV = "GALZOO_FM_DATA_DIR"
STAMP = ".verified.json"
CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's size or checksum differs from the one the release publishes."""


class DatasetUnavailableError(RuntimeError):
    """Files of a release are missing and cannot be downloaded (no network, or offline mode)."""


class DiskFullError(OSError):
    """The data folder's disk is full (``errno.ENOSPC``); the partial download is kept for resuming."""


@dataclass(frozen=True)
class FileState:
    """The state of one release file on disk.

    Attributes
    ----------
    name : str
        File name.
    state : str
        ``"ok"`` (present and verified), ``"unverified"`` (present, not hashed yet or changed since),
        ``"partial"`` (a ``.part`` file of :attr:`nbytes` bytes from an interrupted download) or
        ``"missing"``.
    nbytes : int
        Bytes on disk (final or partial file).
    size : int or None
        Published size.
    path : pathlib.Path
        Where the file goes.
    """

    name: str
    state: str
    nbytes: int
    size: int | None
    path: Path


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: ``explicit``, else ``$GALZOO_FM_DATA_DIR``, else the user cache folder.

    The cache folder is ``$XDG_CACHE_HOME/galzoo_fm/datasets`` or ``~/.cache/galzoo_fm/datasets``.
    Nothing is created here.
    """
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "galzoo_fm" / "datasets"


def release_dir(release: Release, data: str | os.PathLike | None = None) -> Path:
    """The folder of ``release``'s files: ``data_dir(data) / release.name``."""
    return data_dir(data) / release.name


def _folder(release: Release, folder: str | os.PathLike | None, data: str | os.PathLike | None = None) -> Path:
    """``folder`` if given, else :func:`release_dir` in the data folder ``data``."""
    return Path(folder).expanduser() if folder is not None else release_dir(release, data)


def file_checksum(path: str | os.PathLike, algorithm: str, *, progress=None) -> str:
    """Hex digest of a file by ``algorithm`` (``"md5"``, ``"sha256"``, ...), read in 1 MiB blocks.

    ``progress`` is an optional callable receiving the number of bytes of each block read.
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
            if progress is not None:
                progress(len(block))
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- stamps
def _read_stamps(folder: Path) -> dict:
    try:
        stamps = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) else {}


def _write_stamp(folder: Path, f: RemoteFile, path: Path) -> None:
    stamps = _read_stamps(folder)
    st = path.stat()
    stamps[f.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "checksum": (f.checksum or "").lower()}
    atomic_write(folder / STAMP, json.dumps(stamps, indent=1, sort_keys=True).encode())


def _stamped(folder: Path, f: RemoteFile, path: Path, stamps: dict | None = None) -> bool:
    entry = (stamps if stamps is not None else _read_stamps(folder)).get(f.name)
    if not entry:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return (entry.get("size"), entry.get("mtime_ns"), entry.get("checksum")) == (
        st.st_size, st.st_mtime_ns, (f.checksum or "").lower())


def _check(f: RemoteFile, path: Path, *, progress: bool | None = False) -> str | None:
    """Why ``path`` is not ``f`` (size, then checksum), or ``None`` when it is; a tqdm bar while hashing."""
    from tqdm.auto import tqdm

    size = path.stat().st_size
    if f.size is not None and size != f.size:
        return f"{path}: size {size} bytes, expected {f.size}"
    if f.checksum is None:
        return None  # nothing published to check against
    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"verify {f.name}",
              disable=(None if progress is None else not progress), dynamic_ncols=True, leave=False) as bar:
        got = file_checksum(path, f.algorithm, progress=bar.update)
    if got != f.digest:
        return f"{path}: {f.algorithm} checksum {got}, expected {f.digest}"
    return None


# ---------------------------------------------------------------------------------------- inspection
def status(release: Release | str, folder: str | os.PathLike | None = None, *,
           data: str | os.PathLike | None = None) -> list[FileState]:
    """Each file's :class:`FileState` in ``folder`` (default :func:`release_dir` in ``data``), without hashing.

    ``release`` is a :class:`Release` or a registered name (:func:`~galzoo_fm.datasets.public.open_release`).
    """
    release = open_release(release)
    folder = _folder(release, folder, data)
    stamps = _read_stamps(folder)
    out = []
    for f in release.files:
        path, part = folder / f.name, folder / f"{f.name}.part"
        if path.is_file():
            state = "ok" if _stamped(folder, f, path, stamps) else "unverified"
            out.append(FileState(f.name, state, path.stat().st_size, f.size, path))
        elif part.is_file():
            out.append(FileState(f.name, "partial", part.stat().st_size, f.size, path))
        else:
            out.append(FileState(f.name, "missing", 0, f.size, path))
    return out


def verify(release: Release | str, folder: str | os.PathLike | None = None, *, rehash: bool = True,
           progress: bool | None = False, data: str | os.PathLike | None = None) -> list[str]:
    """Check every file of ``release`` in ``folder``; returns the problems (empty when all is well).

    Parameters
    ----------
    release : Release or str
        The release, or a registered name (:func:`~galzoo_fm.datasets.public.open_release`).
    folder : path, optional
        Its folder (default :func:`release_dir` in ``data``).
    rehash : bool
        Hash files even when their ``.verified.json`` stamp still matches.
    progress : bool or None
        A tqdm bar per file while hashing (``None``: on a terminal only).

    data : path, optional
        The data folder (default :func:`data_dir`), when ``folder`` is not given.

    Returns
    -------
    list of str
        One line per missing optional/required file or wrong size / checksum. Good files are stamped.
    """
    release = open_release(release)
    folder = _folder(release, folder, data)
    problems = []
    for f in release.files:
        path = folder / f.name
        if not path.is_file():
            problems.append(f"{path}: missing" + ("" if f.required else " (optional)"))
            continue
        if not rehash and _stamped(folder, f, path):
            continue
        why = _check(f, path, progress=progress)
        if why:
            problems.append(why)
        else:
            _write_stamp(folder, f, path)
    return problems


@dataclass(frozen=True)
class Verification:
    """What :func:`verify_release` found.

    Attributes
    ----------
    release : str
        Release name (as given to :func:`verify_release`).
    folder : pathlib.Path
        The folder checked.
    files : int
        Files the release lists.
    problems : list of str
        One line per missing or corrupt file (:func:`verify`); empty when all is well.
    """

    release: str
    folder: Path
    files: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        """No problems."""
        return not self.problems

    def __str__(self) -> str:
        return "\n".join(self.problems) if self.problems else f"{self.release}: {self.files} files verified"


def verify_release(release: Release | str, *, data: str | os.PathLike | None = None,
                   folder: str | os.PathLike | None = None, progress: bool | None = False) -> Verification:
    """:func:`verify` (hashing every file) with the release's name, folder and file count, for a report.

    Parameters
    ----------
    release : Release or str
        The release, or a registered name.
    data : path, optional
        The data folder (default :func:`data_dir`).
    folder : path, optional
        The release's folder, instead of ``data / release.name``.
    progress : bool or None
        A tqdm bar per file while hashing (``None``: on a terminal only).

    Returns
    -------
    Verification
    """
    label = release if isinstance(release, str) else release.name
    release = open_release(release)
    folder = _folder(release, folder, data)
    return Verification(label, folder, len(release.files), verify(release, folder, progress=progress))


def _human(n: int | None) -> str:
    if n is None:
        return "size unknown"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def placement_message(release: Release, folder: Path, files: Sequence[RemoteFile], why: str) -> str:
    """The message of :class:`DatasetUnavailableError`: which files to place where."""
    lines = [f"{why}. To use {release.name!r} without network, download these files by other means and "
             f"place them in {folder}:"]
    for f in files:
        opt = "" if f.required else " (optional)"
        lines.append(f"  {folder / f.name}{opt}\n      from {f.url}\n      {_human(f.size)}, "
                     f"{f.checksum or 'no published checksum'}")
    checked = "these checksums" if all(f.checksum for f in files) else "the published checksums, where there are any"
    lines.append(f"then run the same command again (the files are checked against {checked}).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- download
class _Unreachable(Exception):
    """The host cannot be reached at all (connection refused, DNS failure, connect timeout)."""


def _bar(progress: bool | None, f: RemoteFile, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=f.size, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=f.name,
                disable=(None if progress is None else not progress), dynamic_ncols=True, leave=True)


def _ensure_space(folder: Path, needed: int | None) -> None:
    if needed is None or needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFullError(errno.ENOSPC, f"not enough space in {folder}: {_human(needed)} ({needed} bytes) "
                                          f"needed, {_human(free)} free; free some space (or choose another "
                                          "--data-dir) and run again: the download resumes")


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    fh = open(folder / ".download.lock", "a+")
    try:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            raise RuntimeError(f"another process is downloading into {folder}; wait for it to finish") from None
        yield
    finally:
        fh.close()


def _stream_once(session: requests.Session, f: RemoteFile, part: Path, hasher, bar, timeout) -> None:
    """One GET continuing ``part`` (``Range`` from its size); ``hasher`` holds the hash of ``part`` so far."""
    offset = part.stat().st_size if part.exists() else 0
    # the bytes as stored on the host: no transparent compression, whose lengths would not add up
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        response = session.get(f.url, headers=headers, stream=True, timeout=timeout)
    except requests.ConnectionError as exc:
        if isinstance(exc, requests.exceptions.ConnectTimeout) or "NewConnectionError" in repr(exc) \
                or "NameResolution" in repr(exc) or "Failed to resolve" in str(exc):
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from exc
        raise
    with response:
        if response.status_code == 416 and offset:
            return  # the part is already complete (or longer): the checksum decides
        if response.status_code >= 400:
            response.raise_for_status()
        mode = "ab"
        if offset and response.status_code != 206:
            mode = "wb"  # the server ignored Range: start again from zero
            hasher.__init__(f.algorithm)
            bar.reset(total=f.size)
        elif offset:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start.strip() != str(offset):  # not the bytes asked for: drop the part and start again
                part.unlink()
                hasher.__init__(f.algorithm)
                bar.reset(total=f.size)
                raise requests.exceptions.ChunkedEncodingError(
                    f"server answered Content-Range {response.headers.get('Content-Range')!r} for offset {offset}")
        encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("identity", "")
        expected = None if encoded else response.headers.get("Content-Length")
        written = 0
        with open(part, mode) as fh:
            try:
                for block in response.iter_content(1 << 16):
                    fh.write(block)
                    hasher.update(block)
                    written += len(block)
                    bar.update(len(block))
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        if expected is not None and written != int(expected):
            raise requests.exceptions.ChunkedEncodingError(
                f"connection closed after {written} of {expected} bytes")


class _Hasher:
    """A resettable hashlib object (``__init__`` again to restart); a no-op for ``algorithm=None``."""

    def __init__(self, algorithm: str | None):
        self.h = None if algorithm is None else hashlib.new(algorithm)

    def update(self, data: bytes) -> None:
        if self.h is not None:
            self.h.update(data)

    def hexdigest(self) -> str | None:
        return None if self.h is None else self.h.hexdigest()


def _fetch(session: requests.Session, f: RemoteFile, folder: Path, policy: RetryPolicy, progress,
           timeout) -> None:
    """Download ``f`` into ``folder`` (resuming its ``.part``), verify, rename; fetch again once if corrupt."""
    path, part = folder / f.name, folder / f"{f.name}.part"
    for round_ in range(2):
        if part.exists() and f.size is not None and part.stat().st_size > f.size:
            part.unlink()
        offset = part.stat().st_size if part.exists() else 0
        _ensure_space(folder, None if f.size is None else f.size - offset)
        hasher = _Hasher(f.algorithm)
        if offset and f.checksum is not None:
            with open(part, "rb") as fh:
                while block := fh.read(CHUNK):
                    hasher.update(block)
        bar = _bar(progress, f, offset)
        try:
            for attempt in range(policy.retries + 1):
                try:
                    _stream_once(session, f, part, hasher, bar, timeout)
                    break
                except _Unreachable:
                    if attempt >= min(policy.retries, 1):
                        raise
                except (requests.ConnectionError, requests.Timeout,
                        requests.exceptions.ChunkedEncodingError) as exc:
                    if attempt == policy.retries:
                        raise HTTPFailure(f"GET {f.url} failed after {attempt + 1} attempts: {exc}; run again "
                                          f"to resume from {part}") from exc
                except requests.HTTPError as exc:
                    code = exc.response.status_code if exc.response is not None else None
                    if code not in RETRY_STATUS or attempt == policy.retries:
                        raise HTTPFailure(f"GET {f.url}: HTTP {code}; if the release moved, download "
                                          f"{f.name} by other means and place it at {path}", code) from exc
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        have = part.stat().st_size if part.exists() else 0
                        need = f"{f.size - have} more bytes" if f.size is not None else "more space"
                        raise DiskFullError(errno.ENOSPC, f"disk full while writing {part}: {need} needed in "
                                                          f"{folder}; free some space and run again: the "
                                                          f"download resumes from {have} bytes") from exc
                    raise
                time.sleep(policy.delay(attempt))
        finally:
            bar.close()
        size = part.stat().st_size
        if f.size is not None and size != f.size:
            why = f"size {size} bytes, expected {f.size}"
        elif f.checksum is not None and hasher.hexdigest() != f.digest:
            why = f"{f.algorithm} checksum {hasher.hexdigest()}, expected {f.digest}"
        else:
            os.replace(part, path)
            fsync_dir(folder)
            _write_stamp(folder, f, path)
            return
        part.unlink()
        if round_ == 0:
            warnings.warn(f"{f.name} from {f.url} is corrupt ({why}); fetching it again", stacklevel=4)
    raise ChecksumError(f"{f.name} downloaded from {f.url} twice and corrupt both times: {why}. The host may "
                        "serve a changed file; nothing was kept")


def download(release: Release | str, folder: str | os.PathLike | None = None, *, progress: bool | None = None,
             session: requests.Session | None = None, retries: int | RetryPolicy | None = None,
             offline: bool = False, timeout: float | tuple[float, float] = (15.0, 60.0),
             data: str | os.PathLike | None = None, mirror: str | None = None) -> Path:
    """Make every file of ``release`` present and verified in ``folder``; returns the folder.

    Parameters
    ----------
    release : Release or str
        The release, or a registered name (:func:`~galzoo_fm.datasets.public.open_release`).
    folder : path, optional
        Where its files go (created); default ``data_dir(data) / release.name``.
    progress : bool or None
        Per-file tqdm bars (bytes, bytes/s); ``None`` shows them on a terminal only.
    session : requests.Session, optional
        HTTP session (a fresh one with the package's User-Agent by default).
    retries : int or RetryPolicy, optional
        Retries of a dropped connection / HTTP 5xx (each resumes where the last stopped); default
        ``RetryPolicy`` ``()``.
    offline : bool
        Never use the network: check the files present and report the missing ones.
    timeout : float or (float, float)
        Connect and read timeouts in seconds.
    data : path, optional
        The data folder (default :func:`data_dir`), when ``folder`` is not given.
    mirror : str, optional
        Fetch from this host instead (``http[s]://host[:port]``; URL paths kept).

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    DatasetUnavailableError
        Required files are missing and the host cannot be reached (or ``offline``): the message lists each
        file with its URL, size, checksum and the exact path to place it at.
    ChecksumError
        A file is corrupt after fetching it again once, or (offline) a placed file does not match.
    DiskFullError
        The disk filled up (or would): the ``.part`` file stays, and a rerun resumes.
    galzoo_fm._utils.http.HTTPFailure
        A non-retryable HTTP status (e.g. 404), or retries ran out.
    """
    release = open_release(release, mirror=mirror)
    folder = _folder(release, folder, data)
    folder.mkdir(parents=True, exist_ok=True)
    policy = retries if isinstance(retries, RetryPolicy) else RetryPolicy(
        **({} if retries is None else {"retries": int(retries)}))
    own = session is None
    if own:
        session = requests.Session()
        session.headers["User-Agent"] = user_agent()
    unreachable: dict[str, str] = {}
    unavailable: list[RemoteFile] = []
    try:
        with _folder_lock(folder):
            stamps = _read_stamps(folder)
            for f in release.files:
                path = folder / f.name
                if path.is_file():
                    if _stamped(folder, f, path, stamps):
                        continue
                    why = _check(f, path, progress=progress)
                    if why is None:
                        _write_stamp(folder, f, path)
                        continue
                    if offline:
                        raise ChecksumError(f"{why}; replace it with the file from {f.url}")
                    warnings.warn(f"{why}; downloading it again", stacklevel=2)
                    if f.size is not None and path.stat().st_size < f.size:
                        os.replace(path, folder / f"{f.name}.part")  # perhaps a truncated copy: resume it
                    else:
                        path.unlink()
                host = f.url.split("/")[2]
                if offline or host in unreachable:
                    unavailable.append(f)
                    continue
                try:
                    _fetch(session, f, folder, policy, progress, timeout)
                except _Unreachable as exc:
                    unreachable[host] = str(exc)
                    unavailable.append(f)
    finally:
        if own:
            session.close()
    needed = [f for f in unavailable if f.required]
    if needed:
        why = ("offline mode: files missing" if offline else
               "cannot reach " + ", ".join(f"{h} ({e.split(':')[0]})" for h, e in unreachable.items()))
        raise DatasetUnavailableError(placement_message(release, folder, unavailable, why))
    for f in unavailable:
        warnings.warn(f"optional file {f.name} of {release.name} is not available ({f.url})", stacklevel=2)
    return folder
