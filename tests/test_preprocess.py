"""Preprocessing: steps against astropy/photutils, flags, bands, geometry, serialisation, bad input."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from astropy.nddata import block_reduce
from astropy.stats import sigma_clipped_stats
from astropy.visualization import AsinhStretch, make_lupton_rgb

from galzoo_fm import Encoder
from galzoo_fm.embedding.images import read_image_set
from galzoo_fm.preprocess import (
    SURVEY_DEFAULTS,
    PreprocessFlag,
    Preprocessor,
    asinh_stretch,
    band_mapping,
    clean_images,
    clipped_stats,
    describe_flags,
    estimate_background,
    make_rgb,
    resample_images,
    subsample_step,
    survey_defaults,
)

BANDS = ["g", "r", "z"]


@pytest.fixture(scope="module")
def demo():
    return read_image_set()


def _gaussians(n, size, pixscale, sigma_arcsec=1.0, offsets=None, seed=0, noise=0.0):
    """Round Gaussian galaxies of fixed angular size at the centre (+ offsets in pixels) of the cutouts."""
    yy, xx = np.mgrid[:size, :size] + 0.5 - size / 2
    offsets = np.zeros((n, 2)) if offsets is None else np.asarray(offsets, float)
    s = sigma_arcsec / pixscale
    img = np.exp(-((yy[None] - offsets[:, :1, None]) ** 2 + (xx[None] - offsets[:, 1:, None]) ** 2) / (2 * s * s))
    cube = np.repeat(img[:, None], 3, axis=1) * np.array([0.5, 1.0, 1.5])[None, :, None, None]
    cube += np.random.default_rng(seed).normal(0, noise, cube.shape)
    return cube.astype(np.float32)


# ------------------------------------------------------------------ steps vs astropy / photutils
def test_asinh_stretch_matches_astropy():
    rng = np.random.default_rng(0)
    x = rng.lognormal(-3, 2, size=(2, 3, 8, 8)).astype(np.float32) * rng.choice([-1, 1], size=(2, 3, 8, 8))
    soft, big_r = np.array([0.01, 0.02, 0.05]), 300.0
    ours = asinh_stretch(x, soft, big_r)
    for b in range(3):
        ref = AsinhStretch(a=1 / big_r)(x[:, b] / (big_r * soft[b]), clip=False)
        np.testing.assert_allclose(ours[:, b], ref, rtol=2e-5, atol=1e-6)
    clipped = asinh_stretch(x, soft, big_r, clip=(-0.2, 0.9))
    np.testing.assert_array_equal(clipped, np.clip(ours, -0.2, 0.9))
    # torch gives the same, on the tensor's device; per-image softening (N, C) too
    np.testing.assert_allclose(asinh_stretch(torch.from_numpy(x), soft, big_r).numpy(), ours, rtol=1e-6)
    np.testing.assert_allclose(asinh_stretch(x, np.tile(soft, (2, 1)), big_r), ours, rtol=1e-6)


def test_background_matches_sigma_clipped_stats():
    rng = np.random.default_rng(1)
    x = _gaussians(3, 32, 0.262, noise=0.01) + rng.normal(0, 1, (3, 3, 1, 1)).astype(np.float32)
    x[0, 1, 3:6, 3:9] = np.nan
    filled, bad, _ = clean_images(x)
    level, noise = estimate_background(filled, bad, sigma=2.5, maxiters=4)
    assert level.shape == (3, 3, 1, 1) and noise.shape == (3, 3)
    for i in range(3):
        for b in range(3):
            _, med, std = sigma_clipped_stats(x[i, b], mask=~np.isfinite(x[i, b]), sigma=2.5, maxiters=4)
            assert level[i, b, 0, 0] == pytest.approx(med, rel=1e-5)
            assert noise[i, b] == pytest.approx(std, rel=1e-5)


def test_clipped_stats_matches_astropy_with_masks_and_empty_bands():
    rng = np.random.default_rng(3)
    x = rng.normal(0.2, 1.0, (4, 2, 24, 24)).astype(np.float32)
    x[:, :, 10:14, 10:14] += 40  # a bright source to clip
    bad = rng.random(x.shape) < 0.1
    bad[3, 1] = True  # a band without any good pixel
    med, std = clipped_stats(x, bad, sigma=2.5, maxiters=4)
    for i in range(4):
        for b in range(2):
            _, ref_med, ref_std = sigma_clipped_stats(x[i, b], mask=bad[i, b], sigma=2.5, maxiters=4)
            if i == 3 and b == 1:
                assert np.isnan(med[i, b]) and np.isnan(std[i, b])
            else:
                assert med[i, b] == pytest.approx(ref_med, rel=1e-6, abs=1e-7)
                assert std[i, b] == pytest.approx(ref_std, rel=1e-5)


def test_background_on_a_pixel_grid():
    """``max_pixels`` evaluates the clipped statistics on every s-th pixel: exactly astropy's numbers on that
    grid, and within a small fraction of the noise of the all-pixel level."""
    assert [subsample_step((64, 64), m) for m in (None, 0, 4096, 1024, 1000)] == [1, 1, 1, 2, 3]
    rng = np.random.default_rng(2)
    x = _gaussians(8, 64, 0.262, noise=0.05, seed=4) + rng.normal(0, 0.3, (8, 3, 1, 1)).astype(np.float32)
    bad = np.zeros(x.shape, bool)
    level, noise = estimate_background(x, bad, max_pixels=1024)
    full, full_noise = estimate_background(x, bad)
    for i in range(8):
        for b in range(3):
            _, med, std = sigma_clipped_stats(x[i, b, ::2, ::2])
            assert level[i, b, 0, 0] == pytest.approx(med, rel=1e-5, abs=1e-7)
            assert noise[i, b] == pytest.approx(std, rel=1e-5)
    np.testing.assert_allclose(level, full, atol=0.15 * 0.05)  # median's standard error ≈ 0.04 sigma here
    np.testing.assert_allclose(noise, full_noise, rtol=0.1)
    # the pipeline uses the grid by default, and every pixel with background_pixels=0
    pre = Preprocessor(["g", "r", "z"], input_bands=["g", "r", "z"], softening=[1, 1, 1], image_size=64,
                       stretch="none")
    np.testing.assert_allclose(pre(x).background, level[:, :, 0, 0], rtol=1e-6)
    exact = Preprocessor(["g", "r", "z"], input_bands=["g", "r", "z"], softening=[1, 1, 1], image_size=64,
                         stretch="none", background_pixels=0)
    np.testing.assert_allclose(exact(x).background, full[:, :, 0, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="background_pixels"):
        Preprocessor(["g"], input_bands=["g"], softening=[1], image_size=64, background_pixels=-1)


def test_background2d_matches_photutils():
    from astropy.stats import SigmaClip
    from photutils.background import Background2D

    yy, xx = np.mgrid[:48, :48]
    sky = (0.1 + 0.002 * xx + 0.001 * yy).astype(np.float32)
    x = (_gaussians(1, 48, 0.262, noise=0.01) + sky)[:, :1]
    level, noise = estimate_background(x, np.zeros_like(x, bool), method="background2d", box_size=12)
    ref = Background2D(x[0, 0], (12, 12), mask=np.zeros((48, 48), bool), sigma_clip=SigmaClip(sigma=3.0, maxiters=5))
    np.testing.assert_allclose(level[0, 0], ref.background, rtol=1e-5)
    assert noise[0, 0] == pytest.approx(ref.background_rms_median, rel=1e-5)
    # the pipeline subtracts that map
    pre = Preprocessor(["r"], input_bands=["r"], softening=[0.01], background="background2d", background_box=12,
                       image_size=48, stretch="none")
    np.testing.assert_allclose(pre(x).images[0, 0], x[0, 0] - ref.background, atol=1e-6)


def test_make_rgb_matches_astropy(demo):
    x = demo.images[:2]
    soft = [SURVEY_DEFAULTS["legacy"]["softening"][b] for b in BANDS]
    rgb = make_rgb(x, BANDS, scales=[1 / s for s in soft], stretch=40, Q=6)
    assert rgb.shape == (2, 64, 64, 3) and rgb.dtype == np.uint8
    for i in range(2):
        g, r, z = (x[i, k].astype(float) / soft[k] for k in range(3))
        np.testing.assert_array_equal(rgb[i], make_lupton_rgb(z, r, g, minimum=0, stretch=40, Q=6))


# ------------------------------------------------------------------ cleaning and flags
def test_nan_handling_and_flags(demo):
    x = demo.images[:7].astype(np.float32).copy()
    x[0, 0, 5:8, 5:8] = np.nan
    x[0, 2, 40, 40] = np.inf
    x[1] = np.nan  # all NaN
    x[2] = 0.0  # off the footprint
    x[3, 1] = 0.123  # a constant band
    x[4, 0, 30:33, 30:33] = 50.0  # flat-topped, saturated core
    x[5, :, :40] = np.nan  # mostly masked
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, image_size=64, pixel_scale=0.262)
    res = pre(x)
    assert np.isfinite(res.images).all()
    f = res.flags
    assert f[0] == PreprocessFlag.NONFINITE
    assert f[1] & PreprocessFlag.EMPTY and f[1] & PreprocessFlag.NONFINITE
    assert f[2] == PreprocessFlag.EMPTY
    assert f[3] == PreprocessFlag.CONSTANT
    assert f[4] == PreprocessFlag.SATURATED
    assert f[5] == PreprocessFlag.NONFINITE | PreprocessFlag.MOSTLY_MASKED
    assert f[6] == 0
    assert res.ok.tolist() == [True, False, False, False, True, True, True]
    assert res.flag_names()[5] == ["NONFINITE", "MOSTLY_MASKED"]
    assert describe_flags(f)[3] == ["CONSTANT"]
    # filled pixels are recorded in the mask (and optionally as an extra channel)
    assert res.mask[0, 0, 5:8, 5:8].min() == 1.0 and res.mask[0, 0, 20, 20] == 0.0 and res.mask[0, 0, 40, 40] == 1.0
    res_m = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, mask_channel=True)(x)
    assert res_m.images.shape == (7, 4, 64, 64)
    np.testing.assert_array_equal(res_m.images[:, 3:], res_m.mask)
    # an explicit mask acts like NaN; saturation level flag
    m = np.zeros(x.shape, bool)
    m[6, :, 0, 0] = True
    sat = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, saturation=0.9 * x[6].max())(x, mask=m)
    assert sat.flags[6] == PreprocessFlag.NONFINITE | PreprocessFlag.SATURATED


# ------------------------------------------------------------------ bands
def test_band_mapping_rules(demo):
    x = demo.images[:3]
    pre = Preprocessor(BANDS, survey="legacy", image_size=64)
    ref = pre(x, bands=BANDS).images
    shuffled = x[:, [2, 0, 1]]  # z, g, r
    np.testing.assert_array_equal(pre(shuffled, bands=["z", "g", "r"]).images, ref)
    extra = np.concatenate([x, x[:, :1] * 0 + 1.0], axis=1)  # an unused band is dropped
    np.testing.assert_array_equal(pre(extra, bands=[*BANDS, "i"]).images, ref)
    with pytest.raises(ValueError, match=r"model band\(s\) 'z' not among the input bands \['g', 'r', 'i'\]"):
        pre(x, bands=["g", "r", "i"])
    with pytest.raises(ValueError, match="did you mean 'Z' for 'z'"):
        pre(x, bands=["g", "r", "Z"])
    zero = Preprocessor(["g", "r", "i"], survey="legacy", missing_band="zero", image_size=64)(x, bands=BANDS)
    assert (zero.images[:, 2] == 0).all() and (zero.flags == PreprocessFlag.MISSING_BAND).all()
    near = Preprocessor(["g", "r", "i"], survey="legacy", missing_band="nearest", image_size=64)(x, bands=BANDS)
    np.testing.assert_array_equal(near.images[:, :2], ref[:, :2])
    assert (near.flags == PreprocessFlag.MISSING_BAND).all()
    assert band_mapping(["z", "g"], ["g", "r", "z"]).tolist() == [2, 0]
    with pytest.raises(ValueError, match="names band"):
        band_mapping(["g", "g"], ["g"])
    with pytest.raises(ValueError, match="none of the model bands"):
        band_mapping(["i"], ["g", "r"], missing="zero")
    with pytest.raises(ValueError, match="not in BAND_WAVELENGTHS"):
        band_mapping(["g", "w1"], ["g"], missing="nearest")


# ------------------------------------------------------------------ geometry
def test_resample_matches_torch_and_block_reduce():
    x = np.random.default_rng(3).normal(size=(2, 3, 48, 48)).astype(np.float32)
    for size in (24, 32, 80):
        ours, trunc = resample_images(x, size, 48 / size)
        ref = F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", antialias=True,
                            align_corners=False).numpy()
        np.testing.assert_allclose(ours, ref, atol=5e-5)
        assert not trunc.any()
    ours, _ = resample_images(x, 16, 3.0, method="area")
    np.testing.assert_allclose(ours, block_reduce(x, (1, 1, 3, 3), func=np.mean), atol=1e-6)
    shifted, trunc = resample_images(x, 48, 1.0, shifts=np.array([[2, -1], [0, 0]]))
    np.testing.assert_array_equal(shifted[0, :, :-2, 1:], x[0, :, 2:, :-1])
    assert trunc.tolist() == [True, False]


def test_pixel_scale_aware_resize():
    fine = _gaussians(2, 96, 0.262, sigma_arcsec=2.0)  # the same galaxy at two pixel scales
    coarse = _gaussians(2, 40, 0.524, sigma_arcsec=2.0)
    pre = Preprocessor(BANDS, input_bands=BANDS, softening=[1.0] * 3, stretch="none", image_size=32,
                       pixel_scale=0.524, background="none", interpolation="area")
    a = pre(fine, pixel_scale=0.262).images
    b = pre(coarse, pixel_scale=0.524).images
    assert a.shape == b.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(a, b, atol=0.03 * b.max())  # same angular scale, different native pixels
    too_big = pre(_gaussians(1, 20, 0.524), pixel_scale=0.524)  # 20 px < 32 px field: padded, flagged
    assert too_big.flags[0] == PreprocessFlag.TRUNCATED
    whole = Preprocessor(BANDS, input_bands=BANDS, softening=[1.0] * 3, image_size=32)(fine)  # no pixel_scale
    assert whole.images.shape == (2, 3, 32, 32) and whole.flags.tolist() == [0, 0]


# ------------------------------------------------------------------ photutils steps
def _with_neighbour(demo):
    x = demo.images[:4].astype(np.float32).copy()
    yy, xx = np.mgrid[:64, :64]
    x += (1.5 * np.exp(-((yy - 12) ** 2 + (xx - 50) ** 2) / (2 * 1.8**2)))[None, None].astype(np.float32)
    return x


@pytest.mark.parametrize("mode", ["zero", "noise", "symmetric"])
def test_neighbours_are_replaced(demo, mode):
    x = _with_neighbour(demo)
    # without deblending the star must be detached from the galaxy's segment: a high threshold
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, neighbours=mode, deblend=False, detect_threshold=8,
                       stretch="none")
    res = pre(x)
    clean = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, stretch="none")(demo.images[:4])
    assert np.abs(res.images[:, :, 10:15, 48:53]).max() < 0.05  # the star (peak 1.5) is gone
    np.testing.assert_allclose(res.images[:, :, 28:36, 28:36], clean.images[:, :, 28:36, 28:36], atol=5e-4)
    assert (res.mask[:, 0, 12, 50] == 1).all() and (res.mask[:, 0, 32, 32] == 0).all()
    np.testing.assert_array_equal(pre(x).images, res.images)  # seeded in-painting


def test_deblending_keeps_central_label(demo):
    pytest.importorskip("skimage")
    x = demo.images[:2].astype(np.float32).copy()
    yy, xx = np.mgrid[:64, :64]
    x += (0.3 * np.exp(-((yy - 32) ** 2 + (xx - 41) ** 2) / (2 * 1.5**2)))[None, None].astype(np.float32)  # touching
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, neighbours="zero", deblend=True, stretch="none")
    res = pre(x)
    assert res.mask[:, 0, 32, 41].min() == 1 and res.mask[:, 0, 32, 32].max() == 0


@pytest.mark.parametrize("method", ["com", "quadratic"])
def test_recentring_reports_the_shift(method):
    off = np.array([[3.0, -2.0], [0.0, 0.0], [-1.5, 2.5]])
    x = _gaussians(3, 48, 0.262, offsets=off, noise=0.01)
    pre = Preprocessor(BANDS, input_bands=BANDS, softening=[0.01] * 3, recentre=method, deblend=False,
                       input_pixel_scale=0.262, pixel_scale=0.262, image_size=32, stretch="none")
    res = pre(x)
    np.testing.assert_allclose(res.shifts, off, atol=0.25)
    centred = pre(_gaussians(3, 48, 0.262, noise=0.01)).images
    np.testing.assert_allclose(res.images, centred, atol=0.08)
    far = pre(_gaussians(1, 48, 0.262, offsets=[[0.0, 12.0]], noise=0.01))  # beyond max_shift=5
    assert far.flags[0] & PreprocessFlag.CENTROID_FAILED and (far.shifts == 0).all()


# ------------------------------------------------------------------ serialisation and the encoder checkpoint
def test_settings_round_trip_json(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, image_size=48, pixel_scale=0.3, clip=None,
                       neighbours="noise", deblend=False, recentre="quadratic", interpolation="area")
    d = json.loads(json.dumps(pre.to_dict()))
    again = Preprocessor.from_dict(d)
    assert again == pre and again.to_dict() == d
    assert d["softening"] == [0.0083, 0.0147, 0.0227] and d["input_pixel_scale"] == 0.262
    np.testing.assert_array_equal(again(demo.images[:3]).images, pre(demo.images[:3]).images)
    assert "neighbours='noise'" in repr(pre)
    with pytest.raises(ValueError, match="not galzoo_fm preprocessing settings"):
        Preprocessor.from_dict({"stretch": "asinh"})
    with pytest.raises(ValueError, match="version"):
        Preprocessor.from_dict({**d, "version": 99})


def test_settings_round_trip_through_encoder_checkpoint(tmp_path, demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=demo.bands, image_size=32, pixel_scale=0.4)
    enc = Encoder("resnet18", in_chans=3, image_size=32, bands=BANDS, preprocessing=pre, seed=0)
    assert enc.preprocessing == pre.to_dict() and enc.preprocessor == pre
    loaded = Encoder.from_pretrained(enc.save_pretrained(tmp_path / "ckpt"))
    again = loaded.preprocessor
    assert again == pre
    x = again(demo.images).images
    np.testing.assert_array_equal(x, pre(demo.images).images)
    np.testing.assert_array_equal(loaded.embed(x), enc.embed(x))
    assert Encoder("resnet18", in_chans=3, image_size=32).preprocessor is None
    with pytest.raises(ValueError, match="makes 3 channels"):
        Encoder("resnet18", in_chans=4, image_size=32, preprocessing=pre)
    with pytest.raises(ValueError, match=r"bands \['g', 'r', 'z'\] but the encoder's bands are \['g', 'r', 'i'\]"):
        Encoder("resnet18", in_chans=3, image_size=32, bands=["g", "r", "i"], preprocessing=pre)
    with pytest.raises(ValueError, match="image_size is 64"):
        Encoder("resnet18", in_chans=3, image_size=64, preprocessing=pre)
    with pytest.raises(ValueError, match="not galzoo_fm preprocessing"):
        _ = Encoder("resnet18", in_chans=3, image_size=32, preprocessing={"stretch": "asinh"}).preprocessor


# ------------------------------------------------------------------ bad input
def test_bad_input_errors(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, pixel_scale=0.262)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\), got rank 3 .*images\[None\]"):
        pre(demo.images[0])
    with pytest.raises(ValueError, match="4 channels but 3 band names"):
        pre(np.zeros((2, 4, 16, 16)))
    with pytest.raises(TypeError, match="real numeric dtype"):
        pre(np.zeros((2, 3, 16, 16), dtype=complex))
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        pre([[1.0]])
    for bad in (0, -0.262, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="pixel_scale must be a positive number of arcsec per pixel"):
            pre(demo.images, pixel_scale=bad)
        with pytest.raises(ValueError, match="must be a positive number of arcsec per pixel"):
            Preprocessor(BANDS, survey="legacy", pixel_scale=bad)
    with pytest.raises(ValueError, match="input pixel scale is unknown"):
        Preprocessor(BANDS, input_bands=BANDS, softening=[1.0] * 3, pixel_scale=0.3)(demo.images)
    with pytest.raises(ValueError, match="unknown survey 'hst'; known surveys: legacy, panstarrs, sdss"):
        Preprocessor(BANDS, survey="hst")
    with pytest.raises(ValueError, match=r"band\(s\) 'q' are not bands of survey 'legacy'"):
        Preprocessor(["g", "q"], survey="legacy", input_bands=["g", "q"])
    with pytest.raises(ValueError, match="softening is needed"):
        Preprocessor(BANDS, input_bands=BANDS)
    with pytest.raises(ValueError, match="one value per band"):
        Preprocessor(BANDS, input_bands=BANDS, softening=[0.1, 0.2])
    with pytest.raises(TypeError, match="unknown Preprocessor setting.*; did you mean stretch"):
        Preprocessor(BANDS, survey="legacy", strech="asinh")
    with pytest.raises(ValueError, match="background must be one of"):
        Preprocessor(BANDS, survey="legacy", background="median")
    with pytest.raises(ValueError, match="clip must be"):
        Preprocessor(BANDS, survey="legacy", clip=(1, 0))
    with pytest.raises(TypeError, match="list of band names"):
        Preprocessor("grz", survey="legacy")
    with pytest.raises(ValueError, match="the input's band names are unknown"):
        Preprocessor(BANDS, softening=[1.0] * 3)(demo.images)
    assert survey_defaults("SDSS")["pixel_scale"] == 0.396
    empty = pre(np.zeros((0, 3, 64, 64), np.float32))
    assert empty.images.shape == (0, 3, 64, 64) and empty.flags.shape == (0,)


@pytest.mark.gpu
def test_stretch_on_cuda_matches_numpy(demo):
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, stretch="none")
    flux = pre(demo.images[:4]).images
    stretch = Preprocessor(BANDS, survey="legacy", input_bands=BANDS).apply_stretch
    out = stretch(torch.from_numpy(flux).cuda())
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), stretch(flux), rtol=1e-5, atol=1e-6)


def test_clean_images_flags_agree_with_and_without_bad_pixels():
    """The batch without any bad pixel takes a faster path; its flags must equal the general path's."""
    x = np.random.default_rng(0).normal(size=(5, 3, 8, 8)).astype(np.float32)
    x[1] = 0  # empty
    x[2, 1] = 5.0  # a constant band
    x[3, :, :4] = 7.0  # a plateau at the maximum
    _, bad, fast = clean_images(x)
    assert not bad.any()
    y = np.concatenate([x, np.full((1, 3, 8, 8), np.nan, np.float32)])  # one bad image forces the general path
    _, _, general = clean_images(y)
    np.testing.assert_array_equal(fast, general[:5])
    assert [describe_flags(fast)[i] for i in (1, 2, 3)] == [["EMPTY"], ["CONSTANT"], ["SATURATED"]]
    assert describe_flags(general)[5] == ["NONFINITE", "EMPTY", "MOSTLY_MASKED"]


