"""The embedding of image files runs beside their fetch (galzoo_fm.embedding.overlap): blocks are embedded as
their rows arrive in the store, the result equals the one-phase-after-the-other run, errors reach the caller
and an interrupted run resumes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from astropy.table import Table

from galzoo_fm.embedding import run_embedding
from galzoo_fm.embedding.overlap import Arrivals, BackgroundFetch
from galzoo_fm.images import open_images
from galzoo_fm.models.encoder import Encoder

N = 12


@pytest.fixture()
def folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    root = tmp_path / "pngs"
    root.mkdir()
    for i in range(N):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"g{i:02d}.png")
    return root


def _encoder() -> Encoder:
    from galzoo_fm.preprocess import Preprocessor

    return Encoder("resnet18", in_chans=3, image_size=16, seed=0,
                   preprocessing=Preprocessor.preset("zoobot", image_size=16).to_dict())


def _vectors(path) -> np.ndarray:
    return np.ma.filled(Table.read(path)["embedding"], np.nan)


def _slow(source, rows_from: int, seconds: float):
    """``source`` whose rows from ``rows_from`` on take ``seconds`` each to load."""
    load = source.items.load

    def slow_load(rows):
        if np.any(np.asarray(rows) >= rows_from):
            time.sleep(seconds * int(np.sum(np.asarray(rows) >= rows_from)))
        return load(rows)

    source.items.load = slow_load
    source.batch_size = 1  # one row per fetch_rows call, so rows are committed one by one
    return source


def test_blocks_embedded_while_fetching_and_same_result(folder, tmp_path, monkeypatch):
    from galzoo_fm.embedding.partial import PartialRun

    commits = []
    original = PartialRun.commit

    def commit(self, block, *args, **kwargs):
        fetching = any(t.name == "galzoo-embed-fetch" and t.is_alive() for t in threading.enumerate())
        commits.append((block, fetching))
        return original(self, block, *args, **kwargs)

    monkeypatch.setattr(PartialRun, "commit", commit)
    source = _slow(open_images(folder, size=16), rows_from=8, seconds=0.5)
    summary = run_embedding(folder, images=source, model=_encoder(), out=tmp_path / "overlap.fits", device="cpu",
                            batch_size=2, block_rows=4, workers=1)
    assert summary.counts == {"ok": N}
    assert commits[0] == (0, True)  # block 0 (rows 0-3) was embedded while rows 8-11 were still being read
    # the same vectors as a run over the finished store (no fetch beside it: every block is read at once)
    again = run_embedding(folder, images={"column": None}, model=_encoder(), out=tmp_path / "plain.fits",
                          store=summary.store, device="cpu", batch_size=2, block_rows=4, workers=1)
    assert again.blocks_done == 3
    np.testing.assert_array_equal(_vectors(summary.out), _vectors(again.out))


def test_interrupted_embedding_stops_the_fetch_and_resumes(folder, tmp_path):
    encoder = _encoder()
    calls = {"n": 0}
    forward = encoder.forward

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return forward(x)

    encoder.forward = flaky
    source = _slow(open_images(folder, size=16), rows_from=6, seconds=0.2)
    out = tmp_path / "vectors.fits"
    with pytest.raises(KeyboardInterrupt):
        run_embedding(folder, images=source, model=encoder, out=out, device="cpu", batch_size=2, block_rows=4,
                      workers=1)
    assert not any(t.name == "galzoo-embed-fetch" for t in threading.enumerate())  # the fetch has stopped
    assert not out.exists()
    encoder.forward = forward
    summary = run_embedding(folder, images={"column": None}, model=encoder, out=out, device="cpu", batch_size=2,
                            block_rows=4, workers=1)
    assert summary.counts == {"ok": N} and summary.blocks_skipped >= 1  # block 0 was kept
    fresh = run_embedding(folder, images={"column": None}, model=_encoder(), out=tmp_path / "fresh.fits",
                          store=tmp_path / "fresh.cutouts", device="cpu", batch_size=2, block_rows=4, workers=1)
    np.testing.assert_array_equal(_vectors(out), _vectors(fresh.out))


def test_fetch_error_reaches_the_caller():
    def broken(observer):
        raise OSError("disk full")

    background = BackgroundFetch(broken, 10)
    with pytest.raises(RuntimeError, match="fetch beside the embedding failed: disk full"):
        background.start()


def test_arrivals_wait_for_rows():
    arrivals = Arrivals(8)
    arrivals.started(np.arange(2, 8))
    assert not arrivals.pending(0, 2) and arrivals.pending(0, 4)
    assert arrivals.wait_rows(0, 2, alive=lambda: True)
    assert not arrivals.wait_rows(0, 4, alive=lambda: False)  # the consumer stopping: no wait
    done = threading.Event()

    def consumer():
        arrivals.wait_rows(0, 8, alive=lambda: True)
        done.set()

    thread = threading.Thread(target=consumer)
    thread.start()
    arrivals.committed(np.array([2, 3, 4]))
    assert not done.wait(0.3)  # rows 5-7 still pending
    arrivals.committed(np.array([5, 6, 7, 99]))  # a row outside the catalogue is ignored
    assert done.wait(5)
    thread.join()
