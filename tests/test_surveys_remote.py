"""Live services (run with ``pytest --remote-data=any``): one small cutout each, checked for layout."""

import numpy as np
import pytest

import galzoo_fm
from galzoo_fm.cutout import Status

M51 = (202.4696, 47.1952)


@pytest.mark.remote_data
@pytest.mark.parametrize(("name", "options"), [
    ("legacy", {"layer": "ls-dr10", "bands": "grz"}),
    ("panstarrs", {"bands": "gri"}),
    ("hips", {"bands": "CDS/P/PanSTARRS/DR1/g,CDS/P/PanSTARRS/DR1/r"}),
    ("skyview", {"bands": "SDSSg,SDSSr"}),
    ("sdss", {"bands": "gr"}),
])
def test_live_cutout(name, options, tmp_path):
    survey = galzoo_fm.get_survey(name, cache_dir=tmp_path, retries=2, timeout=60, **options)
    cutout = survey.fetch(*M51, 32)
    assert cutout.status in (Status.OK, Status.PARTIAL), cutout.reason
    assert cutout.data.shape == (len(survey.bands), 32, 32) and np.isfinite(cutout.data).all()
    assert cutout.wcs.has_celestial


@pytest.mark.remote_data
def test_live_legacy_off_footprint(tmp_path):
    survey = galzoo_fm.get_survey("legacy", layer="ls-dr9", cache_dir=tmp_path)
    assert survey.fetch(0.0, -89.0, 16).status is Status.OFF_FOOTPRINT