def _rst_defaults(text: str, header: str) -> dict:
    """``{setting: default}`` of the settings table after ``header`` in docs/preprocessing.rst."""
    import ast
    import re

    lines = text[text.index(header):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("setting "))
    spans = [m.span() for m in re.finditer("=+", lines[start - 1])]  # the columns, from the table's border
    out = {}
    for line in lines[start + 2:]:
        if line.startswith("="):
            break
        if not line.startswith("``"):
            continue  # a continuation line
        cols = [line[a:b].strip() for a, b in spans]
        names = re.findall(r"``(\w+)``", cols[0])
        raw = cols[1].replace("``", "")
        if raw in ("(required)", "survey's"):
            continue
        values = [raw] if len(names) == 1 else raw.split(", ")
        for name, value in zip(names, values, strict=True):
            parsed = ast.literal_eval(value)
            out[name] = list(parsed) if isinstance(parsed, tuple) else parsed
    return out


def test_docs_settings_tables_match_the_declarations():
    from pathlib import Path

    from galzoo_fm.preprocess.settings import PREPROCESS_SETTINGS
    from galzoo_fm.training.augment import AUGMENT_SETTINGS

    text = (Path(__file__).parents[1] / "docs" / "preprocessing.rst").read_text()
    for header, table in (("Settings\n~~~~~~~~", PREPROCESS_SETTINGS), ("In order:", AUGMENT_SETTINGS)):
        documented = _rst_defaults(text, header)
        assert len(documented) >= 10
        for name, default in documented.items():
            assert table[name].default == default, name


