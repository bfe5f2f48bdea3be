"""The tile index, layouts and bounded open files of the local survey, on small synthetic tiles."""

import os
import threading
import warnings

import numpy as np
import pytest
from _survey_servers import tan_header
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.table import Table
from astropy.wcs import WCS

from galzoo_fm.cutout import Status
from galzoo_fm.surveys.layouts import pattern_regex
from galzoo_fm.surveys.local import LocalSurvey
from galzoo_fm.surveys.tiles import tan_pix2world, tan_world2pix

N, SCALE = 64, 1.0
STEP = (N - 8) * SCALE / 3600  # neighbours overlap by 8 px


def grid(folder, nx=4, ny=3, band="r", name="t{i}_{j}.fits"):
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i in range(nx):
        for j in range(ny):
            h = tan_header(30 + i * STEP, 5 + j * STEP, N, N, SCALE)
            h["BAND"] = band
            data = np.random.default_rng(100 * i + j).normal(10, 1, (N, N)).astype(np.float32)
            p = folder / name.format(i=i, j=j, band=band)
            p.parent.mkdir(parents=True, exist_ok=True)
            fits.PrimaryHDU(data, h).writeto(p)
            paths[i, j] = p
    return paths


def reference(path, ra, dec, size, hdu=0):
    with fits.open(path) as hdul:
        h = hdul[hdu]
        return Cutout2D(h.data, SkyCoord(ra, dec, unit="deg"), size, wcs=WCS(h.header), mode="partial").data


def test_tan_formulas_match_astropy():
    h = tan_header(200.0, -40.0, 100, 80, 0.3, rot=17)
    w = WCS(h)
    rng = np.random.default_rng(0)
    px, py = rng.uniform(-50, 150, 50), rng.uniform(-50, 130, 50)
    ra, dec = w.all_pix2world(px, py, 0)
    one = {k: np.repeat(np.asarray(v, float)[None], 50, axis=0) for k, v in
           (("crval", w.wcs.crval), ("crpix", w.wcs.crpix), ("cd", w.pixel_scale_matrix))}
    x, y = tan_world2pix(ra, dec, one["crval"], one["crpix"], one["cd"])
    np.testing.assert_allclose(x, px, atol=1e-7)
    np.testing.assert_allclose(y, py, atol=1e-7)
    r2, d2 = tan_pix2world(px, py, one["crval"], one["crpix"], one["cd"])
    np.testing.assert_allclose(r2, ra, atol=1e-10)
    np.testing.assert_allclose(d2, dec, atol=1e-10)


def test_index_cutouts_equal_cutout2d_of_best_tile_and_off_footprint(tmp_path):
    paths = grid(tmp_path / "g")
    s = LocalSurvey(path=str(tmp_path / "g"), max_open=2)
    assert len(s.index) == 12 and s.bands == ("r",) and s.pixscale == SCALE
    rng = np.random.default_rng(1)
    ra = rng.uniform(30, 30 + 3 * STEP, 300)
    dec = rng.uniform(5, 5 + 2 * STEP, 300)
    cuts = s.fetch_batch(np.r_[ra, 31.0], np.r_[dec, 5.0], 16)
    assert cuts[-1].status is Status.OFF_FOOTPRINT
    assert s.open_files <= 2 and s.files_opened >= 12  # every tile was read, at most 2 open at a time
    for r, d, c in zip(ra[:60], dec[:60], cuts[:60], strict=True):
        # the best tile is the one whose centre is nearest in pixels (equal tiles on one grid)
        i, j = round((r - 30) / STEP), round((d - 5) / STEP)
        ref = reference(paths[i, j], r, d, 16)
        np.testing.assert_array_equal(c.data[0], np.nan_to_num(ref))  # straddling tiles: zero-filled, partial
        assert c.status is (Status.OK if np.isfinite(ref).all() else Status.PARTIAL)
        assert c.wcs.world_to_pixel(SkyCoord(r, d, unit="deg"))[0] == pytest.approx(7.5, abs=0.51)


def test_index_cached_reused_and_stale_files_reread(tmp_path):
    paths = grid(tmp_path / "g")
    s = LocalSurvey(path=str(tmp_path / "g"))
    assert len(s.index.stale) == 12 and s.index_path.is_file() and s.index_path.parent == tmp_path / "g"
    again = LocalSurvey(path=str(tmp_path / "g"))
    assert again.index.stale == [] and again.index.fresh == 12
    # the footprints come back from the index file as they were computed (none computed again)
    for k in ("corners", "centre", "radius", "scale"):
        np.testing.assert_array_equal(getattr(again.index, k), getattr(s.index, k))
    with np.load(s.index_path) as z:
        assert z["tile_centre"].shape == (12, 3)
    np.testing.assert_array_equal(again.fetch(30.001, 5.001, 8).data, s.fetch(30.001, 5.001, 8).data)
    # one file rewritten on another grid (shifted by 10 px), one removed, one added
    h = tan_header(30 + 10 / 3600, 5, N, N, SCALE)
    h["BAND"] = "r"
    fits.PrimaryHDU(np.ones((N, N), np.float32), h).writeto(paths[0, 0], overwrite=True)
    os.utime(paths[0, 0], ns=(1, 10**18))
    paths[3, 2].unlink()
    fits.PrimaryHDU(np.full((N, N), 2, np.float32), tan_header(40, 5, N, N, SCALE)).writeto(tmp_path / "g" / "new.fits")
    third = LocalSurvey(path=str(tmp_path / "g"), bands="r")
    assert sorted(third.index.stale) == sorted([str(paths[0, 0]), str(tmp_path / "g" / "new.fits")])
    assert len(third.index) == 12 and set(third.all_bands) == {"r", "new"}
    c = third.fetch(30 + 10 / 3600, 5, 8)
    np.testing.assert_array_equal(c.data, 1)
    assert third.fetch(30 + 3 * STEP, 5 + 2 * STEP, 8).status is Status.OFF_FOOTPRINT
    none = LocalSurvey(path=str(tmp_path / "g"), index="none")
    assert len(none.index.stale) == 12


