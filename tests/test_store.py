"""The cutout store: atomic chunks, crash consistency, duplicate resolution, parts read as one store."""

import os
import stat

import numpy as np
import pytest
from astropy.wcs import WCS

from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.store.reader import CutoutStore
from galzoo_fm.store.writer import StoreWriter, ensure_manifest

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


def sip_wcs(ra=150.123456789012, dec=2.2):
    """A TAN-SIP WCS whose distortion moves the corner pixels by a few pixels."""
    from astropy.wcs import Sip

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [4.5, 4.5]
    w.wcs.cd = [[-7.2e-5, 1e-7], [2e-7, 7.2e-5]]
    a, b = np.zeros((4, 4)), np.zeros((4, 4))
    a[2, 0], a[0, 2], a[1, 1], b[1, 1], b[0, 2], b[3, 0] = 1e-2, 3e-3, -2e-3, 2e-2, 1e-3, 1e-4
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    return w


def test_sip_wcs_round_trips_through_the_store(tmp_path):
    ensure_manifest(tmp_path, manifest())
    original = sip_wcs()
    with StoreWriter(tmp_path) as w:
        w.add(0, "sip", 150.1, 2.2, Cutout(Status.OK, np.ones(SHAPE, np.float32), original))
        w.add(1, "lin", 4.0, 1.0, ok(4))
        w.add(2, "off", 0, 0, Cutout(Status.OFF_FOOTPRINT, reason="x"))
    store = CutoutStore(tmp_path)
    pix = np.stack(np.meshgrid(np.arange(SHAPE[2]), np.arange(SHAPE[1])), -1).reshape(-1, 2).astype(float)
    got = store.wcs(0)
    assert got.sip is not None
    assert np.abs(got.all_pix2world(pix, 0) - original.all_pix2world(pix, 0)).max() < 1e-9
    linear = original.deepcopy()
    linear.sip = None  # the distortion is far above the tolerance: the test would see it dropped
    assert np.abs(linear.all_pix2world(pix, 0) - original.all_pix2world(pix, 0)).max() > 1e-6
    assert store.wcs(1).wcs.crval[0] == 4 and store.wcs(1).sip is None and store.wcs(2) is None
    assert store.table["ctype"][0] == "RA---TAN-SIP,DEC--TAN-SIP"  # the linear columns are still written


def write_old_format_chunk(root, rows):
    """A chunk as stores before the ``wcs_header`` column wrote it (same columns, same dtypes)."""
    part = root / "parts" / "main"
    part.mkdir(parents=True)
    np.save(part / "chunk-000000.npy", np.stack([np.full(SHAPE, r, np.float32) for r in rows]))
    n = len(rows)
    np.savez(part / "chunk-000000.rows.npz", row=np.array(rows, np.int64), id=np.array([f"id{r}" for r in rows]),
             ra=np.array(rows, float), dec=np.ones(n), status=np.array(["ok"] * n), reason=np.array([""] * n),
             slot=np.arange(n, dtype=np.int32), crval=np.array([[r, 1.0] for r in rows], float),
             crpix=np.full((n, 2), 4.5), cd=np.tile([[-1e-4, 0], [0, 1e-4]], (n, 1, 1)),
             ctype=np.array(["RA---TAN,DEC--TAN"] * n), time=np.zeros(n))


