"""The independent simulation (``benchmarks/independent_sim.py``) and probe (``benchmarks/independent_probe.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import independent_sim as sim  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "galzoo_fm" / "data" / "demo_encoder"


def _quiet(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy without neighbour stars."""
    p = {k: np.array(v, copy=True) for k, v in params.items()}
    p["star_flux"][:] = 0.0
    return p


def _index(params: dict[str, np.ndarray], mask: np.ndarray) -> int:
    idx = np.flatnonzero(mask)
    assert len(idx), "no galaxy of the kind the test needs: change the seed"
    return int(idx[0])


def test_images_shape_finite_and_in_nanomaggies():
    images, _, params = sim.simulate(40, seed=5, size=32, pixel_scale=0.524)
    assert images.shape == (40, 3, 32, 32) and images.dtype == np.float32
    assert np.all(np.isfinite(images))
    clean = sim.render_images(_quiet(params), size=32, pixel_scale=0.524, seed=5, noise=False)
    assert clean.min() > -1e-6 * clean.max()
    # noise-free r-band flux is the galaxy's r flux in nanomaggies (r = 15.8-18.6: 40-630 nMgy), less what
    # falls outside the 16.8" stamp
    ratio = clean[:, 1].sum(axis=(1, 2)) / params["flux"]
    assert 0.85 < np.median(ratio) <= 1.01
    assert ratio.max() <= 1.01
    assert 40 < np.median(clean[:, 1].sum(axis=(1, 2))) < 630


def test_labels_have_the_declared_classes():
    params = sim.draw_parameters(400, seed=11)
    labels = sim.labels_of(params)
    assert set(np.unique(labels["morphology"])) == set(range(len(sim.MORPHOLOGIES)))
    disc_classes = [sim.MORPHOLOGIES.index("featureless_disk"), sim.MORPHOLOGIES.index("spiral")]
    discs = np.isin(labels["morphology"], disc_classes)
    for task in ("ring", "bar"):
        assert set(np.unique(labels[task][discs])) == {0, 1}
        assert np.all(labels[task][~discs] == -1)
        assert 0.35 < labels[task][discs].mean() < 0.65  # balanced by construction
    spiral = labels["morphology"] == sim.MORPHOLOGIES.index("spiral")
    assert np.all(params["arm_flux"][spiral] > 0) and np.all(params["arm_flux"][~spiral] == 0)
    for task in ("ring", "bar"):
        flux = params[f"{task}_flux"]
        assert np.all(flux[labels[task] != 1] == 0) and np.all(flux[labels[task] == 1] > 0)


def test_same_seed_same_images_other_seed_other_images():
    a = sim.simulate(6, seed=3, size=16)[0]
    b = sim.simulate(6, seed=3, size=16)[0]
    c = sim.simulate(6, seed=4, size=16)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_ring_puts_flux_in_an_annulus_that_its_ringless_twin_lacks():
    params = _quiet(sim.draw_parameters(200, seed=21))
    i = _index(params, (params["ring"] == 1) & (params["cos_i"] > 0.8) & (params["ring_radius"] > 2.0))
    one = sim.subset(params, [i, i])
    one["ring_flux"][1] = 0.0
    one["disc_flux"][1] += params["ring_flux"][i]  # the twin keeps the total flux
    images = sim.render_images(one, size=64, seed=21, noise=False)
    assert images[0].sum() == pytest.approx(images[1].sum(), rel=0.02)
    c = (np.arange(64) - 31.5) * sim.PIXEL_SCALE
    r = np.hypot(c[:, None] - params["y0"][i], c[None, :] - params["x0"][i])
    radius = params["ring_radius"][i] * (1 + params["cos_i"][i]) / 2  # between the projected axes
    annulus = np.abs(r - radius) < 0.6
    inside = r < 0.5 * radius
    ring_light, twin_light = images[0][:, annulus].sum(), images[1][:, annulus].sum()
    assert ring_light > 1.2 * twin_light
    assert images[0][:, inside].sum() < images[1][:, inside].sum()  # the ring's light is not in the centre


def test_bulges_are_redder_than_discs():
    params = _quiet(sim.draw_parameters(300, seed=8))
    pick = np.flatnonzero((params["morphology"] == sim.MORPHOLOGIES.index("featureless_disk"))
                          & (params["bulge_flux"] > 0.2 * params["flux"]))[:12]
    assert len(pick) >= 4
    images = sim.render_images(sim.subset(params, pick), size=64, seed=8, noise=False)
    c = np.arange(64) - 31.5
    r = np.hypot(c[:, None], c[None, :])
    centre, outer = r < 2.5, (r > 8) & (r < 16)
    g_r_centre = -2.5 * np.log10(images[:, 0][:, centre].sum(1) / images[:, 1][:, centre].sum(1))
    g_r_outer = -2.5 * np.log10(images[:, 0][:, outer].sum(1) / images[:, 1][:, outer].sum(1))
    assert np.mean(g_r_centre - g_r_outer) > 0.05
    # and the integrated colours are those of galaxies (g-r 0.3-0.9)
    g_r = -2.5 * np.log10(images[:, 0].sum((1, 2)) / images[:, 1].sum((1, 2)))
    assert np.all((g_r > 0.3) & (g_r < 0.9))


