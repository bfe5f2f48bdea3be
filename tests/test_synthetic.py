"""The simulated Galaxy Zoo: truth, images and volunteer votes."""

import numpy as np
import pytest

import galzoo_fm
from galzoo_fm.datasets.sim.catalogue import (
    SimulationConfig,
    galaxy_positions,
    position_to_index,
    simulate_catalog,
    simulate_images,
    write_synthetic,
)
from galzoo_fm.datasets.sim.render import render_galaxy
from galzoo_fm.datasets.sim.truth import BLOCK, KINDS, draw_truth
from galzoo_fm.datasets.sim.votes import Campaign, answer_probabilities, simulate_votes
from galzoo_fm.training.data.synthetic import synthetic_dataset


@pytest.fixture(scope="module")
def big_catalog():
    return simulate_catalog(4000, seed=11)


def _row(table, i):
    return {k: table[k][i].item() if hasattr(table[k][i], "item") else table[k][i] for k in table.colnames}


# -- truth ---------------------------------------------------------------------------------------------


def test_truth_depends_only_on_seed_and_index():
    whole = draw_truth(BLOCK + 10, seed=3)
    part = draw_truth(15, seed=3, start=BLOCK - 5)
    for col in ("mag_r", "r_e", "kind", "n_arms", "ring", "psf_fwhm"):
        assert np.array_equal(np.asarray(part[col]), np.asarray(whole[col][BLOCK - 5:])), col
    assert not np.array_equal(draw_truth(50, seed=4)["mag_r"], whole["mag_r"][:50])
    assert set(np.unique(whole["kind"])) == set(KINDS)


def test_truth_morphology_is_consistent(big_catalog):
    t = big_catalog
    disc = t["kind"] == "disc"
    assert not np.any(t["n_arms"][~disc]) and not np.any(t["bar"][~disc]) and not np.any(t["ring"][~disc])
    assert not np.any((t["n_arms"] > 0) & t["edge_on"])
    assert np.all((t["winding"] >= 0) == (t["n_arms"] > 0))
    assert 0.05 < np.mean(t["ring"]) < 0.2 and 0.05 < np.mean(t["bar"] > 0) < 0.25


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"n": -1}, ValueError, "n must be >= 0"),
    ({"n": 2.5}, TypeError, "n must be an integer"),
    ({"n": 2, "seed": "a"}, TypeError, "seed must be an integer"),
])
def test_truth_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        draw_truth(**kwargs)


# -- images --------------------------------------------------------------------------------------------


def test_images_shape_units_and_reproducible():
    cfg = SimulationConfig(seed=2, size=48)
    cat = simulate_catalog(12, config=cfg)
    a = simulate_images(cat, cfg)
    b = simulate_images(cat, cfg, workers=2, chunk=5)
    assert a.shape == (12, 3, 48, 48) and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert np.array_equal(a, b)
    clean = simulate_images(cat, cfg, noise=False)
    gal = (cat["kind"] == "elliptical") | (cat["kind"] == "disc")
    # flux in the stamp is close to the catalogue magnitude for compact galaxies (some light falls outside)
    r_flux = clean[:, 1].sum((1, 2))
    expected = 10 ** (0.4 * (22.5 - np.asarray(cat["mag_r"])))
    assert np.all(r_flux[gal] > 0.5 * expected[gal])
    # colours: ellipticals are redder (g fainter than r) than their disc counterparts
    g_r = -2.5 * np.log10(clean[:, 0].sum((1, 2)) / r_flux)
    if np.any(cat["kind"] == "elliptical"):
        assert np.all(g_r[cat["kind"] == "elliptical"] > 0.5)
    other = simulate_images(simulate_catalog(12, seed=3, config=cfg), SimulationConfig(seed=3, size=48))
    assert not np.allclose(other, a)


def test_images_progress_is_a_bar_and_a_log_record(caplog, capsys):
    import logging

    cfg = SimulationConfig(seed=1, size=16)
    cat = simulate_catalog(3, config=cfg)
    with caplog.at_level(logging.INFO, logger="galzoo_fm.datasets.sim.catalogue"):
        images = simulate_images(cat, cfg, progress=True)
    assert np.array_equal(images, simulate_images(cat, cfg))
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed
    assert "simulate" in captured.err and "3/3" in captured.err  # the tqdm bar
    assert any("rendered 3 galaxies" in r.getMessage() for r in caplog.records)


