"""Running astroquery clients politely: one client per thread, our User-Agent, timeouts, retries, host limit.

astroquery's request layer neither retries nor limits concurrency, and some services (SkyView) are called
without a timeout. :class:`AstroquerySurvey` gives each worker thread its own client instance whose
``requests`` session carries our User-Agent and a default timeout, points the client at the configured
server (the same settings as astroquery's ``conf``), and wraps every call in the shared retry policy and
per-host slot of :class:`~galzoo_fm._utils.http.PoliteSession`.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from galzoo_fm._utils.http import call_with_retries, user_agent
from galzoo_fm.surveys.http_survey import HTTPSurvey

__all__ = ["AstroquerySurvey"]

T = TypeVar("T")


class _TimeoutAdapter(HTTPAdapter):
    """Applies a default timeout to requests sent without one."""

    def __init__(self, timeout: float, **kwargs: Any):
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class AstroquerySurvey(HTTPSurvey):
    """Base of surveys that talk to their service through an astroquery client."""

    def __init__(self, **http_options: Any):
        super().__init__(**http_options)
        self._local = threading.local()
        self._temporary: list[Path] = []  # per-thread astroquery cache folders when caching is off
        self._temporary_lock = threading.Lock()
        cache_dir = self.cache.root
        self._aq_cache = Path(cache_dir) / "astroquery" / self.name if cache_dir is not None else None

    def make_client(self) -> Any:
        """A fresh astroquery client configured for ``server``; subclasses implement."""
        raise NotImplementedError

    def client(self) -> Any:
        """This thread's client (created on first use)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.make_client()
            session: requests.Session = client._session
            session.headers["User-Agent"] = f"{user_agent()} {session.headers.get('User-Agent', '')}".strip()
            adapter = _TimeoutAdapter(self.timeout)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            if self._aq_cache is not None:
                client.cache_location = self._aq_cache
            else:
                folder = Path(tempfile.mkdtemp(prefix="galzoo-astroquery-"))
                with self._temporary_lock:
                    self._temporary.append(folder)
                weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)  # also if close() never runs
                client.cache_location = folder
            self._local.client = client
        return client

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run one astroquery call under the host limit, retrying transient failures."""
        slot = self.session._slot(self.server)

        def attempt() -> T:
            with slot:
                return fn()

        return call_with_retries(attempt, self.session.policy, what=what, cancel=self.session.cancelled)

    def close(self) -> None:
        super().close()
        client = getattr(self._local, "client", None)
        if client is not None:
            client._session.close()
        with self._temporary_lock:
            folders, self._temporary = self._temporary, []
        for folder in folders:  # the temporary astroquery caches of every thread's client
            shutil.rmtree(folder, ignore_errors=True)