def test_old_format_store_reads_as_before_and_takes_new_chunks(tmp_path):
    from galzoo_fm.store.index import StoreIndex

    ensure_manifest(tmp_path, manifest())
    write_old_format_chunk(tmp_path, [0, 1, 2])
    store = CutoutStore(tmp_path)
    assert store.table.colnames == ["row", "id", "ra", "dec", "status", "reason", "crval", "crpix", "cd", "ctype"]
    assert store.read([2])[0, 0, 0, 0] == 2 and store.wcs(1).wcs.crval.tolist() == [1.0, 1.0]
    pix = np.array([[0.0, 0.0], [7.0, 7.0]])
    assert np.allclose(store.wcs(2).all_pix2world(pix, 0), ok(2).wcs.all_pix2world(pix, 0), rtol=0, atol=1e-12)
    with StoreWriter(tmp_path) as w:  # resumed by this version: old and new chunks side by side
        w.add(3, "id3", 3.0, 1.0, Cutout(Status.OK, np.full(SHAPE, 3, np.float32), sip_wcs(ra=3.0, dec=1.0)))
    store = CutoutStore(tmp_path)
    assert store.table["row"].tolist() == [0, 1, 2, 3] and store.wcs(0).sip is None and store.wcs(3).sip is not None
    assert StoreIndex(tmp_path, 4).take(np.arange(4))[:, 0, 0, 0].tolist() == [0, 1, 2, 3]


def test_one_record_rule_is_the_same_in_one_pass_and_chunk_by_chunk():
    from galzoo_fm.store.layout import winning_records

    rng = np.random.default_rng(1)
    rows = rng.integers(0, 20, 300)
    status = rng.choice(["ok", "failed", "partial"], 300)
    once = winning_records(rows, status)
    assert rows[once].tolist() == sorted(set(rows.tolist()))
    for r, i in zip(rows[once], once, strict=True):  # a final record beats failed, a later one an earlier one
        mine = np.flatnonzero(rows == r)
        finals = mine[status[mine] != "failed"]
        assert i == (finals[-1] if len(finals) else mine[-1])
    held = {}  # chunk by chunk, as StoreIndex applies them
    for start in range(0, 300, 37):
        sl = slice(start, start + 37)
        held_final = np.array([r in held and status[held[r]] != "failed" for r in rows[sl]], bool)
        for i in winning_records(rows[sl], status[sl], held_final):
            held[int(rows[sl][i])] = start + int(i)
    assert [held[int(r)] for r in rows[once]] == once.tolist()


def _pixels_and_records(root):
    from galzoo_fm.store.layout import chunk_files

    out = []
    for rows_file in chunk_files(root):
        with np.load(rows_file) as z:
            out.append((rows_file.name, z["row"].tolist(), z["status"].tolist()))
        out.append(np.load(str(rows_file)[: -len(".rows.npz")] + ".npy").tolist())
    return out


def test_background_writer_commits_what_the_synchronous_one_does(tmp_path):
    """``background=True`` writes the chunks in a thread: the same files, in the same order, the commit hook
    called once per chunk with its rows, in order; a commit's error is raised by the writer's next call."""
    committed = []
    for name, background in (("sync", False), ("thread", True)):
        ensure_manifest(tmp_path / name, manifest())
        with StoreWriter(tmp_path / name, chunk_size=3, background=background,
                         on_commit=lambda rows, name=name: committed.append((name, rows.tolist()))) as w:
            for row in range(10):
                w.add(row, f"id{row}", row, 1.0, ok(row) if row != 4 else Cutout.failed("x"))
    assert _pixels_and_records(tmp_path / "sync") == _pixels_and_records(tmp_path / "thread")
    chunks = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [rows for who, rows in committed if who == "thread"] == chunks
    assert [rows for who, rows in committed if who == "sync"] == chunks

    ensure_manifest(tmp_path / "broken", manifest())
    w = StoreWriter(tmp_path / "broken", chunk_size=2, background=True,
                    on_commit=lambda rows: (_ for _ in ()).throw(OSError("disk full")))
    w.add(0, "a", 0, 1.0, ok(0))
    w.add(1, "b", 1, 1.0, ok(1))  # the first chunk goes to the thread, whose commit hook fails
    with pytest.raises(OSError, match="disk full"):
        for row in range(2, 40):
            w.add(row, f"id{row}", row, 1.0, ok(row))
    w.close()  # the lock is released: the part can be opened again
    StoreWriter(tmp_path / "broken").close()
