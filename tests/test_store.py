"""The cutout store: atomic chunks, crash consistency, duplicate resolution, parts read as one store."""

import os
import stat

import numpy as np
import pytest
from astropy.wcs import WCS

from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.store.reader import CutoutStore, StoreWriter, ensure_manifest

SHAPE = (2, 8, 8)


def manifest(**over):
    m = {"shape": list(SHAPE), "dtype": "float32", "bands": ["g", "r"], "extras": [], "size": 8,
         "survey": "mock", "layer": None, "pixscale": 0.262, "catalog_fingerprint": "abc"}
    m.update(over)
    return m


def ok(row, extra=None):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [row, 1.0]
    w.wcs.crpix = [4.5, 4.5]
    w.wcs.cd = [[-1e-4, 0], [0, 1e-4]]
    extras = {"invvar": np.full(SHAPE, row, np.float32)} if extra else {}
    return Cutout(Status.OK, np.full(SHAPE, row, np.float32), w, "", extras)


def test_roundtrip_random_and_sequential(tmp_path):
    ensure_manifest(tmp_path, manifest())
    with StoreWriter(tmp_path, chunk_size=4) as w:
        for row in range(10):
            w.add(row, f"id{row}", row, 1.0, ok(row) if row != 3 else Cutout(Status.OFF_FOOTPRINT, reason="x"))
    store = CutoutStore(tmp_path)
    assert len(store) == 10 and store.counts() == {"ok": 9, "off_footprint": 1}
    assert len(list((tmp_path / "parts" / "main").glob("chunk-*.rows.npz"))) == 3
    idx = np.array([9, 0, 3, 5, 5])
    batch = store.read(idx)
    assert batch.shape == (5, *SHAPE) and batch.dtype == np.float32
    assert batch[:, 0, 0, 0].tolist() == [9, 0, 0, 5, 5]  # row 3 has no pixels: zeros
    assert store[7][1, 2, 3] == 7
    assert store.wcs(4).wcs.crval[0] == 4 and store.wcs(3) is None
    seen = np.concatenate([i for i, _ in store.iter_batches(4)])
    assert seen.tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert store.table["id"][2] == "id2" and store.table.meta["survey"] == "mock"


def test_extra_planes_and_shape_mismatch_becomes_failed(tmp_path):
    ensure_manifest(tmp_path, manifest(extras=["invvar"]))
    with StoreWriter(tmp_path) as w:
        w.add(0, "a", 0, 0, ok(5, extra=True))
        w.add(1, "b", 0, 0, ok(6))  # invvar missing
        w.add(2, "c", 0, 0, Cutout(Status.OK, np.zeros((3, 8, 8), np.float32)))
    store = CutoutStore(tmp_path)
    assert store.read([0], plane="invvar")[0, 0, 0, 0] == 5
    assert store.status.tolist() == ["ok", "failed", "failed"]
    assert "shape (3, 8, 8)" in store.table["reason"][2]
    with pytest.raises(ValueError, match="store has no plane 'mask'"):
        store.read([0], plane="mask")


def test_crash_leftovers_are_invisible_and_cleaned(tmp_path):
    ensure_manifest(tmp_path, manifest())
    w = StoreWriter(tmp_path, chunk_size=2)
    for row in range(5):
        w.add(row, str(row), 0, 0, ok(row))
    # simulate kill -9: row 4 is only buffered; plus a half-written chunk and a temp file on disk
    part = tmp_path / "parts" / "main"
    (part / "chunk-000007.npy").write_bytes(b"partial")
    (part / ".chunk-000008.rows.npz.123.tmp").write_bytes(b"x")
    w._lock_fh.close()
    assert len(CutoutStore(tmp_path)) == 4
    with StoreWriter(tmp_path) as w2:
        assert not (part / "chunk-000007.npy").exists() and not list(part.glob(".chunk-*"))
        w2.add(4, "4", 0, 0, ok(4))
    assert CutoutStore(tmp_path).table["row"].tolist() == [0, 1, 2, 3, 4]


def test_retried_rows_resolve_to_one_record(tmp_path):
    ensure_manifest(tmp_path, manifest())
    with StoreWriter(tmp_path) as w:
        w.add(0, "a", 0, 0, Cutout.failed("HTTP 500"))
        w.add(1, "b", 0, 0, ok(1))
    with StoreWriter(tmp_path) as w:
        w.add(0, "a", 0, 0, ok(10))
        w.add(1, "b", 0, 0, Cutout.failed("late failure"))  # a final status is never replaced by failed
    store = CutoutStore(tmp_path)
    assert store.table["row"].tolist() == [0, 1]
    assert store.status.tolist() == ["ok", "ok"]
    assert store.read([0, 1])[:, 0, 0, 0].tolist() == [10, 1]
    assert store.rows_done().tolist() == [0, 1]


def test_parts_read_as_one_store_and_lock(tmp_path):
    ensure_manifest(tmp_path, manifest())
    with StoreWriter(tmp_path, "shard-0000-of-0002") as a, StoreWriter(tmp_path, "shard-0001-of-0002") as b:
        with pytest.raises(ValueError, match="being written by another process"):
            StoreWriter(tmp_path, "shard-0000-of-0002")
        for row in range(6):
            (a if row % 2 else b).add(row, str(row), 0, 0, ok(row))
    store = CutoutStore(tmp_path)
    assert store.table["row"].tolist() == list(range(6))
    assert store.read(np.arange(6))[:, 0, 0, 0].tolist() == list(range(6))


def test_manifest_mismatch_and_bad_folders(tmp_path):
    ensure_manifest(tmp_path, manifest())
    with pytest.raises(ValueError, match=r"different settings.*size: store has 8, this run 16"):
        ensure_manifest(tmp_path, manifest(size=16))
    with pytest.raises(ValueError, match="is not a cutout store"):
        CutoutStore(tmp_path / "nothing")
    with pytest.raises(ValueError, match="part name"):
        StoreWriter(tmp_path, "../evil")
    if os.geteuid() != 0:
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            with pytest.raises(ValueError, match="(not writable|cannot create)"):
                ensure_manifest(locked / "store", manifest())
        finally:
            locked.chmod(stat.S_IRWXU)


def test_reader_sees_new_chunks_after_refresh(tmp_path):
    ensure_manifest(tmp_path, manifest())
    store = CutoutStore(tmp_path)
    assert len(store) == 0 and store.read([]).shape == (0, *SHAPE)
    with StoreWriter(tmp_path) as w:
        w.add(0, "a", 0, 0, ok(0))
    store.refresh()
    assert len(store) == 1
