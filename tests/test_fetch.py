"""`galzoo-fm fetch` / `galzoo-fm surveys`: resume after SIGINT and kill -9, shards, plugins, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _survey_servers import FAST, legacy_server
from astropy.table import Table
from click.testing import CliRunner

from galzoo_fm import hookimpl, plugins
from galzoo_fm.cli import cli
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.fetch import fetch_catalog, parse_options, parse_shard, survey_options
from galzoo_fm.store.reader import CutoutStore
from galzoo_fm.surveys.base import Survey


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def server():
    srv = legacy_server(latency=0.03)
    yield srv
    srv.close()


def catalog(tmp_path, n=60):
    path = tmp_path / "cat.fits"
    Table({"objid": np.arange(n) + 1000, "RA": 10 + np.arange(n) * 0.01, "DEC": np.full(n, 2.0)}).write(path)
    return path


def opts(srv):
    out = [f"server={srv.url}/viewer/fits-cutout"]
    return [x for kv in (*out, *(f"{k}={v}" for k, v in FAST.items())) for x in ("--survey-opt", kv)]


def ra_of(req):
    return round(float(req.q("ra")), 6)


def test_surveys_command_lists_builtins():
    out = run("surveys").output
    for name in ("legacy", "panstarrs", "sdss", "hips", "skyview", "local"):
        assert f"\n{name}  [galzoo_fm.surveys.builtin]" in "\n" + out
    assert "ls-dr10" in out and "0.262" in out
    data = json.loads(run("surveys", "leg*", "--json").output)
    assert [d["name"] for d in data] == ["legacy"] and data[0]["max_size"] == 512


def test_fetch_command_and_rerun(server, tmp_path):
    cat = catalog(tmp_path, 12)
    res = run("fetch", cat, "--survey", "legacy", "--size", 16, "--out", tmp_path / "s", "--bands", "gr",
              "--workers", 3, *opts(server))
    assert res.exit_code == 0, res.output
    assert "12 rows recorded" in res.output and "ok 12" in res.output
    store = CutoutStore(tmp_path / "s")
    assert store.table["id"].tolist() == [str(i + 1000) for i in range(12)]
    assert store.bands == ("g", "r") and store.table.meta["layer"] == "ls-dr10"
    res = run("fetch", cat, "--survey", "legacy", "--size", 16, "--out", tmp_path / "s", "--bands", "gr", *opts(server))
    assert "0 rows recorded" in res.output and "12 already done" in res.output
    res = run("fetch", cat, "--survey", "legacy", "--size", 32, "--out", tmp_path / "s", "--bands", "gr", *opts(server))
    assert res.exit_code == 1 and "size: store has 16, this run 32" in res.output


def test_bad_input_is_reported(server, tmp_path):
    bad = tmp_path / "bad.ecsv"
    Table({"x": [1.0], "y": [2.0]}).write(bad)
    res = run("fetch", bad, "--survey", "legacy", "--size", 16, "--out", tmp_path / "s")
    assert res.exit_code == 1 and "cannot find a RA column" in res.output and "has columns: x, y" in res.output
    cat = catalog(tmp_path, 2)
    for args, message in [(["--layer", "dr99"], "unknown legacy layer 'dr99'"),
                          (["--bands", "gq"], "unknown ls-dr10 band 'q'"),
                          (["--survey-opt", "novalue"], "must look like KEY=VALUE"),
                          (["--shard", "3/2"], "shard 3/2 is out of range")]:
        res = run("fetch", cat, "--survey", "legacy", "--size", 16, "--out", tmp_path / "s", *args, *opts(server))
        assert res.exit_code == 1 and message in res.output, res.output
    res = run("fetch", cat, "--survey", "legacy", "--size", 1024, "--out", tmp_path / "s", *opts(server))
    assert "exceeds the legacy service limit of 512 px" in res.output
    res = run("fetch", cat, "--survey", "legacy", "--size", 16, "--out", cat, *opts(server))
    assert res.exit_code != 0
    assert parse_options(["a=1", "b-c = x=y"]) == {"a": "1", "b_c": "x=y"}
    assert parse_shard("1/4") == (1, 4)


def test_survey_options_merge_the_shortcuts_over_the_pairs():
    """The rule behind ``fetch --bands/--layer/--pixscale``: a shortcut given replaces the pair of its key."""
    assert survey_options(None) == {}
    assert survey_options(["layer=ls-dr9", "bands=grz", "server=http://x"]) == {
        "layer": "ls-dr9", "bands": "grz", "server": "http://x"}
    merged = survey_options(["layer=ls-dr9", "bands=grz"], bands="gr", pixscale="0.5")
    assert merged == {"layer": "ls-dr9", "bands": "gr", "pixscale": "0.5"}
    assert survey_options((), layer="ls-dr10") == {"layer": "ls-dr10"}
    with pytest.raises(ValueError, match="must look like KEY=VALUE"):
        survey_options(["layer"], bands="g")


def test_shards_write_parts_that_read_as_one_store(server, tmp_path):
    cat = catalog(tmp_path, 20)
    options = {"server": server.url + "/viewer/fits-cutout", "bands": "g", **FAST}
    for i in (2, 0, 1):
        fetch_catalog(cat, "legacy", size=8, out=tmp_path / "s", survey_options=options, shard=f"{i}/3")
    store = CutoutStore(tmp_path / "s")
    assert store.table["row"].tolist() == list(range(20))
    assert sorted(p.name for p in (tmp_path / "s" / "parts").iterdir()) == [
        "shard-0000-of-0003", "shard-0001-of-0003", "shard-0002-of-0003"]
    sky = [set(fetch_catalog(cat, "legacy", size=8, out=tmp_path / f"k{i}", survey_options=options,
                             shard=(i, 2), shard_by="sky").counts) for i in range(2)]
    assert sky == [{"ok"}, {"ok"}]
    assert len(CutoutStore(tmp_path / "k0")) + len(CutoutStore(tmp_path / "k1")) == 20


class Flaky(Survey):
    name = "flaky"
    all_bands = ("x",)

    def __init__(self, **_):
        self.bands, self.pixscale = ("x",), 1.0

    def fetch(self, ra, dec, size):
        if ra > 10.05:
            raise KeyboardInterrupt  # what Ctrl-C looks like to the engine
        return Cutout(Status.OK, np.ones((1, size, size), np.float32))


class FlakyPlugin:
    @hookimpl
    def register_surveys(self, register):
        register("flaky", Flaky, description="test survey", bands=["x"])


def test_third_party_survey_and_interrupt(tmp_path, fresh_plugins):
    plugins.register_plugin(FlakyPlugin(), name="flaky-plugin")
    assert "flaky  [flaky-plugin]  test survey" in run("surveys").output
    cat = catalog(tmp_path, 10)
    summary = fetch_catalog(cat, "flaky", size=4, out=tmp_path / "s", workers=1, chunk_size=2)
    assert summary.interrupted and "rerun the same command to resume" in str(summary)
    done = CutoutStore(tmp_path / "s").table["row"].tolist()
    assert done == list(range(len(done))) and 0 < len(done) <= 6


# The child restores Python's own Ctrl-C handler first: a pytest started as a background job (`pytest &`, nohup)
# has SIGINT ignored, the child inherits that, and Python then leaves it ignored, so the SIGINT the test sends
# would do nothing. (preexec_fn would do the same but is unsafe with the threads of the test server.)
_CHILD = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "from galzoo_fm.cli import main; main()")


def _start(cat, out, srv, *extra):
    cmd = [sys.executable, "-c", _CHILD, "fetch", str(cat), "--survey", "legacy",
           "--size", "16", "--out", str(out), "--workers", "2", "--chunk-size", "4", "--bands", "g", *opts(srv),
           *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})


def _wait_chunks(out: Path, proc, n: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(list((out / "parts").glob("*/chunk-*.rows.npz"))) >= n if (out / "parts").exists() else False:
            return
        if proc.poll() is not None:
            pytest.fail(f"fetch ended before it could be interrupted:\n{proc.stdout.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no chunk was committed in time")


def test_kill9_and_sigint_then_rerun_gives_complete_store(server, tmp_path):
    cat, out = catalog(tmp_path, 60), tmp_path / "store"
    server.latency = 0.08  # about 3 s for the whole catalogue: time to interrupt it half-way
    proc = _start(cat, out, server)
    _wait_chunks(out, proc, 2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: commits what finished, says how to resume
    text = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130 and "interrupted: rerun the same command to resume" in text, text
    after_int = len(CutoutStore(out))

    proc = _start(cat, out, server)
    _wait_chunks(out, proc, (after_int // 4) + 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    store = CutoutStore(out)  # consistent after kill -9
    committed = set(store.table["row"].tolist())
    assert after_int <= len(committed) < 60 and len(committed) == len(store.table)
    assert set(store.status) == {"ok"}

    server.log.clear()
    summary = fetch_catalog(cat, "legacy", size=16, out=out, workers=2,
                            survey_options={"server": server.url + "/viewer/fits-cutout", "bands": "g", **FAST})
    assert summary.skipped == len(committed)
    store = CutoutStore(out)
    assert store.table["row"].tolist() == list(range(60))  # complete, no duplicates
    assert set(store.status) == {"ok"}
    ras = 10 + np.arange(60) * 0.01
    refetched = {int(np.argmin(np.abs(ras - ra_of(r)))) for r in server.log}
    assert not refetched & committed  # finished rows were never requested again
    for i in (0, 59):
        assert store.wcs(i).wcs.crval[0] == pytest.approx(ras[i])