# ------------------------------------------------------------------------------- plugin surveys' defaults
def _toy_survey_class(name, preprocessing):
    from galzoo_fm.surveys.base import Survey

    class ToyCam(Survey):
        built = 0

        def __init__(self, **options):
            type(self).built += 1
            self.bands = ("g", "r")
            self.pixscale = 0.5

    ToyCam.name = name
    ToyCam.preprocessing = preprocessing
    return ToyCam


def test_preprocessor_survey_takes_a_registered_plugin_surveys_defaults(fresh_plugins):
    from galzoo_fm import hookimpl
    from galzoo_fm.preprocess.settings import survey_preprocessing

    toy = {"bands": ["g", "r"], "pixel_scale": 0.5, "softening": {"g": 0.1, "r": 0.2}, "description": "toy"}
    by_class = _toy_survey_class("toycam", toy)
    by_target = _toy_survey_class("toycam_lazy", toy)
    by_function = _toy_survey_class("toycam_fn", toy)
    bare = _toy_survey_class("toycam_bare", None)

    def lazy(**options):
        raise AssertionError("the factory must not be called to read defaults")

    lazy.target = lambda: by_target

    class Plugin:
        @staticmethod
        @hookimpl
        def register_surveys(register):
            register("toycam", by_class)
            register("ToyCam_Lazy", lazy)
            register("toycam_fn", lambda **options: by_function(**options))
            register("toycam_bare", bare)
            register("toycam_needs_options", lambda *, path: by_function(path=path))

    fresh_plugins.register_plugin(Plugin(), name="toy-surveys")
    pre = Preprocessor(["r", "g"], survey="toycam", image_size=16)
    s = pre.settings
    assert s["survey"] == "toycam" and s["input_bands"] == ["g", "r"] and s["input_pixel_scale"] == 0.5
    assert s["softening"] == [0.2, 0.1]  # per model band, in the model's order
    assert Preprocessor.from_dict(pre.to_dict()).settings == s
    assert by_class.built == 0  # read from the class, never built
    assert Preprocessor(["g"], survey="ToyCam_Lazy").settings["softening"] == [0.1]  # through target()
    assert by_target.built == 0
    assert survey_preprocessing("toycam_lazy")[0] == "ToyCam_Lazy"  # the registered name is recorded
    assert Preprocessor(["g", "r"], survey="toycam_fn").settings["input_pixel_scale"] == 0.5
    assert by_function.built == 1  # a plain function: built once, to learn its class
    x = np.random.default_rng(0).normal(0.05, 0.01, size=(2, 2, 16, 16)).astype(np.float32)
    assert pre(x).images.shape == (2, 2, 16, 16)
    with pytest.raises(ValueError, match="survey 'toycam_bare' .* has no preprocessing defaults"):
        Preprocessor(["g"], survey="toycam_bare")
    with pytest.raises(ValueError, match="'toycam_needs_options' is registered with a factory that needs options"):
        Preprocessor(["g"], survey="toycam_needs_options")
    with pytest.raises(ValueError, match=r"band\(s\) 'z' are not bands of survey 'toycam'"):
        Preprocessor(["g", "z"], survey="toycam", input_bands=["g", "z"])
    with pytest.raises(ValueError, match="unknown survey 'hst'; known surveys: legacy, panstarrs, sdss"):
        Preprocessor(["g"], survey="hst")
    assert Preprocessor(["g"], survey="LEGACY").settings["survey"] == "legacy"  # built-ins: the table, as before
