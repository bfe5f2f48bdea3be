"""Augmentations: exact symmetries, documented ranges, noise level, reproducibility, devices, settings."""

import json

import numpy as np
import pytest
import torch
from astropy.stats import mad_std
from scipy.ndimage import gaussian_filter

from galzoo_fm.training.augment import Augment, MultiViewAugment, affine, estimate_noise, gaussian_blur

#: every random transform switched off: tests switch on one at a time
OFF = dict(rotation=0, hflip=0, vflip=0, crop_scale=(1, 1), translate=0, blur_prob=0, noise=(0, 0),
           flux_scale=(1, 1), band_scale=(1, 1))


@pytest.fixture(scope="module")
def galaxies():
    from galzoo_fm.embedding.images import read_image_set

    return torch.from_numpy(np.ascontiguousarray(read_image_set().images[:16], dtype=np.float32))


def test_rotation_by_90_equals_rot90(galaxies):
    x = galaxies[:4]
    for k in (1, 2, 3, -1):
        ref = torch.rot90(x, k, dims=(-2, -1))
        assert torch.equal(affine(x, 90.0 * k), ref)  # exact path for symmetries of the square
        torch.testing.assert_close(affine(x, 90.0 * k, exact=False, padding="zeros"), ref, atol=1e-5, rtol=0)
    # per-image angles and flips: rotate, then mirror
    angle, hf = torch.tensor([90.0, 0.0, 180.0, 270.0]), torch.tensor([True, False, True, False])
    ref = torch.stack([torch.rot90(x[i], int(angle[i]) // 90, dims=(-2, -1)) for i in range(4)])
    ref = torch.where(hf[:, None, None, None], ref.flip(-1), ref)
    assert torch.equal(affine(x, angle, hflip=hf), ref)
    torch.testing.assert_close(affine(x, angle, hflip=hf, exact=False), ref, atol=1e-5, rtol=0)


def test_flips_are_exact(galaxies):
    aug = Augment(seed=1, **{**OFF, "hflip": 0.5, "vflip": 0.5})
    out, p = aug(galaxies, return_params=True)
    assert 0 < int(p["hflip"].sum()) < len(galaxies) and 0 < int(p["vflip"].sum()) < len(galaxies)
    for i in range(len(galaxies)):
        ref = galaxies[i]
        ref = ref.flip(-1) if p["hflip"][i] else ref
        ref = ref.flip(-2) if p["vflip"][i] else ref
        assert torch.equal(out[i], ref)


def test_arbitrary_rotation_and_zoom():
    yy, xx = torch.meshgrid(torch.arange(64.0) - 31.5, torch.arange(64.0) - 31.5, indexing="ij")
    bar = torch.exp(-(xx**2 / 200 + yy**2 / 8))[None, None]  # elongated along x
    rot = affine(bar, 90.0)
    torch.testing.assert_close(affine(bar, 30.0, padding="zeros").sum(), bar.sum(), rtol=5e-3, atol=0)  # flux kept
    # 45 degrees counter-clockwise as displayed (row 0 at the top): the bar runs up and to the right
    r45 = affine(bar, 45.0, padding="zeros")[0, 0]
    assert r45[25, 38] > 0.5 and r45[38, 25] > 0.5 and r45[25, 25] < 0.05 and r45[38, 38] < 0.05
    assert rot[0, 0, :, 32].sum() > rot[0, 0, 32, :].sum()  # now along y
    zoom = affine(bar, 0.0, scale=0.5)  # sample half the field: the bar doubles in size
    assert zoom[0, 0, 32].gt(0.5).sum() > 1.8 * bar[0, 0, 32].gt(0.5).sum()


def test_blur_matches_scipy(galaxies):
    x = galaxies[:2]
    out = gaussian_blur(x, torch.tensor([1.0, 1.0]))
    ref = gaussian_filter(x.numpy(), sigma=(0, 0, 1.0, 1.0), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-6)
    assert torch.equal(gaussian_blur(x, torch.tensor([0.0, 0.0]), max_sigma=1.0), x)
    with pytest.raises(ValueError, match="kernel radius"):
        gaussian_blur(x, 30.0)


def test_noise_estimate_and_noise_level(galaxies):
    level = estimate_noise(galaxies)
    ref = mad_std(galaxies.numpy(), axis=(2, 3))
    np.testing.assert_allclose(level.numpy(), ref, rtol=2e-3)
    sky = torch.randn(64, 2, 48, 48, generator=torch.Generator().manual_seed(0))
    sky = sky * torch.tensor([0.01, 0.1])[:, None, None]
    noisy = Augment(seed=0, **{**OFF, "noise": (1.0, 1.0)})(sky)
    ratio = (noisy.std(dim=(0, 2, 3)) / sky.std(dim=(0, 2, 3))).numpy()
    np.testing.assert_allclose(ratio, np.sqrt(2), rtol=0.02)  # noise at the image's own level per band


def test_multiview_noise_level_is_the_given_one(galaxies):
    """A given noise level (e.g. the preprocessing's measured sky noise) replaces the estimate, per band."""
    x = torch.zeros(32, 2, 32, 32)
    level = torch.tensor([0.01, 0.1]).repeat(32, 1)
    v1, v2 = MultiViewAugment(Augment(**{**OFF, "noise": (1.0, 1.0)}), seed=0)(x, noise_level=level)
    np.testing.assert_allclose(v1.std(dim=(0, 2, 3)).numpy(), [0.01, 0.1], rtol=0.02)
    assert not torch.equal(v1, v2)  # independent noise per view
    with pytest.raises(ValueError, match=r"noise_level must have shape \(N, C\) = \(32, 2\).*got \(32, 3\)"):
        MultiViewAugment(seed=0)(x, noise_level=torch.ones(32, 3))
    with pytest.raises(TypeError, match="noise_level must be a torch.Tensor"):
        Augment(seed=0)(x, noise_level=np.ones((32, 2)))


def test_views_differ_but_stay_in_documented_ranges(galaxies):
    aug = Augment(seed=0)
    out, p = aug(galaxies.repeat(8, 1, 1, 1), return_params=True)
    s = aug.settings
    assert p["angle"].abs().max() <= s["rotation"] and p["angle"].std() > 50
    assert ((p["scale"] ** 2 >= s["crop_scale"][0] - 1e-6) & (p["scale"] ** 2 <= s["crop_scale"][1] + 1e-6)).all()
    assert p["translate"].abs().max() <= s["translate"]
    assert ((p["blur_sigma"] >= 0) & (p["blur_sigma"] <= s["blur_sigma"][1])).all()
    assert 0.3 < (p["blur_sigma"] > 0).float().mean() < 0.7
    lo = s["flux_scale"][0] * s["band_scale"][0]
    hi = s["flux_scale"][1] * s["band_scale"][1]
    assert ((p["flux"] >= lo) & (p["flux"] <= hi)).all()
    assert ((p["noise"] >= 0) & (p["noise"] <= 1)).all() and (p["dropout"] == -1).all()
    assert torch.isfinite(out).all() and out.shape == (128, 3, 64, 64)
    # flux scaling alone: pixel ratios within the documented factors
    only_flux = Augment(seed=0, **{**OFF, "flux_scale": (0.8, 1.25), "band_scale": (0.95, 1.05)})(galaxies)
    ratio = (only_flux / galaxies)[galaxies.abs() > 1e-3]
    assert ratio.min() >= 0.8 * 0.95 - 1e-5 and ratio.max() <= 1.25 * 1.05 + 1e-5
    # geometry and blur alone are convex combinations of input pixels: values stay within the input range
    geo = Augment(seed=0, **{**OFF, "rotation": 180, "crop_scale": (0.5, 1.2), "translate": 0.1, "blur_prob": 1.0,
                             "blur_sigma": (0.5, 1.5)})(galaxies)
    assert (geo.amin(dim=(1, 2, 3)) >= galaxies.amin(dim=(1, 2, 3)) - 1e-5).all()
    assert (geo.amax(dim=(1, 2, 3)) <= galaxies.amax(dim=(1, 2, 3)) + 1e-5).all()
    v1, v2, v3 = MultiViewAugment(n_views=3, seed=0)(galaxies)
    assert not torch.equal(v1, v2) and not torch.equal(v2, v3)
    assert (v1 - v2).abs().mean() > 0.1 * galaxies.abs().mean()


def test_band_dropout_and_output_size(galaxies):
    out = Augment(seed=0, **{**OFF, "band_dropout": 1.0, "size": 32})(galaxies)
    assert out.shape == (16, 3, 32, 32)
    zero_bands = (out.abs().amax(dim=(2, 3)) == 0).sum(dim=1)
    assert (zero_bands == 1).all()


def test_seeded_reproducibility(galaxies):
    a, b = Augment(seed=5), Augment(seed=5)
    first = a(galaxies)
    assert torch.equal(first, b(galaxies))
    second = a(galaxies)
    assert not torch.equal(first, second)  # the generator advances
    a.reset()
    assert torch.equal(a(galaxies), first)
    assert not torch.equal(Augment(seed=6)(galaxies), first)
    views = MultiViewAugment(seed=3)(galaxies)
    again = MultiViewAugment(seed=3)(galaxies)
    assert all(torch.equal(u, v) for u, v in zip(views, again, strict=True))


def test_settings_round_trip_and_post():
    aug = Augment(seed=0, rotation=90, crop_ratio=(0.8, 1.25), padding="zeros", band_dropout=0.1)
    d = json.loads(json.dumps(aug.to_dict()))
    again = Augment.from_dict(d, seed=0)
    assert again.to_dict() == d and "rotation=90.0" in repr(again)
    x = torch.randn(4, 3, 24, 24)
    assert torch.equal(again(x), aug(x))
    mv = MultiViewAugment([aug, {**d, "blur_prob": 1.0}], seed=1, post=torch.tanh)
    mv2 = MultiViewAugment.from_dict(json.loads(json.dumps(mv.to_dict())), seed=1)
    assert mv2.to_dict() == mv.to_dict() and len(mv2) == 2
    v = mv(x)
    assert v[0].abs().max() <= 1  # post applied


def test_bad_settings_and_input():
    with pytest.raises(ValueError, match=r"rotation must be a maximum angle in \[0, 180\]"):
        Augment(rotation=270)
    with pytest.raises(ValueError, match=r"hflip must be a probability in \[0, 1\]"):
        Augment(hflip=1.5)
    with pytest.raises(ValueError, match="crop_scale must be a"):
        Augment(crop_scale=(1.0, 0.5))
    with pytest.raises(TypeError, match="noise must be a"):
        Augment(noise=0.5)
    with pytest.raises(TypeError, match="unknown Augment setting"):
        Augment(hue=0.1)
    with pytest.raises(TypeError, match=r"unknown Augment setting\(s\) rotaton; known: .*; did you mean rotation\?"):
        Augment(rotaton=10)
    with pytest.raises(ValueError, match="padding must be one of"):
        Augment(padding="wrap")
    with pytest.raises(ValueError, match="n_views must be a positive integer"):
        MultiViewAugment(n_views=0)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        Augment()(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        Augment()(np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="must be square"):
        Augment()(torch.zeros(1, 3, 8, 12))
    with pytest.raises(TypeError, match="floating-point"):
        Augment()(torch.zeros(1, 3, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="not galzoo_fm augmentation settings"):
        Augment.from_dict({"rotation": 10})


@pytest.mark.gpu
def test_cuda_matches_cpu(galaxies):
    settings = {"noise": (0.0, 0.0)}  # pixel noise is drawn on the device: compare everything else
    cpu = Augment(seed=0, **settings)(galaxies)
    gpu = Augment(seed=0, **settings)(galaxies.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
    noisy = Augment(seed=0, **{**OFF, "noise": (1.0, 1.0)})(galaxies.cuda())
    assert noisy.device.type == "cuda" and not torch.equal(noisy, galaxies.cuda())
    views = MultiViewAugment(seed=0)(galaxies.cuda())
    assert all(v.device.type == "cuda" for v in views)
