"""A loopback HTTP file server standing in for the public data-release hosts, with fault injection.

:class:`ReleaseServer` serves a ``{url_path: bytes}`` mapping over real HTTP/1.1 on 127.0.0.1, the way
static file hosts (Zenodo, data.galaxyzoo.org, the Hugging Face CDN) do: ``Content-Length``,
``Accept-Ranges: bytes``, ``Range: bytes=N-`` / ``bytes=N-M`` answered with ``206 Partial Content`` and
``Content-Range``, ``416`` for a range past the end, ``404`` for unknown paths, ``HEAD`` supported.

Faults are queued per path with :meth:`ReleaseServer.inject` and consumed one per request, in order:

* ``Fault("truncate", after=N)`` — send the right headers, then only ``N`` body bytes and close the
  connection (a dropped connection mid-file);
* ``Fault("corrupt")`` — send the asked-for bytes with the first 64 flipped (checksum mismatch);
* ``Fault("ignore_range")`` — answer ``200`` with the whole file even when a ``Range`` was asked for;
* ``Fault("status", status=503)`` — answer with that HTTP status and a short text body;
* ``Fault("refuse")`` — close the connection without answering;
* ``Fault("gzip")`` — send the bytes gzip-compressed with ``Content-Encoding: gzip`` whatever the client
  accepts (a host that compresses on the fly).

Every request is logged in :attr:`ReleaseServer.requests` as ``(method, path, range_header)``.

Use as a context manager (``with ReleaseServer(files) as srv: srv.url``) or through the
``release_server`` pytest fixture in ``conftest``-free style::

    from _release_server import release_server  # noqa: F401  (pytest fixture)

    def test_x(release_server):
        release_server.files["/data/a.csv"] = b"..."
        url = release_server.url + "/data/a.csv"
"""

from __future__ import annotations

import collections
import gzip
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest

__all__ = ["Fault", "ReleaseServer", "release_server"]

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for the next request to a path (see the module docstring)."""

    kind: str
    after: int = 0
    status: int = 503

    def __post_init__(self):
        if self.kind not in {"truncate", "corrupt", "ignore_range", "status", "refuse", "gzip"}:
            raise ValueError(f"unknown fault kind {self.kind!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):
        pass

    def _reply(self, head: bool) -> None:
        owner = self.server.owner
        path = unquote(urlsplit(self.path).path)
        query = urlsplit(self.path).query
        key = path + ("?" + query if query and (path + "?" + query) in owner.files else "")
        range_header = self.headers.get("Range")
        with owner.lock:
            owner.requests.append((self.command, key, range_header))
            queue = owner.faults.get(key)
            fault = queue.popleft() if queue else None
        if fault is not None and fault.kind == "refuse":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault is not None and fault.kind == "status":
            self._send_simple(fault.status, f"injected HTTP {fault.status}\n".encode(), head)
            return
        body = owner.files.get(key)
        if body is None:
            self._send_simple(404, f"{key} not found\n".encode(), head)
            return
        body = bytes(body)
        start, end, status = 0, len(body) - 1, 200
        if range_header and owner.ranges and not (fault is not None and fault.kind == "ignore_range"):
            m = _RANGE.match(range_header.strip())
            if m is None:
                self._send_simple(400, b"bad Range header\n", head)
                return
            start = int(m.group(1))
            end = min(int(m.group(2)), len(body) - 1) if m.group(2) else len(body) - 1
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        chunk = body[start:end + 1]
        if fault is not None and fault.kind == "corrupt":
            chunk = bytes(b ^ 0xFF for b in chunk[:64]) + chunk[64:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if fault is not None and fault.kind == "gzip":
            chunk = gzip.compress(chunk)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(chunk)))
        if owner.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        self.end_headers()
        if head:
            return
        if fault is not None and fault.kind == "truncate":
            self.wfile.write(chunk[:fault.after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(chunk)

    def _send_simple(self, status: int, body: bytes, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self):
        self._reply(head=False)

    def do_HEAD(self):
        self._reply(head=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ReleaseServer


class ReleaseServer:
    """Serve ``files`` (``{"/url/path": bytes}``) on ``http://127.0.0.1:<port>``.

    Parameters
    ----------
    files : mapping, optional
        URL path (with leading ``/``; a ``?query`` part is matched too when present) to body bytes.
        :attr:`files` stays a live dict: add or replace entries while the server runs.
    ranges : bool
        Honour ``Range`` requests (``False``: a host that always answers ``200`` with the whole file).
    """

    def __init__(self, files: Mapping[str, bytes] | None = None, *, ranges: bool = True):
        self.files: dict[str, bytes] = dict(files or {})
        self.ranges = ranges
        self.faults: dict[str, collections.deque[Fault]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def inject(self, path: str, *faults: Fault) -> None:
        """Queue ``faults`` for the next requests to ``path`` (one fault per request, in order)."""
        with self.lock:
            self.faults.setdefault(path, collections.deque()).extend(faults)

    def gets(self, path: str) -> list[str | None]:
        """The ``Range`` header (or ``None``) of every GET made to ``path`` so far."""
        with self.lock:
            return [r for m, p, r in self.requests if m == "GET" and p == path]

    def start(self) -> ReleaseServer:
        """Bind a free loopback port and serve in a daemon thread."""
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="release-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ReleaseServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def dead_url() -> str:
    """``http://127.0.0.1:<port>`` of a port nothing listens on (connection refused: "no network")."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def release_server():
    """A started :class:`ReleaseServer` with no files (fill ``.files``), stopped after the test."""
    with ReleaseServer() as srv:
        yield srv
