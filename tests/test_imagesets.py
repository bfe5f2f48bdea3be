"""Reading image sets and writing tables."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from galzoo_fm._utils.writers import write_table
from galzoo_fm.embedding.images import read_image_set


def test_demo_set():
    iset = read_image_set()
    assert iset.images.shape == (24, 3, 64, 64)
    assert iset.bands == ["g", "r", "z"]
    assert len(iset.objects) == 24 and iset.objects["id"][0] == "demo000"
    assert np.isfinite(iset.images).all()
    # galaxies are centred: the central pixels outshine the corners in every band
    centre = iset.images[:, :, 28:36, 28:36].mean(axis=(2, 3))
    corner = iset.images[:, :, :8, :8].mean(axis=(2, 3))
    assert (centre > corner + 0.01).all()


def test_fits_cube_without_objects(tmp_path):
    cube = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="CUBE")]).writeto(tmp_path / "c.fits")
    iset = read_image_set(tmp_path / "c.fits")
    assert np.array_equal(iset.images, cube)
    assert list(iset.objects["id"]) == [0, 1] and iset.bands is None


def test_bad_image_files(tmp_path):
    fits.PrimaryHDU(np.zeros((3, 8, 8), np.float32)).writeto(tmp_path / "three.fits")
    with pytest.raises(ValueError, match=r"no 4-D image HDU.*\('PRIMARY', \(3, 8, 8\)\)"):
        read_image_set(tmp_path / "three.fits")
    np.save(tmp_path / "flat.npy", np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match=r"shape \(4, 8, 8\); expected \(N, C, H, W\)"):
        read_image_set(tmp_path / "flat.npy")
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="expected .npy or .fits"):
        read_image_set(tmp_path / "x.png")
    objects = fits.BinTableHDU(Table({"id": [1, 2, 3]}), name="OBJECTS")
    fits.HDUList([fits.PrimaryHDU(np.zeros((2, 1, 4, 4), np.float32)), objects]).writeto(tmp_path / "m.fits")
    with pytest.raises(ValueError, match="OBJECTS table has 3 rows but there are 2 images"):
        read_image_set(tmp_path / "m.fits")


@pytest.mark.parametrize("ext", [".fits", ".ecsv"])
def test_write_table_round_trip(tmp_path, ext):
    emb = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    table = Table({"id": ["a", "b", "c"], "embedding": emb})
    table.meta["MODEL"] = "m"
    path = write_table(table, tmp_path / f"t{ext}")
    back = Table.read(path)
    assert np.array_equal(np.asarray(back["embedding"]), emb) and back["embedding"].dtype.str[1:] == "f4"
    assert back.meta["MODEL"] == "m"
    assert [p.name for p in tmp_path.iterdir()] == [f"t{ext}"]  # no temporary file left
    with pytest.raises(FileExistsError):
        write_table(table, path)


def test_write_table_failure_leaves_nothing(tmp_path):
    table = Table({"x": [object()]})  # astropy cannot serialise an object column
    with pytest.raises(Exception):  # noqa: B017 - whichever error astropy raises
        write_table(table, tmp_path / "bad.fits")
    assert list(tmp_path.iterdir()) == []