def test_demo_field_draws_simulated_galaxies_at_the_catalogue_positions(tmp_path):
    from astropy.io import fits
    from astropy.table import Table
    from astropy.wcs import WCS

    from galzoo_fm.datasets.sim.demo import make_demo_field

    catalog, mosaic = make_demo_field(tmp_path, n_side=3, spacing=40, seed=2)
    cat = Table.read(catalog)[:-2]
    with fits.open(mosaic) as hdul:
        image, wcs = hdul[0].data, WCS(hdul[0].header, naxis=2)
    x, y = wcs.all_world2pix(cat["ra"], cat["dec"], 0)
    for xi, yi, mag in zip(x, y, cat["mag_r"], strict=True):
        i, j = int(np.rint(yi)), int(np.rint(xi))
        cell = image[1, i - 20:i + 20, j - 20:j + 20]
        peak = np.unravel_index(np.argmax(cell), cell.shape)
        assert abs(peak[0] - 20) <= 2 and abs(peak[1] - 20) <= 2  # the galaxy is where the catalogue says
        assert 0.6 < cell.sum() / 10 ** (0.4 * (22.5 - mag)) < 1.2  # and as bright (some light leaves the cell)
    again, _ = make_demo_field(tmp_path / "again", n_side=3, spacing=40, seed=2)
    assert Table.read(again)["mag_r"].tolist() == Table.read(catalog)["mag_r"].tolist()
    with pytest.raises(ValueError, match="spacing must be an integer >= 8"):
        make_demo_field(tmp_path, spacing=4)


def test_images_need_the_catalogue_seed():
    cat = simulate_catalog(3, seed=1)
    with pytest.raises(ValueError, match="simulated with seed 1 but config.seed is 0"):
        simulate_images(cat, SimulationConfig(seed=0))


def test_render_errors():
    row = _row(draw_truth(1), 0)
    with pytest.raises(ValueError, match="unknown band"):
        render_galaxy(row, bands=("g", "u"))
    with pytest.raises(ValueError, match="size must be >= 8"):
        render_galaxy(row, size=4)
    with pytest.raises(ValueError, match="bands must be distinct"):
        SimulationConfig(bands=("g", "g"))


def test_positions_round_trip():
    cfg = SimulationConfig(columns=7)
    idx = np.arange(40)
    ra, dec = galaxy_positions(idx, cfg)
    found, xi, eta = position_to_index(ra, dec, 40, cfg)
    assert np.array_equal(found, idx) and np.abs(xi).max() < 1e-6 and np.abs(eta).max() < 1e-6
    # 5 arcsec east of galaxy 8: still galaxy 8, offset +5" east
    found, xi, eta = position_to_index(ra[8] + 5 / 3600 / np.cos(np.radians(dec[8])), dec[8], 40, cfg)
    assert found[0] == 8 and abs(xi[0] - 5) < 0.01 and abs(eta[0]) < 0.01
    found, _, _ = position_to_index([ra[0] - 0.1, ra[39]], [dec[0], dec[39] + 0.1], 40, cfg)
    assert found.tolist() == [-1, -1]


# -- votes ---------------------------------------------------------------------------------------------


def test_votes_respect_the_decision_tree(big_catalog):
    for name in ("decals_dr5", "gz2"):
        schema = galzoo_fm.get_schema(name)
        votes = schema.votes_from_table(big_catalog)
        n_vol = np.asarray(big_catalog[f"n_volunteers_{name}"])
        for q in schema:
            asked = votes[:, q.start:q.end].sum(1)
            parent = n_vol if q.depends_on is None else votes[:, q.depends_on.index]
            assert np.array_equal(asked, parent), q.name  # asked exactly of those who gave the parent answer
        shown = n_vol > 0
        assert np.all(votes[~shown] == 0)
        lo, hi = {"decals_dr5": (5, 40), "gz2": (10, 45)}[name]
        assert n_vol[shown].min() >= lo and n_vol[shown].max() <= hi


