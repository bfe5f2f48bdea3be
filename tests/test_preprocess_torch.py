"""The torch preprocessing (the one every path runs) against the NumPy/astropy reference and astropy itself."""

import numpy as np
import pytest
import torch
from astropy.stats import sigma_clipped_stats

from galzoo_fm.embedding.images import read_image_set
from galzoo_fm.preprocess import PreprocessFlag, Preprocessor, subsample_step
from galzoo_fm.preprocess.reference import reference_preprocess
from galzoo_fm.preprocess.torch_steps import clean_batch, clipped_stats_torch, sky_batch

BANDS = ["g", "r", "z"]


@pytest.fixture(scope="module")
def demo():
    return read_image_set()


def _awkward(demo, seed=0):
    """Demo cutouts with a sky offset, noise, and the bad inputs astronomers meet."""
    rng = np.random.default_rng(seed)
    x = np.array(demo.images, np.float32) + np.float32(0.02)
    x += rng.normal(0, 0.003, x.shape).astype(np.float32)
    x[1, 0, 5:9, 5:9] = np.nan  # a few NaN pixels
    x[2, 2, :, 30:] = np.inf  # half a band infinite
    x[3] = 0.0  # off the footprint
    x[4, 1] = 0.7  # a constant band
    x[5] = np.nan  # nothing at all
    x[6, :, 20:40, 20:40] = x[6].max()  # a saturated plateau
    return x


SETTINGS = [
    dict(image_size=64),
    dict(image_size=48, pixel_scale=0.262),
    dict(image_size=40, pixel_scale=0.35, interpolation="area"),
    dict(image_size=64, background_pixels=0, clip=None),
    dict(image_size=32, background="none", softening="noise"),
    dict(image_size=64, mask_channel=True, saturation=1.0),
    dict(image_size=40, neighbours="noise", recentre="com"),
    dict(image_size=40, background="background2d"),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=[str(s) for s in SETTINGS])
