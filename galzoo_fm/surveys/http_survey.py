"""Shared plumbing of surveys served over HTTP: server URL setting, polite session, disk cache."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from astropy.io import fits

from galzoo_fm._utils.http import DiskCache, PoliteSession, RetryPolicy, server_url, validate_fits
from galzoo_fm.surveys.base import Survey, parse_float, parse_int

__all__ = ["HTTPSurvey"]


class HTTPSurvey(Survey):
    """Base class of HTTP surveys; subclasses call ``super().__init__(...)`` with the common options.

    Parameters
    ----------
    server : str, optional
        Base URL of the service; default ``$GALZOO_FM_<NAME>_URL`` or the public service.
    cache_dir : str or path, optional
        Folder of the response cache; ``None`` disables it.
    timeout : float
        Seconds per request (connect and each read).
    retries : int
        Retries after the first attempt (timeouts, connection errors, 429, 5xx, corrupt bodies).
    backoff : float
        Base of the exponential backoff in seconds (full jitter).
    max_wait : float
        Cap on one wait, including a server's ``Retry-After``.
    per_host : int
        Most concurrent requests to the service's host.
    """

    #: The public service, overridden by ``server=`` or the environment variable.
    default_server: ClassVar[str] = ""
    #: Polite default for ``per_host``.
    default_per_host: ClassVar[int] = 4

    def __init__(self, *, server: str | None = None, cache_dir: str | Path | None = None, timeout: Any = 60.0,
                 retries: Any = 5, backoff: Any = 1.0, max_wait: Any = 60.0, per_host: Any = None):
        self.server = server_url(self.name, server, self.default_server)
        policy = RetryPolicy(parse_int(retries, "retries", minimum=0), parse_float(backoff, "backoff"),
                             parse_float(max_wait, "max_wait"))
        self.timeout = parse_float(timeout, "timeout")
        self.session = PoliteSession(
            per_host=parse_int(per_host if per_host is not None else self.default_per_host, "per_host"),
            timeout=self.timeout, policy=policy,
        )
        self.cache = DiskCache(cache_dir)

    def get_fits(self, url: str, params: Mapping[str, Any] | None, *, key: Mapping[str, Any] | None,
                 validate: Callable[[bytes], Any] | None = None, what: str = "") -> fits.HDUList:
        """GET a FITS file through the cache; only bodies that pass validation are cached."""
        check = validate or (lambda body: validate_fits(body, what=what or self.name))
        cache_key = DiskCache.key(survey=self.name, **key) if key is not None else None
        _, hdul = self.cache.fetch(cache_key, lambda: self.session.get(url, params, validate=check, what=what),
                                   check)
        return hdul

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "server": self.server}

    def cancel(self) -> None:
        """Stop retrying: pending waits end and further attempts fail (used on Ctrl-C)."""
        self.session.cancelled.set()

    def close(self) -> None:
        self.session.close()
