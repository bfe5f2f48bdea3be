"""`galzoo-fm embed` killed with SIGKILL mid-run, then run again, ends with the uninterrupted run's output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
from _embed_helpers import demo_field
from click.testing import CliRunner

from galzoo_fm.cli import cli
from galzoo_fm.explore import read_embeddings

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _command(catalog, mosaic, out):
    return [sys.executable, "-c", "from galzoo_fm.cli import main; main()", "embed", str(catalog), "--survey",
            "local", "--survey-opt", f"path={mosaic}", "--out", str(out), "--image-size", "64", "--batch-size",
            "4", "--block-rows", "4", "--workers", "1", "--no-progress"]


def test_kill_9_then_rerun_gives_the_uninterrupted_output(tmp_path):
    catalog, mosaic = demo_field(tmp_path / "field", n_side=10, spacing=20)  # 102 rows, 26 blocks
    whole = tmp_path / "whole" / "e.fits"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the uninterrupted reference in this process, single-threaded like the others
    try:
        done = CliRunner().invoke(cli, _command(catalog, mosaic, whole)[3:], catch_exceptions=False)
    finally:
        torch.set_num_threads(threads)
    assert done.exit_code == 0, done.output

    out = tmp_path / "killed" / "e.fits"
    partial = out.with_name("e.fits.partial")
    proc = subprocess.Popen(_command(catalog, mosaic, out), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.is_dir() and len(list(partial.glob("block-*.rows.npz"))) >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    committed = len(list(partial.glob("block-*.rows.npz")))
    assert not out.exists() and 3 <= committed < 26

    again = subprocess.run(_command(catalog, mosaic, out), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    resumed = int(again.stdout.split(" block(s) resumed")[0].rsplit(" ", 1)[1])
    assert resumed >= committed - 1  # the block being written when killed may be incomplete
    a, b = read_embeddings(whole), read_embeddings(out)
    assert a["id"].tolist() == b["id"].tolist() and a["status"].tolist() == b["status"].tolist()
    np.testing.assert_array_equal(np.asarray(a["embedding"]), np.asarray(b["embedding"]))  # bit-identical
    assert not partial.exists()
