"""The legacy adapter end to end against a loopback fits-cutout server, with fault injection."""

import warnings

import numpy as np
import pytest
from _survey_servers import FAST, legacy_server
from astropy.table import Table
from astropy.wcs import FITSFixedWarning

import galzoo_fm
from galzoo_fm._utils.http import validate_fits
from galzoo_fm.cutout import Status
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.store.reader import CutoutStore


@pytest.fixture
def server():
    srv = legacy_server()
    yield srv
    srv.close()


def legacy(srv, **kw):
    return galzoo_fm.get_survey("legacy", server=srv.url + "/viewer/fits-cutout", **FAST, **kw)


def test_registered_with_facts():
    assert "legacy" in galzoo_fm.list_surveys()
    from galzoo_fm.surveys import survey_info

    info = survey_info("legacy")
    assert info["max_size"] == 512 and "hsc-dr3" in info["layers"] and info["pixscale"] == 0.262


def test_options_are_validated(server):
    with pytest.raises(ValueError, match="unknown legacy layer 'dr42'; available: ls-dr10, ls-dr9"):
        legacy(server, layer="dr42")
    with pytest.raises(ValueError, match="unknown ls-dr9 band 'i'; available: g, r, z"):
        legacy(server, layer="ls-dr9", bands="gri")
    with pytest.raises(ValueError, match="pixscale='x' is not a number"):
        legacy(server, pixscale="x")
    with pytest.raises(ValueError, match="exceeds the legacy service limit of 512 px"):
        legacy(server).fetch(10, 5, 600)


def test_protocol_band_order_wcs_and_invvar(server):
    s = legacy(server, layer="hsc-dr3", bands="zg", invvar="true")
    assert s.pixscale == 0.168
    c = s.fetch(150.1, 2.2, 16)
    q = server.log[-1]
    assert (q.q("layer"), q.q("bands"), q.q("pixscale"), q.q("size")) == ("hsc-dr3", "zg", "0.168", "16")
    assert "invvar" in q.query
    assert c.status is Status.OK and c.data.shape == (2, 16, 16) and c.data.dtype == np.float32
    assert c.data[0, 0, 0] == pytest.approx(1 + 3, abs=0.05) and c.data[1, 0, 0] == pytest.approx(1, abs=0.05)
    assert c.wcs.wcs.crval == pytest.approx([150.1, 2.2])
    assert c.extras["invvar"].shape == (2, 16, 16)


def test_off_footprint_and_partial(server):
    s = legacy(server)
    assert s.fetch(10, -45, 16).status is Status.OFF_FOOTPRINT
    c = s.fetch(10, -29.5, 16)
    assert c.status is Status.PARTIAL and "50%" in c.reason


def test_catalogue_with_faults_ends_with_right_statuses(server, tmp_path):
    ras = np.arange(12) + 10.0
    decs = np.full(12, 5.0)
    decs[[9, 10, 11]] = [-45.0, -29.5, np.nan]
    cat = Table({"id": [f"g{i}" for i in range(12)], "ra": ras, "dec": decs})
    at = {float(r): i for i, r in enumerate(ras)}

    def row(i):
        return lambda r: r.q("ra") is not None and at.get(round(float(r.q("ra")), 6)) == i

    server.inject(row(1), "500", "503")
    server.inject(row(2), ("429", 1))
    server.inject(row(3), ("slow", 1.5))
    server.inject(row(4), "truncate")
    server.inject(row(5), "garbage", "html")
    server.inject(row(6), "short")
    server.inject(row(7), *["500"] * 4)  # never recovers within 3 retries
    server.inject(row(8), *["garbage"] * 4)
    opts = {"server": server.url + "/viewer/fits-cutout", "bands": "grz", **FAST}
    summary = fetch_catalog(cat, "legacy", size=16, out=tmp_path, survey_options=opts, workers=4)
    store = CutoutStore(tmp_path)
    expect = ["ok"] * 7 + ["failed", "failed", "off_footprint", "partial", "invalid"]
    assert store.status.tolist() == expect
    assert store.table["id"].tolist() == [f"g{i}" for i in range(12)]
    assert "HTTP" in store.table["reason"][7] or "500" in store.table["reason"][7]
    assert "not FITS" in store.table["reason"][8]
    assert summary.counts == {"ok": 7, "failed": 2, "off_footprint": 1, "partial": 1, "invalid": 1}
    for i in range(7):  # the right pixels went to the right row
        assert store.wcs(i).wcs.crval == pytest.approx([ras[i], 5.0])
    for path in (tmp_path / "cache").rglob("*.fits"):  # nothing corrupt was cached
        validate_fits(path.read_bytes())
    # a rerun fetches only the failed rows (which now succeed) and nothing else
    server.log.clear()
    summary = fetch_catalog(cat, "legacy", size=16, out=tmp_path, survey_options=opts, workers=4)
    assert summary.skipped == 10 and summary.counts == {"ok": 2}
    assert sorted(at[round(float(r.q("ra")), 6)] for r in server.log) == [7, 8]
    assert CutoutStore(tmp_path).counts() == {"ok": 9, "off_footprint": 1, "partial": 1, "invalid": 1}


def test_server_from_environment(server, monkeypatch):
    monkeypatch.setenv("GALZOO_FM_LEGACY_URL", server.url + "/viewer/fits-cutout")
    s = galzoo_fm.get_survey("legacy", **FAST)
    assert s.provenance()["server"] == server.url + "/viewer/fits-cutout"
    assert s.fetch(10.0, 5.0, 8).status is Status.OK and len(server.log) == 1


def test_no_fitsfixedwarning_per_cutout(server, tmp_path):
    """The viewer's cube has a CD matrix for its sky axes only: astropy's cdfix used to warn for each cutout."""
    s = legacy(server, bands="grz")
    cat = Table({"ra": 150.0 + np.arange(8) * 0.01, "dec": np.full(8, 2.0)})
    opts = {"server": server.url + "/viewer/fits-cutout", "bands": "grz", **FAST}
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = s.fetch(150.1, 2.2, 16)
        summary = fetch_catalog(cat, "legacy", size=16, out=tmp_path, survey_options=opts, workers=4)
    assert [str(w.message) for w in caught if issubclass(w.category, FITSFixedWarning)] == []
    assert warnings.filters == filters  # nothing silenced for the rest of the program
    assert c.status is Status.OK and c.wcs.naxis == 2 and c.wcs.pixel_shape == (16, 16)
    assert c.wcs.wcs.crval == pytest.approx([150.1, 2.2])
    assert c.wcs.proj_plane_pixel_scales()[0].to_value("arcsec") == pytest.approx(0.262)
    assert summary.counts == {"ok": 8}
