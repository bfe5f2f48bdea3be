"""The ``synthetic`` survey serves the simulated galaxies by position, offline."""

import numpy as np
import pytest

import galzoo_fm
from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images
from galzoo_fm.surveys import Status


@pytest.fixture(scope="module")
def sim():
    cfg = SimulationConfig(seed=9, size=40)
    cat = simulate_catalog(30, config=cfg)
    return cfg, cat, simulate_images(cat, cfg)


def test_registered():
    assert "synthetic" in galzoo_fm.list_surveys()
    survey = galzoo_fm.get_survey("synthetic")
    assert survey.bands == ("g", "r", "z") and survey.pixscale == 0.262


def test_same_pixels_as_the_dataset(sim):
    _, cat, images = sim
    survey = galzoo_fm.get_survey("synthetic", seed="9", n="30")
    cuts = survey.fetch_batch(np.asarray(cat["ra"]), np.asarray(cat["dec"]), 40)
    assert all(c.status is Status.OK for c in cuts)
    assert np.array_equal(np.stack([c.data for c in cuts]), images)
    # the WCS is centred on the request, north up, east left
    wcs = cuts[3].wcs
    x, y = wcs.world_to_pixel_values(cat["ra"][3], cat["dec"][3])
    assert abs(x - 19.5) < 1e-6 and abs(y - 19.5) < 1e-6
    x2, _ = wcs.world_to_pixel_values(cat["ra"][3] + 1 / 3600, cat["dec"][3])
    assert x2 < x


def test_offset_request_moves_the_galaxy(sim):
    _, cat, _ = sim
    survey = galzoo_fm.get_survey("synthetic", seed=9, n=30, noise=False)
    ra, dec = float(cat["ra"][5]), float(cat["dec"][5])
    centred = survey.fetch(ra, dec, 40).data
    shifted = survey.fetch(ra, dec + 4 * 0.262 / 3600, 40).data  # 4 px north: the galaxy moves 4 px down
    assert np.allclose(shifted[:, :-4], centred[:, 4:], atol=1e-3 * centred.max())


def test_off_footprint_and_errors(sim):
    _, cat, _ = sim
    survey = galzoo_fm.get_survey("synthetic", seed=9, n=30)
    assert survey.fetch(10.0, -30.0, 16).status is Status.OFF_FOOTPRINT
    assert survey.fetch(float(cat["ra"][0]) - 0.05, float(cat["dec"][0]), 16).status is Status.OFF_FOOTPRINT
    with pytest.raises(TypeError, match="unknown synthetic survey options: colour"):
        galzoo_fm.get_survey("synthetic", colour=1)
    with pytest.raises(ValueError, match="unknown band 'u'"):
        galzoo_fm.get_survey("synthetic", bands="gu")
    with pytest.raises(ValueError, match="exceeds the synthetic service limit"):
        survey.fetch(150.0, 2.0, 1000)


def test_fetch_into_a_store(tmp_path, sim):
    from galzoo_fm.fetch import fetch_catalog
    from galzoo_fm.store.reader import CutoutStore

    _, cat, images = sim
    path = tmp_path / "cat.fits"
    cat["id", "ra", "dec"].write(path)
    summary = fetch_catalog(path, "synthetic", size=40, out=tmp_path / "store", workers=2,
                            survey_options={"seed": 9, "n": 30})
    assert summary is not None
    store = CutoutStore(tmp_path / "store")
    assert list(store.table["status"]) == ["ok"] * 30
    assert np.array_equal(np.asarray(store.read(np.arange(30))), images)