def test_vote_fractions_follow_the_generating_probabilities(big_catalog):
    schema = galzoo_fm.get_schema("decals_dr5")
    probs = answer_probabilities(schema, big_catalog)
    votes = schema.votes_from_table(big_catalog)
    for q in schema:
        asked = votes[:, q.start:q.end].sum(1)
        if asked.sum() < 500:
            continue
        p = probs[:, q.start:q.end]
        expected = (asked[:, None] * p).sum(0)
        sd = np.sqrt((asked[:, None] * p * (1 - p)).sum(0))
        z = (votes[:, q.start:q.end].sum(0) - expected) / np.maximum(sd, 1e-9)
        assert np.all(np.abs(z) < 5), (q.name, z)
    # and the probabilities follow the truth: edge-on discs get "yes", face-on ones "no"
    q = schema.question("disk-edge-on-dr5")
    edge, face = np.asarray(big_catalog["edge_on"]), np.asarray(big_catalog["inclination"]) < 50
    disc = np.asarray(big_catalog["kind"]) == "disc"
    assert probs[edge, q.start].mean() > 0.8 and probs[face & disc, q.start].mean() < 0.1


def test_campaigns_reproduce_the_gz_evo_setting(big_catalog):
    n = len(big_catalog)
    for name, fraction in (("decals_dr5", 0.45), ("gz2", 0.3)):
        shown = np.mean(big_catalog[f"n_volunteers_{name}"] > 0)
        assert abs(shown - fraction) < 5 * np.sqrt(fraction * (1 - fraction) / n)
    evo = galzoo_fm.get_schema("gz_evo")
    votes = evo.votes_from_table(big_catalog)
    labelled = votes.sum(1) > 0
    unknown = np.array([np.mean([votes[i, s:e].sum() == 0 for s, e in evo.question_index_groups])
                        for i in np.flatnonzero(labelled)[:300]])
    assert unknown.min() > 0.6  # most answers unknown for every galaxy
    assert 0.3 < 1 - labelled.mean() < 0.47  # unlabelled galaxies: in neither campaign


def test_votes_are_reproducible():
    a = simulate_catalog(300, seed=7)
    b = simulate_catalog(300, seed=7)
    c = simulate_catalog(120, seed=7)
    cols = galzoo_fm.get_schema("decals_dr5").label_cols
    for col in cols:
        assert np.array_equal(a[col], b[col]) and np.array_equal(a[col][:120], c[col])
    d = simulate_catalog(300, seed=8)
    assert not all(np.array_equal(a[col], d[col]) for col in cols)


def test_campaign_errors():
    with pytest.raises(ValueError, match="fraction must be in"):
        Campaign("gz2", 1.5)
    with pytest.raises(ValueError, match="volunteers must be"):
        Campaign("gz2", 0.5, (10, 5))
    with pytest.raises(ValueError, match="share label column"):
        simulate_votes(draw_truth(3), [Campaign("gz2", 0.5), Campaign("gz2", 0.5)])
    with pytest.raises(TypeError, match="schema must be a Schema"):
        answer_probabilities(3, draw_truth(2))


# -- datasets and files --------------------------------------------------------------------------------


def test_synthetic_dataset_and_files(tmp_path):
    cfg = SimulationConfig(size=32)
    ds, cat = synthetic_dataset(10, seed=4, label="ring", config=cfg)
    batch = ds[np.arange(4)]
    assert batch["images"].shape == (4, 3, 32, 32)
    assert batch["votes"].shape == (4, galzoo_fm.get_schema("gz_evo").n_answers)
    assert batch["labels"].tolist() == [int(v) for v in cat["ring"][:4]]
    images, catalog = write_synthetic(tmp_path, 6, seed=4, config=cfg)
    assert np.array_equal(np.load(images), simulate_images(simulate_catalog(6, seed=4), SimulationConfig(seed=4,
                                                                                                        size=32)))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_synthetic(tmp_path, 6, seed=4, config=cfg)
    from astropy.table import Table

    assert len(Table.read(catalog)) == 6


def test_simulate_command_writes_the_library_s_files(tmp_path):
    from astropy.table import Table
    from click.testing import CliRunner

    from galzoo_fm.cli import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["simulate", str(tmp_path / "sim"), "--n", "6", "--seed", "3", "--size", "32",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "wrote 6 simulated galaxies" in res.output
    images = np.load(tmp_path / "sim" / "images.npy")
    cat = Table.read(tmp_path / "sim" / "catalog.fits")
    assert images.shape == (6, 3, 32, 32) and len(cat) == 6
    # the same numbers as the library call with the same settings
    expected = simulate_images(simulate_catalog(6, config=SimulationConfig(seed=3, size=32)),
                               SimulationConfig(seed=3, size=32))
    np.testing.assert_array_equal(images, expected)
    res = runner.invoke(cli, ["simulate", str(tmp_path / "sim"), "--n", "6", "--size", "32"])
    assert res.exit_code == 1 and "exists; pass --overwrite to replace them" in res.output