def test_sky_offset_and_noise_per_band():
    params = _quiet(sim.draw_parameters(8, seed=2))
    params["sky_grad"][:] = 0.0
    noisy = sim.render_images(params, size=64, seed=2)
    clean = sim.render_images(params, size=64, seed=2, noise=False)
    corner = (noisy - clean)[:, :, :12, :12]  # sky-dominated: shot noise is negligible there
    sigma = sim.SKY_SIGMA[None] * params["depth"][:, None]
    assert np.all(np.abs(corner.mean(axis=(2, 3)) - params["sky_offset"] * sigma) < 0.3 * sigma)
    assert np.all(np.abs(corner.std(axis=(2, 3)) / sigma - 1) < 0.2)
    assert np.all(corner.std(axis=(2, 3))[:, 0] < corner.std(axis=(2, 3))[:, 2])  # z is noisier than g


def test_star_is_the_unit_flux_psf():
    params = _quiet(sim.draw_parameters(3, seed=9))
    for k in ("bulge_flux", "disc_flux", "arm_flux", "ring_flux", "bar_flux", "comp_flux", "tail_flux", "clump_flux"):
        params[k][:] = 0.0
    params["star_flux"][:, 0] = 100.0
    params["star_x"][:, 0] = params["star_y"][:, 0] = 0.0
    params["star_gr"][:, 0], params["star_rz"][:, 0] = 0.5, 0.2
    images = sim.render_images(params, size=64, seed=9, noise=False)
    want = np.broadcast_to(100.0 * np.array([10 ** -0.2, 1.0, 10 ** 0.08]), (3, 3))
    np.testing.assert_allclose(images.sum(axis=(2, 3)), want, rtol=0.02)
    # the g PSF is wider than the z PSF: a smaller share of the light in the central pixels
    core = images[:, :, 30:34, 30:34].sum(axis=(2, 3)) / images.sum(axis=(2, 3))
    assert np.all(core[:, 0] < core[:, 2])


def test_bad_arguments():
    with pytest.raises(ValueError):
        sim.draw_parameters(0)
    with pytest.raises(ValueError):
        sim.render_images(sim.draw_parameters(2), size=31)
    with pytest.raises(ValueError):
        sim.render_images(sim.draw_parameters(2), pixel_scale=0.0)


def test_pca_features_match_the_svd_and_margins_decide():
    import independent_probe as ip

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2, 8, 8)) * np.linspace(0.5, 3, 8)
    train = np.arange(0, 120, 2)
    got = ip.pca_features(x, train, 10)  # 60 rows < 128 pixels: the Gram-matrix path
    flat = x.reshape(120, -1)
    mean = flat[train].mean(0)
    _, _, vt = np.linalg.svd(flat[train] - mean, full_matrices=False)
    want = (flat - mean) @ vt[:10].T
    np.testing.assert_allclose(np.abs(got), np.abs(want), atol=1e-8)
    results = {t: {"features": {"encoder": {"250": [0.8, 0.82]}, "pca50": {"250": [0.76, 0.76]}}} for t in ip.TASKS}
    m = ip.margins(results, [250])
    assert m["morphology"]["250"]["margin"] == pytest.approx(0.05) and m["morphology"]["250"]["pass"]
    results["ring"]["features"]["encoder"]["250"] = [0.8, 0.8]
    assert not ip.margins(results, [250])["ring"]["250"]["pass"]
    results["bar"]["features"]["encoder"]["250"] = [0.76, 0.76]
    assert ip.margins(results, [250])["bar"]["250"]["pass"]


@pytest.mark.skipif(not (DEMO / "config.json").is_file(), reason="no demo encoder")
def test_probe_runs_end_to_end_on_the_demo_encoder(tmp_path):
    import independent_probe as ip

    out = tmp_path / "r.json"
    rc = ip.main(["--model", str(DEMO), "--n", "60", "--sizes", "12", "--repeats", "1", "--no-random", "--pca", "8",
                  "--threads", "1", "--json", str(out)])
    report = json.loads(out.read_text())
    assert rc == (0 if report["pass"] else 1)
    assert report["n_test"] + report["n_train_pool"] == 60
    for task in ip.TASKS:
        accs = report["results"][task]["features"]
        assert set(accs) == {"encoder", "pca50"}
        for name in accs:
            assert 0.0 <= accs[name]["12"][0] <= 1.0
