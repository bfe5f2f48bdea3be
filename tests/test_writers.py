"""StreamingWriter: a table written block by block reads back as the whole table written by astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.table import MaskedColumn, Table, vstack

from galzoo_fm._utils.writers import StreamingWriter


def _block(start: int, n: int, *, masked: bool) -> Table:
    rng = np.random.default_rng(start)
    t = Table(meta={"MODEL": "m", "NFEAT": 5})
    t["id"] = np.arange(start, start + n)
    t["ra"] = rng.uniform(0, 360, n) * u.deg
    t["embedding"] = rng.normal(size=(n, 5)).astype(np.float32)
    t["embedding"][0] = np.nan  # a row without a vector
    t["status"] = np.array(["ok", "off_footprint"] * (n // 2) + ["ok"] * (n % 2), dtype="<U13")
    t["flags"] = np.arange(n, dtype=np.int32)
    if masked:  # the first block has no masked value, the others do (also in their first row)
        t["mag"] = MaskedColumn(rng.normal(20, 1, n), mask=(np.arange(n) % 3 == 0) & (start > 0))
    return t


@pytest.mark.parametrize("ext", [".parquet", ".fits", ".ecsv", ".h5"])
@pytest.mark.parametrize("masked", [False, True])
def test_blocks_read_back_as_one_table(tmp_path, ext, masked):
    if ext == ".parquet":
        pytest.importorskip("pyarrow")
    if ext == ".h5":
        pytest.importorskip("h5py")
    if masked and ext in (".fits", ".h5"):
        pytest.skip("masked columns are written as astropy does for this format; covered by parquet/ecsv")
    blocks = [_block(0, 7, masked=masked), _block(7, 4, masked=masked), _block(11, 9, masked=masked)]
    writer = StreamingWriter(tmp_path / f"out{ext}", 20)
    for b in blocks:
        writer.write(b)
    path = writer.close()
    back = Table.read(path)
    whole = vstack(blocks, metadata_conflicts="silent")
    assert back.colnames == whole.colnames and len(back) == 20
    emb = np.ma.filled(back["embedding"], np.nan)  # FITS reads NaN back as masked
    np.testing.assert_array_equal(emb, np.asarray(whole["embedding"]))
    assert emb.dtype.kind == "f" and emb.dtype.itemsize == 4 and emb.shape == (20, 5)
    assert back["status"].tolist() == whole["status"].tolist() and back["id"].tolist() == list(range(20))
    np.testing.assert_array_equal(np.asarray(back["ra"]), np.asarray(whole["ra"]))
    assert back["ra"].unit == u.deg and back.meta["MODEL"] == "m"
    if masked:
        assert back["mag"].mask.tolist() == whole["mag"].mask.tolist()
        np.testing.assert_array_equal(back["mag"].filled(0), whole["mag"].filled(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{ext}"]  # no temporary files left


def test_row_count_is_checked(tmp_path):
    writer = StreamingWriter(tmp_path / "out.parquet", 5)
    with pytest.raises(ValueError, match="more than the announced 5"):
        writer.write(_block(0, 7, masked=False))
    writer.write(_block(0, 3, masked=False))
    with pytest.raises(ValueError, match="only 3 of 5 rows"):
        writer.close()
    assert not (tmp_path / "out.parquet").exists()


def test_the_one_atomic_writer_leaves_the_old_file_or_the_new_one(tmp_path):
    from galzoo_fm._utils.atomic import atomic_folder, atomic_path, atomic_write, write_json_once

    target = tmp_path / "a.bin"
    atomic_write(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert write_json_once(tmp_path / "run.json", {"b": 1, "a": 2}, sort_keys=True)
    assert not write_json_once(tmp_path / "run.json", {"other": 1})  # the first writer wins
    assert (tmp_path / "run.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    folder = tmp_path / "step"
    with atomic_folder(folder) as tmp:
        (tmp / "x").write_text("1")
    with pytest.raises(RuntimeError), atomic_folder(folder) as tmp:
        (tmp / "x").write_text("2")
        raise RuntimeError("killed")
    with atomic_folder(folder) as tmp:
        (tmp / "y").write_text("3")
    assert sorted(p.name for p in folder.iterdir()) == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "run.json", "step"]  # no temporaries left
