"""Polite HTTP for survey services: per-host concurrency limit, retries with backoff, FITS validation, cache.

* :class:`RetryPolicy` — exponential backoff with full jitter on timeouts, connection errors, HTTP 429 and
  5xx, and bodies that fail validation; ``Retry-After`` is honoured (capped by ``max_wait``).
* :class:`PoliteSession` — a :class:`requests.Session` with a clear User-Agent, a per-request timeout and
  at most ``per_host`` requests in flight to any one host (shared by all worker threads).
* :class:`DiskCache` — validated responses on disk keyed by the request's meaning (survey, layer,
  position, size, pixel scale, bands), written atomically; a corrupt entry is dropped, never served.
* :func:`validate_fits` — a body is good only if it parses as complete FITS with readable data.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import numpy as np
import requests
from astropy.io import fits

from galzoo_fm._utils.atomic import atomic_write, remove_stale_temporaries
from galzoo_fm._utils.version import __version__

__all__ = [
    "CorruptResponse",
    "DiskCache",
    "HTTPFailure",
    "PoliteSession",
    "RetryPolicy",
    "server_url",
    "user_agent",
    "validate_fits",
]

T = TypeVar("T")
RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


class CorruptResponse(ValueError):
    """A response body is not what the service should send (truncated or garbage FITS, bad table)."""


class HTTPFailure(RuntimeError):
    """A request failed for good: a non-retryable HTTP status, or retries ran out.

    Attributes
    ----------
    status_code : int or None
        Last HTTP status, if any response came back.
    """

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


def user_agent() -> str:
    """``galzoo-fm/<version> (+https://galzoo-fm.readthedocs.io) python-requests/<version>``."""
    return f"galzoo-fm/{__version__} (+https://galzoo-fm.readthedocs.io) python-requests/{requests.__version__}"


def server_url(survey: str, explicit: str | None, default: str) -> str:
    """The server URL of ``survey``: ``explicit``, else ``$GALZOO_FM_<SURVEY>_URL``, else ``default``."""
    env = f"GALZOO_FM_{survey.upper()}_URL"
    url = explicit or os.environ.get(env) or default
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{survey} server URL {url!r} (from {'argument' if explicit else env}) must start with "
                         "http:// or https://")
    return url


def validate_fits(body: bytes, *, what: str = "response") -> fits.HDUList:
    """Parse ``body`` as FITS and read every HDU's data; raise :class:`CorruptResponse` if anything is off.

    Catches HTML error pages, truncated downloads (size not a multiple of 2880 bytes, short data) and
    garbage. Returns the opened :class:`~astropy.io.fits.HDUList` (in memory).
    """
    if not body.startswith(b"SIMPLE  ="):
        head = body[:60].decode("latin-1", "replace").replace("\n", " ")
        raise CorruptResponse(f"{what} is not FITS ({len(body)} bytes starting {head!r})")
    if len(body) % 2880:
        raise CorruptResponse(f"{what} is truncated FITS ({len(body)} bytes is not a multiple of 2880)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", fits.verify.VerifyWarning)
            hdul = fits.HDUList.fromstring(body)
            for hdu in hdul:
                data = hdu.data
                if data is not None and not isinstance(data, np.ndarray | fits.FITS_rec):
                    raise CorruptResponse(f"{what}: HDU {hdu.name} has unreadable data")
    except CorruptResponse:
        raise
    except Exception as exc:
        raise CorruptResponse(f"{what} is corrupt FITS: {type(exc).__name__}: {exc}") from None
    return hdul


@dataclass
class RetryPolicy:
    """When and how long to wait before trying again.

    Parameters
    ----------
    retries : int
        Further attempts after the first.
    backoff : float
        Base delay in seconds; attempt ``k`` waits a uniform random time in ``[0, backoff * 2**k]``
        ("full jitter"), capped at ``max_wait``.
    max_wait : float
        Longest single wait, also the cap on a server's ``Retry-After``.
    """

    retries: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait)
        return min(random.uniform(0, self.backoff * 2**attempt), self.max_wait)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return when.timestamp() - time.time() if when else None