def test_torch_pipeline_equals_numpy_reference(demo, settings):
    """Every output of the torch pipeline equals the NumPy/astropy pipeline, bad inputs included."""
    kw = dict(settings)
    if "softening" not in kw:
        kw["survey"] = "legacy"
    else:
        kw["input_pixel_scale"] = 0.262
    pre = Preprocessor(BANDS, input_bands=demo.bands, **kw)
    x = _awkward(demo)
    got, ref = pre(x), reference_preprocess(pre, x)
    assert isinstance(got.images, np.ndarray) and got.images.dtype == np.float32
    assert got.images.shape == ref.images.shape
    np.testing.assert_array_equal(got.flags, ref.flags)
    np.testing.assert_allclose(got.images, ref.images, rtol=0, atol=1e-5)  # stretched units
    np.testing.assert_allclose(got.noise, ref.noise, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(got.background, ref.background, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(got.mask, ref.mask, atol=1e-6)
    np.testing.assert_allclose(got.shifts, ref.shifts, atol=1e-9)


def test_tensor_input_stays_a_tensor_and_equals_numpy(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=demo.bands, image_size=48, pixel_scale=0.262)
    x = _awkward(demo)
    out = pre(torch.from_numpy(x))
    assert isinstance(out.images, torch.Tensor) and isinstance(out.flags, torch.Tensor)
    np.testing.assert_array_equal(out.numpy().images, pre(x).images)
    np.testing.assert_array_equal(out.flags.numpy(), pre(x).flags)
    y = torch.from_numpy(x.copy())  # the input is never modified
    pre(y)
    np.testing.assert_array_equal(y.numpy(), x)


def test_flux_then_finish_is_the_pipeline(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=demo.bands, image_size=48)
    x = _awkward(demo)
    flux = pre.flux(x)
    np.testing.assert_array_equal(pre.finish(flux).images, pre(x).images)
    # fluxes are background subtracted: the sky of a clean cutout is ~0 in flux units
    assert abs(float(np.median(flux.images[0, :, :4, :4]))) < 3 * float(flux.noise[0].max())


def test_bad_input_flags_on_cpu_tensors(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=demo.bands)
    names = pre(torch.from_numpy(_awkward(demo))).flag_names()
    assert names[0] == []
    assert "NONFINITE" in names[1] and "EMPTY" not in names[1]
    assert "NONFINITE" in names[2]
    assert names[3] == ["EMPTY"]
    assert names[4] == ["CONSTANT"]
    assert set(names[5]) == {"NONFINITE", "EMPTY", "MOSTLY_MASKED"}
    assert "SATURATED" in names[6]
    missing = Preprocessor(["g", "r", "y"], survey="legacy", input_bands=demo.bands, missing_band="zero",
                           softening=[0.01] * 3)
    res = missing(torch.from_numpy(np.asarray(demo.images[:2], np.float32)))
    assert all("MISSING_BAND" in f for f in res.flag_names())
    assert float(res.images[:, 2].abs().max()) == 0.0  # the zero band stays zero


def test_clean_batch_paths_agree():
    """A CPU batch without bad pixels, with a few, and with many take different paths: same answers."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3, 16, 16)).astype(np.float32)
    x[1] = 0
    x[2, 1] = 5.0
    x[3, :, :4] = 7.0
    _, bad, fast = clean_batch(torch.from_numpy(x))
    assert bad is None
    few = np.concatenate([x, np.full((1, 3, 16, 16), np.nan, np.float32)])
    many = few.copy()
    many[:5, 0, 0, 0] = np.nan
    for y in (few, many):
        filled, bad, _ = clean_batch(torch.from_numpy(y))
        assert bad is not None and not torch.isnan(filled).any()
        np.testing.assert_array_equal(bad.numpy(), ~np.isfinite(y))
    np.testing.assert_array_equal(clean_batch(torch.from_numpy(few))[2][:6].numpy(), fast.numpy())
    assert int(clean_batch(torch.from_numpy(few))[2][6]) & PreprocessFlag.EMPTY


def test_clipped_stats_equal_astropy_with_masks():
    rng = np.random.default_rng(2)
    x = rng.normal(0.01, 0.004, (4, 3, 33, 31)).astype(np.float32)
    x[:, :, 10:14, 10:14] += 0.5  # a source to clip
    bad = rng.random(x.shape) < 0.1
    bad[2, 1] = True  # a band without good pixels
    med, std = (t.numpy() for t in clipped_stats_torch(torch.from_numpy(x), torch.from_numpy(bad), sigma=3.0,
                                                        maxiters=5))
    for i in range(4):
        for b in range(3):
            if i == 2 and b == 1:
                assert np.isnan(med[i, b]) and np.isnan(std[i, b])
                continue
            _, m, s = sigma_clipped_stats(x[i, b], mask=bad[i, b], sigma=3.0, maxiters=5)
            assert abs(float(med[i, b]) - m) < 1e-4 * s
            assert abs(float(std[i, b]) - s) < 1e-4 * s


def test_sky_level_within_005_sigma_of_astropy_on_all_pixels():
    """The grid estimate (every 2nd pixel of a 64-px cutout) against astropy on every pixel: the median
    difference over many cutouts is far below 0.05 sigma, and the all-pixel setting equals astropy."""
    rng = np.random.default_rng(3)
    n, size = 64, 64
    yy, xx = np.mgrid[:size, :size] - size / 2
    gal = np.exp(-(yy**2 + xx**2) / (2 * 4.0**2)).astype(np.float32)
    x = rng.normal(0.02, 0.004, (n, 3, size, size)).astype(np.float32) + 0.3 * gal
    step = subsample_step((size, size), 1024)
    level, noise = sky_batch(torch.from_numpy(x), None, step=step, sigma=3.0, maxiters=5)
    full, _ = sky_batch(torch.from_numpy(x), None, step=1, sigma=3.0, maxiters=5)
    ref = np.array([[sigma_clipped_stats(x[i, b], sigma=3.0, maxiters=5)[1:] for b in range(3)] for i in range(n)])
    diff = (level.numpy() - ref[..., 0]) / ref[..., 1]
    assert np.median(np.abs(diff)) < 0.05
    np.testing.assert_allclose(full.numpy(), ref[..., 0], rtol=0, atol=1e-4 * 0.004)
    assert np.median(np.abs(noise.numpy() / ref[..., 1] - 1)) < 0.03  # 1024 of 4096 pixels: ~2 % scatter


@pytest.mark.gpu
def test_cuda_pipeline_equals_cpu(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=demo.bands, image_size=48, pixel_scale=0.262)
    x = _awkward(demo)
    cpu = pre(x)
    gpu = pre(torch.from_numpy(x).cuda())
    assert gpu.images.device.type == "cuda"
    np.testing.assert_array_equal(gpu.flags.cpu().numpy(), cpu.flags)
    np.testing.assert_allclose(gpu.images.cpu().numpy(), cpu.images, atol=1e-5)
    np.testing.assert_allclose(gpu.noise.cpu().numpy(), cpu.noise, rtol=1e-4)
