"""The local adapter on synthetic FITS layouts, checked against astropy's Cutout2D."""


import numpy as np
import pytest
from _survey_servers import tan_header
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

import galzoo_fm
from galzoo_fm.cutout import Status
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.store.reader import CutoutStore

N = 200


def image(seed):
    return np.random.default_rng(seed).normal(10, 1, (N, N)).astype(np.float32)


@pytest.fixture
def tiles(tmp_path):
    """Two neighbouring tiles: a g/r cube at RA 10 and a g/r multi-extension file at RA 10.05."""
    h1 = tan_header(10.0, 0.0, N, N, 0.5)
    h1["BAND0"], h1["BAND1"] = "g", "r"
    fits.PrimaryHDU(np.stack([image(1), image(2)]), h1).writeto(tmp_path / "cube.fits")
    h2 = tan_header(10.05, 0.0, N, N, 0.5)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image(3), h2, name="R"),
                  fits.ImageHDU(image(4), h2, name="G")]).writeto(tmp_path / "mef.fits")
    h2b = h2.copy()
    h2b["FILTER"] = "z"
    fits.PrimaryHDU(image(5), h2b).writeto(tmp_path / "mef_z.fits")  # a per-band file on the same grid
    return tmp_path


def test_layouts_bands_and_tile_choice(tiles):
    s = galzoo_fm.get_survey("local", path=str(tiles), bands="g,r")
    assert s.bands == ("g", "r") and s.pixscale == 0.5 and set(s.all_bands) == {"g", "r", "z"}
    assert len(s.tiles) == 2  # mef.fits and mef_z.fits share a pixel grid: one tile with g, r, z
    with pytest.raises(ValueError, match="unknown local band 'u'"):
        galzoo_fm.get_survey("local", path=str(tiles / "cube.fits"), bands="u")


def test_matches_cutout2d(tiles):
    s = galzoo_fm.get_survey("local", path=f"{tiles / 'cube.fits'},{tiles / 'mef.fits'}", bands="g")
    ra = np.array([10.0, 10.004, 10.05, 10.047])
    dec = np.array([0.0, -0.003, 0.002, 0.0])
    cuts = s.fetch_batch(ra, dec, 15)
    files = [tiles / "cube.fits", tiles / "cube.fits", tiles / "mef.fits", tiles / "mef.fits"]
    for c, f, r, d in zip(cuts, files, ra, dec, strict=True):
        assert c.status is Status.OK
        with fits.open(f) as hdul:
            hdu = hdul[0] if "cube" in f.name else hdul["G"]
            plane = hdu.data[0] if hdu.data.ndim == 3 else hdu.data
            ref = Cutout2D(plane, SkyCoord(r, d, unit="deg"), 15, wcs=WCS(hdu.header).celestial, mode="partial")
        np.testing.assert_array_equal(c.data[0], ref.data)
        assert c.wcs.world_to_pixel(SkyCoord(r, d, unit="deg"))[0] == pytest.approx(7, abs=0.5)


def test_edges_off_footprint_and_missing_band(tiles):
    s = galzoo_fm.get_survey("local", path=str(tiles / "mef*.fits"), bands="g,r,z")
    edge = s.fetch(10.05 + 0.0135, 0.0, 20)  # near the east edge: part of the cutout is off the image
    assert edge.status is Status.PARTIAL and "covered" in edge.reason
    assert s.fetch(20.0, 0.0, 20).status is Status.OFF_FOOTPRINT
    cube_only = galzoo_fm.get_survey("local", path=[tiles / "cube.fits", tiles / "mef_z.fits"], bands="g,z")
    c = cube_only.fetch(10.0, 0.0, 10)
    assert c.status is Status.PARTIAL and "z" in c.reason and not c.data[1].any()


def test_batch_converts_per_tile_not_per_position(tiles, monkeypatch):
    """A batch of 2000 positions is converted to pixels in a few vectorised calls (one for all TAN tiles, one
    per other tile), not one per position; its cutouts equal single fetches. (Speed itself is measured by
    benchmarks/local_throughput.py, not here.)"""
    from astropy.wcs import WCS

    from galzoo_fm.surveys import tiles as tiles_module

    s = galzoo_fm.get_survey("local", path=str(tiles), bands="g,r")
    calls = []
    tan, wcs = tiles_module.tan_world2pix, WCS.all_world2pix
    monkeypatch.setattr(tiles_module, "tan_world2pix", lambda *a, **k: calls.append("tan") or tan(*a, **k))
    monkeypatch.setattr(WCS, "all_world2pix", lambda self, *a, **k: calls.append("wcs") or wcs(self, *a, **k))
    rng = np.random.default_rng(0)
    ra, dec = rng.uniform(9.99, 10.06, 2000), rng.uniform(-0.01, 0.01, 2000)
    cuts = s.fetch_batch(ra, dec, 16)
    assert 1 <= len(calls) <= len(s.index) + 1, calls
    assert sum(c.status is Status.OK for c in cuts) > 1000  # the tiles leave a gap in RA
    for i in rng.choice(2000, 5, replace=False):
        one = s.fetch(ra[i], dec[i], 16)
        assert one.status is cuts[i].status
        if one.data is not None:
            np.testing.assert_array_equal(one.data, cuts[i].data)


def test_fetch_catalog_with_local(tiles, tmp_path):
    from astropy.table import Table

    cat = Table({"ra": [10.0, 10.05, 30.0, np.nan], "dec": [0.0, 0.0, 0.0, 0.0]})
    summary = fetch_catalog(cat, "local", size=16, out=tmp_path / "store",
                            survey_options={"path": str(tiles / "cube.fits") + "," + str(tiles / "mef.fits")})
    assert summary.counts == {"ok": 2, "off_footprint": 1, "invalid": 1}
    store = CutoutStore(tmp_path / "store")
    assert store.bands == ("g", "r") and store.read([0, 1]).shape == (2, 2, 16, 16)


def test_bad_paths(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        galzoo_fm.get_survey("local", path=str(tmp_path / "none.fits"))
    with pytest.raises(ValueError, match="needs path="):
        galzoo_fm.get_survey("local")
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "nowcs.fits")
    with pytest.raises(ValueError, match="no 2-D image or cube with a celestial WCS"):
        galzoo_fm.get_survey("local", path=str(tmp_path / "nowcs.fits"))