def _classify(exc: BaseException) -> tuple[bool, float | None]:
    """(retryable, retry_after) for an exception raised by a request or by validation."""
    if isinstance(exc, CorruptResponse | requests.Timeout | requests.ConnectionError):
        return True, None
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return True, None
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        return code in RETRY_STATUS, _retry_after(exc.response) if code in RETRY_STATUS else None
    if isinstance(exc, HTTPFailure):
        return exc.status_code in RETRY_STATUS, None
    return False, None


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, *, what: str,
                      cancel: threading.Event | None = None) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures by ``policy``.

    Used directly around astroquery calls, whose own request layer does not retry. Non-retryable
    errors propagate at once; when retries run out an :class:`HTTPFailure` names the last error.
    Setting ``cancel`` (e.g. on Ctrl-C) stops the retrying: a wait ends at once and the call fails.
    """
    for attempt in range(policy.retries + 1):
        if cancel is not None and cancel.is_set():
            raise HTTPFailure(f"{what}: cancelled")
        try:
            return fn()
        except Exception as exc:
            retryable, after = _classify(exc)
            if not retryable:
                raise
            if attempt == policy.retries:
                response = exc.response if isinstance(exc, requests.HTTPError) else None
                code = response.status_code if response is not None else None
                raise HTTPFailure(
                    f"{what} failed after {policy.retries + 1} attempts: {type(exc).__name__}: {exc}", code
                ) from exc
            wait = policy.delay(attempt, after)
            if cancel is None:
                time.sleep(wait)
            elif cancel.wait(wait):
                raise HTTPFailure(f"{what}: cancelled") from exc
    raise AssertionError("unreachable")  # pragma: no cover


class PoliteSession:
    """Thread-safe HTTP GETs with a per-host limit, timeouts and retries.

    Parameters
    ----------
    per_host : int
        Most requests in flight to one host at once, over all threads.
    timeout : float
        Seconds to wait for the connection and for each read.
    policy : RetryPolicy, optional
        Retry behaviour.
    """

    def __init__(self, *, per_host: int = 4, timeout: float = 60.0, policy: RetryPolicy | None = None):
        if per_host < 1:
            raise ValueError(f"per_host must be >= 1, got {per_host}")
        self.per_host = per_host
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        #: Set to stop all retrying (the fetch engine sets it on Ctrl-C).
        self.cancelled = threading.Event()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = user_agent()
            self._local.session = session
        return session

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(self.per_host)
            return self._hosts[host]

    def get_once(self, url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """One GET under the host's limit; raises ``requests.HTTPError`` on 4xx/5xx."""
        with self._slot(url):
            response = self._session().get(url, params=params, timeout=self.timeout)
            response.content  # read the whole body while holding the slot  # noqa: B018
        response.raise_for_status()
        return response

    def get(self, url: str, params: Mapping[str, Any] | None = None, *,
            validate: Callable[[bytes], Any] | None = None, what: str | None = None) -> tuple[bytes, Any]:
        """GET ``url`` with retries; returns ``(body, validate(body))``.

        ``validate`` raises :class:`CorruptResponse` for a bad body, which is then retried like a 5xx.
        Non-retryable statuses (e.g. 400, 404) raise :class:`HTTPFailure` at once.
        """
        what = what or url

        def attempt() -> tuple[bytes, Any]:
            response = self.get_once(url, params)
            body = response.content
            return body, (validate(body) if validate is not None else None)

        try:
            return call_with_retries(attempt, self.policy, what=what, cancel=self.cancelled)
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else None
            raise HTTPFailure(f"{what}: HTTP {code}", code) from exc

    def close(self) -> None:
        """Close this thread's connections."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()


class DiskCache:
    """Validated response bodies on disk, keyed by a JSON-able description of the request.

    Parameters
    ----------
    root : str or path or None
        Cache folder (created on first write); ``None`` disables caching.
    """

    _cleaned: ClassVar[set[Path]] = set()  # roots whose debris this process removed already

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None
        if self.root is not None and self.root not in DiskCache._cleaned:
            DiskCache._cleaned.add(self.root)
            self._remove_debris()

    def _remove_debris(self) -> None:
        """Remove the temporary files killed processes left in the cache (one pass over its folders)."""
        try:
            folders = [e.path for e in os.scandir(self.root) if e.is_dir() and len(e.name) == 2]
        except OSError:
            return
        for folder in folders:
            remove_stale_temporaries(folder)

    @staticmethod
    def key(**parts: Any) -> str:
        """A stable hex key from keyword parts (floats rounded to 1e-9 degree / arcsec)."""

        def norm(v: Any) -> Any:
            if isinstance(v, float | np.floating):
                return round(float(v), 9)
            if isinstance(v, list | tuple):
                return [norm(x) for x in v]
            return v

        text = json.dumps({k: norm(v) for k, v in sorted(parts.items())}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, key: str, suffix: str = ".fits") -> Path:
        """Where the entry for ``key`` lives."""
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str, validate: Callable[[bytes], Any] | None = None, suffix: str = ".fits"
            ) -> tuple[bytes, Any] | None:
        """``(body, validate(body))`` if cached and still valid; a corrupt entry is removed."""
        if self.root is None:
            return None
        path = self.path(key, suffix)
        try:
            body = path.read_bytes()
        except OSError:
            return None
        try:
            return body, (validate(body) if validate is not None else None)
        except CorruptResponse:
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, body: bytes, suffix: str = ".fits") -> None:
        """Store ``body`` atomically (temporary file, fsync, rename)."""
        if self.root is None:
            return
        path = self.path(key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, body)

    def fetch(self, key: str | None, produce: Callable[[], tuple[bytes, Any]],
              validate: Callable[[bytes], Any] | None, suffix: str = ".fits") -> tuple[bytes, Any]:
        """Serve ``key`` from the cache or call ``produce()`` (which must validate) and store its body."""
        if key is not None:
            hit = self.get(key, validate, suffix)
            if hit is not None:
                return hit
        body, parsed = produce()
        if key is not None:
            self.put(key, body, suffix)
        return body, parsed
