"""Shared plumbing of surveys served over HTTP: server URL setting, polite session, disk cache."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from astropy.io import fits

from galzoo_fm._utils.http import DiskCache, PoliteSession, RetryPolicy, server_url, validate_fits
from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.base import Survey
from galzoo_fm.surveys.options import DEFAULT, integer, number, text

__all__ = ["HTTPSurvey"]


class HTTPSurvey(Survey):
    """Base class of HTTP surveys; subclasses call ``super().__init__(**http_options)`` with the common options.

    The options are declared once here (``options``) and inherited by every HTTP survey; a subclass
    changes the default of ``per_host`` with ``default_per_host`` and the public service with
    ``default_server``.

    Parameters
    ----------
    {options}
    """

    #: The public service, overridden by ``server=`` or the environment variable.
    default_server: ClassVar[str] = ""
    #: Polite default for ``per_host``.
    default_per_host: ClassVar[int] = 4
    options: ClassVar[dict[str, Setting]] = {
        "server": text(None, "Base URL of the service; default ``$GALZOO_FM_<NAME>_URL`` or the public service."),
        "cache_dir": text(None, "Folder of the response cache; ``None`` disables it.", type_doc="str or path"),
        "timeout": number(60.0, "Seconds per request (connect and each read)."),
        "retries": integer(5, "Retries after the first attempt (timeouts, connection errors, 429, 5xx, corrupt "
                           "bodies).", minimum=0),
        "backoff": number(1.0, "Base of the exponential backoff in seconds (full jitter)."),
        "max_wait": number(60.0, "Cap on one wait, including a server's ``Retry-After``."),
        "per_host": integer(None, "Most concurrent requests to the service's host; default the survey's "
                            "``default_per_host``."),
    }

    @classmethod
    def option_settings(cls) -> dict[str, Setting]:
        """The declared options, with ``per_host`` defaulting to ``default_per_host``."""
        table = super().option_settings()
        if table["per_host"].default is None:
            table["per_host"] = replace(table["per_host"], default=cls.default_per_host)
        return table

    def __init__(self, *, server: str | None = DEFAULT, cache_dir: str | Path | None = DEFAULT,
                 timeout: Any = DEFAULT, retries: Any = DEFAULT, backoff: Any = DEFAULT, max_wait: Any = DEFAULT,
                 per_host: Any = DEFAULT):
        o = self.resolve_options(server=server, cache_dir=cache_dir, timeout=timeout, retries=retries,
                                 backoff=backoff, max_wait=max_wait, per_host=per_host)
        self.server = server_url(self.name, o["server"], self.default_server)
        policy = RetryPolicy(o["retries"], o["backoff"], o["max_wait"])
        self.timeout = o["timeout"]
        per_host = o["per_host"] if o["per_host"] is not None else self.default_per_host
        self.session = PoliteSession(per_host=per_host, timeout=self.timeout, policy=policy)
        self.cache = DiskCache(o["cache_dir"])

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
