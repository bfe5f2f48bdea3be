"""hips, skyview and sdss: the real astroquery client code against loopback servers of each protocol."""

import numpy as np
import pytest
from _survey_servers import FAST, hips_server, sdss_field_of, sdss_server, skyview_server
from astropy.table import Table

import galzoo_fm
from galzoo_fm._utils.http import HTTPFailure
from galzoo_fm.cutout import Status
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.store.reader import CutoutStore


@pytest.fixture
def hips():
    srv = hips_server()
    yield srv
    srv.close()


@pytest.fixture
def skyview():
    srv = skyview_server()
    yield srv
    srv.close()


@pytest.fixture
def sdss():
    srv = sdss_server()
    yield srv
    srv.close()


@pytest.mark.filterwarnings("error::astropy.wcs.FITSFixedWarning")
def test_hips2fits_through_astroquery(hips, tmp_path):
    s = galzoo_fm.get_survey("hips", server=hips.url + "/hips2fits", cache_dir=tmp_path, pixscale=0.5,
                             bands="CDS/P/PanSTARRS/DR1/g,CDS/P/PanSTARRS/DR1/r", **FAST)
    hips.inject(lambda r: True, "500", ("slow", 1.5), "short")
    c = s.fetch(150.0, 2.0, 24)
    assert c.status is Status.OK and c.data.shape == (2, 24, 24)
    first = hips.log[0]
    assert first.q("hips") == "CDS/P/PanSTARRS/DR1/g" and first.q("projection") == "TAN"
    assert float(first.q("fov")) == pytest.approx(24 * 0.5 / 3600)
    assert (first.q("width"), first.q("format")) == ("24", "fits")
    assert "galzoo-fm/" in first.headers["User-Agent"] and "astroquery/" in first.headers["User-Agent"]
    assert s.fetch(150.0, -45.0, 24).status is Status.OFF_FOOTPRINT  # NaN blanks
    bad = galzoo_fm.get_survey("hips", server=hips.url + "/hips2fits", bands="nope/hips", **FAST)
    with pytest.raises(HTTPFailure, match="HTTP 422: HiPS not found: nope/hips is not a known HiPS"):
        bad.fetch(1.0, 1.0, 8)


def test_uncached_astroquery_clients_remove_their_temporary_folders_on_close(skyview):
    import threading

    s = galzoo_fm.get_survey("skyview", server=skyview.url + "/current/cgi/basicform.pl", cache_dir=None,
                             bands="SDSSg", pixscale=1.0, **FAST)
    folders = [s.client().cache_location]
    worker = threading.Thread(target=lambda: folders.append(s.client().cache_location))  # a second thread's client
    worker.start()
    worker.join()
    assert s.fetch(150.0, 2.0, 8).status is Status.OK
    assert len(set(folders)) == 2 and all(f.is_dir() and f.name.startswith("galzoo-astroquery-") for f in folders)
    s.close()
    assert not any(f.exists() for f in folders)


@pytest.mark.filterwarnings("error::astropy.wcs.FITSFixedWarning")
def test_skyview_form_protocol(skyview, tmp_path):
    s = galzoo_fm.get_survey("skyview", server=skyview.url + "/current/cgi/basicform.pl", cache_dir=tmp_path,
                             bands="SDSSg,DSS2 Red", pixscale=1.0, **FAST)
    c = s.fetch(150.0, 2.0, 16)
    assert c.status is Status.OK and c.data.shape == (2, 16, 16)
    run = skyview.requests_for("runquery")[0]
    assert run.query["survey"] == ["SDSSg", "DSS2 Red"] and run.q("pixels") == "16"
    assert c.data[1, 0, 0] > c.data[0, 0, 0]  # band order kept
    n = len(skyview.log)
    s.fetch(150.0, 2.0, 16)  # cached: no new query
    assert len(skyview.log) == n
    assert s.fetch(150.0, -45.0, 16).status is Status.OFF_FOOTPRINT
    with pytest.raises(ValueError, match="not among the surveys hosted"):
        galzoo_fm.get_survey("skyview", server=skyview.url + "/current/cgi/basicform.pl",
                             bands="NoSuchSurvey", **FAST).fetch(1.0, 1.0, 8)