def test_bad_files_skipped_and_listed_scales_refused(tmp_path):
    grid(tmp_path / "g", 2, 1)
    (tmp_path / "g" / "broken.fits").write_bytes(b"not a fits file at all")
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "g" / "nowcs.fits")
    with pytest.warns(UserWarning, match=r"skipped 2 of 4 local survey files: .*broken.fits \(unreadable"):
        s = LocalSurvey(path=str(tmp_path / "g"))
    assert len(s.index) == 2 and set(s.skipped) == {str(tmp_path / "g" / n) for n in ("broken.fits", "nowcs.fits")}
    with pytest.warns(UserWarning, match="skipped 2"):  # the cached index remembers them
        LocalSurvey(path=str(tmp_path / "g"))
    fits.PrimaryHDU(np.ones((N, N), np.float32), tan_header(50, 0, N, N, 0.5)).writeto(tmp_path / "g" / "fine.fits")
    with pytest.raises(ValueError, match=r'different pixel scales.*0.5"/px: 1 tiles \(.*fine.fits\); 1"/px: 2 tiles'), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LocalSurvey(path=str(tmp_path / "g"))


def test_pattern_layout_bands_from_names(tmp_path):
    g = grid(tmp_path / "p", 2, 1, band="x", name="{i}{j}/img_g.fits")
    grid(tmp_path / "p", 2, 1, band="x", name="{i}{j}/img_r.fits")
    s = LocalSurvey(path=str(tmp_path / "p"), layout="*/img_{band}.fits", bands="r,g")
    assert len(s.index) == 2 and s.bands == ("r", "g")  # one grid per folder: two-band tiles
    c = s.fetch(30, 5, 10)
    np.testing.assert_array_equal(c.data[1], reference(g[0, 0], 30, 5, 10))
    assert pattern_regex("coadd/**/x-{band}.fits").match("coadd/a/b/x-g.fits")["band"] == "g"
    with pytest.raises(ValueError, match=r"option layout='\*.fits' must be 'files', 'legacy' or a pattern"):
        LocalSurvey(path=str(tmp_path / "p"), layout="*.fits")
    with pytest.raises(ValueError, match="match the layout"):
        LocalSurvey(path=str(tmp_path / "p"), layout="*/none_{band}.fits")


def legacy_tree(root, bricks):
    """A Legacy-Surveys-like tree of fpack-compressed bricks and its bricks table."""
    rows = []
    for k, (name, ra, dec) in enumerate(bricks):
        for band in "gr":
            h = tan_header(ra, dec, N, N, SCALE)
            data = np.random.default_rng(k * 10 + ord(band)).normal(5, 1, (N, N)).astype(np.float32)
            p = root / "coadd" / name[:3] / name / f"legacysurvey-{name}-image-{band}.fits.fz"
            p.parent.mkdir(parents=True, exist_ok=True)
            fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, h, compression_type="RICE_1",
                                                               quantize_level=0, tile_shape=(16, 16))]).writeto(p)
        rows.append((name, ra, dec, ra - STEP / 2, ra + STEP / 2, dec - STEP / 2, dec + STEP / 2))
    Table(rows=rows, names=["BRICKNAME", "RA", "DEC", "RA1", "RA2", "DEC1", "DEC2"]).write(
        root / "survey-bricks.fits.gz")
    return root


def test_legacy_layout_with_bricks_table_opens_one_file_and_cuts_by_section(tmp_path, monkeypatch):
    bricks = [("0300p050", 30.0, 5.0), ("0300p051", 30.0, 5 + STEP), ("0301p050", 30 + STEP, 5.0)]
    root = legacy_tree(tmp_path / "ls", bricks)
    import galzoo_fm.surveys.tiles as tiles

    opened = []
    real = tiles.read_planes
    monkeypatch.setattr(tiles, "read_planes", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    s = LocalSurvey(path=str(root), layout="legacy", bands="g,r")
    assert len(s.index) == 3 and opened == []  # the footprints came from the table and one template file
    assert s.open_files == 0
    p = root / "coadd/030/0301p050/legacysurvey-0301p050-image-r.fits.fz"
    c = s.fetch(30 + STEP + 0.002, 5.001, 12)
    assert c.status is Status.OK and s.open_files == 2  # only that brick's g and r files
    np.testing.assert_array_equal(c.data[1], reference(p, 30 + STEP + 0.002, 5.001, 12, hdu=1))
    edge = s.fetch(30 + STEP / 2 + 1 / 3600, 5.0, 6)  # in the overlap of two bricks: from the eastern one, whole
    assert edge.status is Status.OK
    off = s.fetch(30.0 - 28 / 3600, 5.0, 12)  # half off the westmost brick: flagged, not stitched
    assert off.status is Status.PARTIAL and "covered" in off.reason


def test_threads_share_the_lru(tmp_path):
    grid(tmp_path / "g")
    s = LocalSurvey(path=str(tmp_path / "g"), max_open=1)
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(30, 30 + 3 * STEP, 200), rng.uniform(5, 5 + 2 * STEP, 200)
    want = [c.data for c in s.fetch_batch(ra, dec, 8)]
    got, errors = {}, []

    def work(k):
        try:
            got[k] = [c.data for c in s.fetch_batch(ra[k::4], dec[k::4], 8)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        for a, b in zip(got[k], want[k::4], strict=True):
            np.testing.assert_array_equal(a, b)
    s.close()
    assert s.open_files == 0
