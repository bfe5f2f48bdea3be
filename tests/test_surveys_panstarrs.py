"""The panstarrs adapter against loopback ps1filenames.py + fitscut.cgi."""

import numpy as np
import pytest
from _survey_servers import FAST, ps1_server

import galzoo_fm
from galzoo_fm.cutout import Status


@pytest.fixture
def server():
    srv = ps1_server()
    yield srv
    srv.close()


def ps1(srv, tmp_path, **kw):
    return galzoo_fm.get_survey("panstarrs", server=srv.url + "/cgi-bin/", cache_dir=tmp_path, **FAST, **kw)


def test_two_step_protocol_and_stacking(server, tmp_path):
    s = ps1(server, tmp_path, bands="gz")
    c = s.fetch(150.0, 2.0, 20)
    names = server.requests_for("ps1filenames")[0]
    assert names.q("filters") == "gz" and names.q("ra") == "150.00000000"
    cuts = server.requests_for("fitscut")
    assert [r.q("red").split(".stk.")[1][0] for r in cuts] == ["g", "z"]
    assert {r.q("size") for r in cuts} == {"20"} and {r.q("format") for r in cuts} == {"fits"}
    assert c.status is Status.OK and c.data.shape == (2, 20, 20)
    # divided by EXPTIME (10 s in g, 20 s in z): both bands land on the same zero point
    np.testing.assert_allclose(c.data[0], c.data[1], rtol=1e-6)
    assert c.wcs.wcs.crval == pytest.approx([150.0, 2.0])
    n = len(server.log)
    s.fetch(150.0, 2.0, 20)  # served from the cache
    assert len(server.log) == n


def test_footprint_faults_and_validation(server, tmp_path):
    s = ps1(server, tmp_path)
    assert s.fetch(10.0, -50.0, 16).status is Status.OFF_FOOTPRINT
    assert s.fetch(10.0, -29.5, 16).status is Status.PARTIAL
    server.inject(lambda r: "fitscut" in r.path and "stk.r" in r.q("red"), "garbage", ("429", 0))
    server.inject(lambda r: "ps1filenames" in r.path, "html")
    assert s.fetch(11.0, 3.0, 16).status is Status.OK
    with pytest.raises(ValueError, match="unknown panstarrs band 'u'"):
        ps1(server, tmp_path, bands="ug")
    with pytest.raises(ValueError, match="service limit of 6000 px"):
        s.fetch(1, 1, 7000)
