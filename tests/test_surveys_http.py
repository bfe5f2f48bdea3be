"""The polite HTTP layer against a loopback server: retries, Retry-After, timeouts, validation, cache, limits."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _survey_servers import fits_bytes, legacy_server
from astropy.io import fits

from galzoo_fm._utils.http import (
    CorruptResponse,
    DiskCache,
    HTTPFailure,
    PoliteSession,
    RetryPolicy,
    server_url,
    user_agent,
    validate_fits,
)


@pytest.fixture
def server():
    srv = legacy_server()
    yield srv
    srv.close()


def url(srv):
    return srv.url + "/viewer/fits-cutout"


def params(ra=10.0):
    return {"ra": ra, "dec": 5.0, "layer": "ls-dr10", "size": 8, "bands": "g"}


def session(**kw):
    return PoliteSession(timeout=kw.pop("timeout", 1.0), policy=RetryPolicy(3, 0.01, 2.0), **kw)


def test_validate_fits_rejects_garbage_html_and_truncation():
    good = fits_bytes([fits.PrimaryHDU(np.zeros((4, 4), np.float32))])
    assert validate_fits(good)[0].data.shape == (4, 4)
    with pytest.raises(CorruptResponse, match="not FITS"):
        validate_fits(b"<html>oops</html>")
    with pytest.raises(CorruptResponse, match="truncated"):
        validate_fits(good[:-100])
    with pytest.raises(CorruptResponse):
        validate_fits(good[:2880])  # header only: data missing


def test_user_agent_and_server_setting(monkeypatch, server):
    _body, hdul = session().get(url(server), params(), validate=validate_fits)
    assert hdul[0].header["BANDS"] == "g"
    assert server.log[-1].headers["User-Agent"].startswith("galzoo-fm/")
    assert user_agent().startswith("galzoo-fm/")
    monkeypatch.setenv("GALZOO_FM_LEGACY_URL", "http://mirror.example/viewer")
    assert server_url("legacy", None, "https://default") == "http://mirror.example/viewer"
    assert server_url("legacy", "http://explicit", "https://default") == "http://explicit"
    with pytest.raises(ValueError, match="must start with http"):
        server_url("legacy", "ftp://x", "https://default")


@pytest.mark.parametrize("fault", ["500", "503", "garbage", "html", "short", "truncate", ("slow", 1.5)])
def test_transient_faults_are_retried(server, fault):
    server.inject(lambda r: True, fault)
    _, hdul = session().get(url(server), params(), validate=validate_fits)
    assert hdul[0].data.shape == (1, 8, 8)
    assert len(server.log) == 2


def test_retry_after_is_honoured(server):
    server.inject(lambda r: True, ("429", 1))
    t0 = time.monotonic()
    session().get(url(server), params(), validate=validate_fits)
    assert time.monotonic() - t0 >= 0.95
    assert server.log[1].time - server.log[0].time >= 0.95


def test_persistent_and_client_errors_fail_with_reason(server):
    server.inject(lambda r: True, *["500"] * 4)
    with pytest.raises(HTTPFailure, match="failed after 4 attempts") as info:
        session().get(url(server), params(), validate=validate_fits)
    assert info.value.status_code == 500
    server.log.clear()
    with pytest.raises(HTTPFailure, match="HTTP 400"):
        session().get(url(server), {**params(), "layer": "nope"}, validate=validate_fits)
    assert len(server.log) == 1  # 4xx other than 429 is not retried


def test_per_host_limit_holds_under_many_threads():
    srv = legacy_server(latency=0.1)
    try:
        s = session(per_host=2)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: s.get(url(srv), params(10 + i), validate=validate_fits), range(8)))
        assert srv.max_active == 2
    finally:
        srv.close()


def test_disk_cache_is_atomic_and_drops_corrupt_entries(tmp_path):
    cache = DiskCache(tmp_path)
    key = DiskCache.key(survey="legacy", ra=1.0, dec=2.0, size=8, bands=["g"])
    assert key == DiskCache.key(bands=["g"], size=8, dec=2.0, ra=1.0 + 1e-12, survey="legacy")
    good = fits_bytes([fits.PrimaryHDU(np.ones((2, 2), np.float32))])
    calls = []

    def produce():
        calls.append(1)
        return good, validate_fits(good)

    cache.fetch(key, produce, validate_fits)
    cache.fetch(key, produce, validate_fits)
    assert len(calls) == 1
    cache.path(key).write_bytes(good[:100])  # corrupted on disk
    assert cache.get(key, validate_fits) is None and not cache.path(key).exists()
    assert DiskCache(None).get(key) is None


def test_cancel_stops_retry_waits(server):
    s = PoliteSession(timeout=1.0, policy=RetryPolicy(5, 0.01, 30.0))
    server.inject(lambda r: True, ("429", 30))
    import threading

    threading.Timer(0.3, s.cancelled.set).start()
    t0 = time.monotonic()
    with pytest.raises(HTTPFailure, match="cancelled"):
        s.get(url(server), params(), validate=validate_fits)
    assert time.monotonic() - t0 < 5