@pytest.mark.filterwarnings("error::astropy.wcs.FITSFixedWarning")  # the frames' RADECSYS, DATE-OBS: quiet
def test_sdss_frames_cut_aligned_and_reused(sdss, tmp_path):
    s = galzoo_fm.get_survey("sdss", server=sdss.url, sas_server=sdss.url + "/sas", cache_dir=tmp_path / "c",
                             bands="gri", **FAST)
    ra = 0.02 * 3 + 0.01  # centre of field 103
    c = s.fetch(ra, 1.0, 16)
    assert c.status is Status.OK and c.data.shape == (3, 16, 16)
    np.testing.assert_allclose(c.data[:, 8, 8], [2.0, 3.0, 4.0], rtol=1e-5)  # bands resampled onto one grid
    assert c.wcs.wcs.crval == pytest.approx([ra, 1.0])
    frames = sdss.requests_for("photoObj/frames")
    assert [f.path.rsplit("/", 1)[1] for f in frames] == [
        f"frame-{b}-000756-3-{sdss_field_of(ra):04d}.fits.bz2" for b in "gri"]
    assert sdss.requests_for("X_Results")[0].method == "POST"
    s.fetch(ra + 0.002, 1.001, 16)  # a neighbour: same frames, none downloaded again
    assert len(sdss.requests_for("photoObj/frames")) == 3
    assert s.fetch(ra, -45.0, 16).status is Status.OFF_FOOTPRINT


@pytest.mark.filterwarnings("error::astropy.wcs.FITSFixedWarning")
def test_sdss_cutout_straddling_two_fields_and_other_pixscale(sdss, tmp_path):
    s = galzoo_fm.get_survey("sdss", server=sdss.url, sas_server=sdss.url + "/sas", cache_dir=tmp_path / "c",
                             bands="gr", **FAST)
    ra = 0.0799  # in field 103; a 32-px cutout here runs ~4 px past the edge of its frame into field 104
    c = s.fetch(ra, 1.0, 32)
    names = {f.path.rsplit("/", 1)[1] for f in sdss.requests_for("photoObj/frames")}
    assert {f"frame-{b}-000756-3-{n:04d}.fits.bz2" for b in "gr" for n in (102, 103, 104)} == names
    assert c.status is Status.OK and c.data.shape == (2, 32, 32)
    np.testing.assert_allclose(c.data[0], 2.0, rtol=1e-5)  # every pixel covered, by one frame or two
    np.testing.assert_allclose(c.data[1], 3.0, rtol=1e-5)
    coarse = galzoo_fm.get_survey("sdss", server=sdss.url, sas_server=sdss.url + "/sas", cache_dir=tmp_path / "c",
                                  bands="gr", pixscale=0.8, **FAST).fetch(0.07, 1.0, 12)
    assert coarse.status is Status.OK and coarse.wcs.wcs.cd[1, 1] * 3600 == pytest.approx(0.8)
    np.testing.assert_allclose(coarse.data[:, 6, 6], [2.0, 3.0], rtol=1e-5)  # exact overlap: still nanomaggies/px


def test_sdss_corrupt_frame_is_retried_and_fetch_catalog(sdss, tmp_path):
    sdss.inject(lambda r: "frame-r" in r.path, "garbage", "truncate")
    cat = Table({"ra": [0.01, 0.013, 0.05], "dec": [1.0, 1.0, -60.0]})
    opts = {"server": sdss.url, "sas_server": sdss.url + "/sas", "bands": "gr", **FAST}
    summary = fetch_catalog(cat, "sdss", size=12, out=tmp_path, survey_options=opts, workers=2)
    assert summary.counts == {"ok": 2, "off_footprint": 1}
    store = CutoutStore(tmp_path)
    assert store.read([0])[0, :, 6, 6] == pytest.approx([2.0, 3.0])
