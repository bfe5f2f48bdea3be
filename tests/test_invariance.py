"""The invariance benchmark (issue 15, item 4): transforms, the self-vs-nearest-other score, the encoder path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galzoo_fm import Encoder
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.training import invariance_scores, invariant_fraction, transform_images
from galzoo_fm.training.invariance import TRANSFORMS, sky_noise


class GlobalStats(torch.nn.Module):
    """Per band: total flux, total squared flux, maximum, minimum — exactly dihedral-invariant features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.sum((2, 3)), (x**2).sum((2, 3)), x.amax((2, 3)), x.amin((2, 3))], dim=1)


class Linear(torch.nn.Module):
    """A fixed random projection of the flattened pixels (no bias); ``identity=True``: the raw pixels."""

    def __init__(self, shape: tuple[int, int, int], d: int = 16, identity: bool = False):
        super().__init__()
        n = int(np.prod(shape))
        w = np.eye(n) if identity else np.random.default_rng(3).normal(size=(d, n)) / np.sqrt(n)
        self.register_buffer("w", torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w.T


def blobs(n: int = 24, c: int = 2, size: int = 12, seed: int = 0) -> np.ndarray:
    """Off-centre elongated blobs of random brightness and position on unit-sigma noise (not symmetric)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(float)
    cy, cx = rng.uniform(3, size - 4, (2, n))
    a, b = rng.uniform(1, 3, (2, n))
    blob = np.exp(-((yy - cy[:, None, None]) ** 2 / a[:, None, None] ** 2
                    + (xx - cx[:, None, None]) ** 2 / b[:, None, None] ** 2) / 2)
    flux = rng.uniform(5, 50, (n, c))
    return (flux[:, :, None, None] * blob[:, None] + rng.normal(size=(n, c, size, size))).astype(np.float32)


def reference_fraction(original: np.ndarray, transformed: np.ndarray) -> tuple[float, np.ndarray]:
    """The definition, written out with Python loops in float64."""
    a, b = np.asarray(original, np.float64), np.asarray(transformed, np.float64)

    def cos(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    n = len(a)
    ok = np.array([cos(a[i], b[i]) > max(cos(a[i], a[j]) for j in range(n) if j != i) for i in range(n)])
    return float(ok.mean()), ok


# ------------------------------------------------------------------ transforms
def test_transforms_move_the_pixels_as_documented():
    x = np.arange(2 * 3 * 5 * 5, dtype=np.float32).reshape(2, 3, 5, 5)
    shifted = transform_images(x, "shift")
    np.testing.assert_array_equal(shifted[..., 1:], x[..., :-1])  # one pixel to larger x
    np.testing.assert_array_equal(shifted[..., 0], x[..., 0])  # edge padding, no wrap-around
    np.testing.assert_array_equal(transform_images(x, "rot90"), np.rot90(x, 1, axes=(2, 3)))
    np.testing.assert_array_equal(transform_images(x, "flip"), x[..., ::-1])
    for name in ("shift", "rot90", "flip"):
        assert not np.shares_memory(transform_images(x, name), x)


def test_noise_transform_adds_the_sky_noise_level_and_is_seeded():
    sigma = np.array([0.5, 2.0])
    rng = np.random.default_rng(1)
    x = (sigma[None, :, None, None] * rng.normal(size=(40, 2, 32, 32))).astype(np.float32)
    added = transform_images(x, "noise", seed=7) - x
    np.testing.assert_allclose(added.std(axis=(0, 2, 3)), sigma, rtol=0.05)
    np.testing.assert_array_equal(transform_images(x, "noise", seed=7), transform_images(x, "noise", seed=7))
    assert not np.array_equal(transform_images(x, "noise", seed=7), transform_images(x, "noise", seed=8))
    added2 = transform_images(x, "noise", seed=7, noise_scale=np.sqrt(2)) - x
    np.testing.assert_allclose(added2.std(axis=(0, 2, 3)), np.sqrt(2) * sigma, rtol=0.05)


def test_sky_noise_reads_the_border_not_the_galaxy():
    """A galaxy filling most of the cutout, with shot noise: the border MAD finds the sky sigma, a
    whole-image estimate would not."""
    rng = np.random.default_rng(2)
    size, sky = 64, 0.01
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    galaxy = 2.0 * np.exp(-np.hypot(yy, xx) / 4.0)
    model = np.broadcast_to(galaxy, (20, 1, size, size))
    x = (model + np.sqrt(sky**2 + 0.01 * model) * rng.normal(size=model.shape)).astype(np.float32)
    est = sky_noise(x)
    assert est.shape == (20, 1)
    np.testing.assert_allclose(np.median(est), sky, rtol=0.15)
    assert np.median(x.reshape(20, -1).std(axis=1)) > 3 * sky  # what a whole-image estimate sees
    x[:, :, 0, :] = np.nan  # non-finite border pixels are ignored
    assert np.isfinite(sky_noise(x)).all()


# ------------------------------------------------------------------ the score
def test_invariant_fraction_matches_a_float64_reference():
    rng = np.random.default_rng(0)
    original = rng.normal(size=(30, 6))
    # perturbations of growing size: some galaxies stay nearest to themselves, some do not
    transformed = original + np.linspace(0.05, 2.0, 30)[:, None] * rng.normal(size=(30, 6))
    fraction, ok = invariant_fraction(original.astype(np.float32), transformed.astype(np.float32))
    ref_fraction, ref_ok = reference_fraction(original.astype(np.float32), transformed.astype(np.float32))
    assert 0.2 < ref_fraction < 0.9  # the example is not trivial
    np.testing.assert_array_equal(ok, ref_ok)
    assert fraction == ref_fraction


def test_invariant_fraction_is_strict_and_counts_only_other_galaxies():
    e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # galaxies 0 and 1 coincide
    fraction, ok = invariant_fraction(e, e)
    np.testing.assert_array_equal(ok, [False, False, True])  # a tie is not "closer"
    assert fraction == pytest.approx(1 / 3)


def test_invariance_scores_match_a_float64_reference_of_the_definition():
    x = blobs()
    enc = Linear(x.shape[1:])
    result = invariance_scores(enc, x, device="cpu", seed=5)
    w = enc.w.double().numpy()
    e = x.reshape(len(x), -1).astype(np.float64) @ w.T
    for name in TRANSFORMS:
        moved = transform_images(x, name, seed=5).reshape(len(x), -1).astype(np.float64) @ w.T
        ref_fraction, ref_ok = reference_fraction(e, moved)
        np.testing.assert_array_equal(result.invariant[name], ref_ok, err_msg=name)
        assert result.fraction[name] == ref_fraction
    flat = result.as_dict()
    assert set(flat) == {*TRANSFORMS, *(f"median_self_cosine_{t}" for t in TRANSFORMS), "median_nearest_cosine"}
    assert flat["median_nearest_cosine"] == pytest.approx(np.median(result.nearest_cosine))
    assert result.n == len(x)


def test_an_exactly_invariant_encoder_scores_one_for_rotations_and_flips():
    x = blobs(n=30, c=3)
    result = invariance_scores(GlobalStats(), x, transforms=["rot90", "flip"], device="cpu")
    assert result.fraction == {"rot90": 1.0, "flip": 1.0}
    assert min(result.self_cosine["rot90"].min(), result.self_cosine["flip"].min()) > 1 - 1e-6
    assert result.median_nearest_cosine < 0.9999  # the bar is not trivially passed


def test_raw_pixel_embeddings_fail_the_shift_on_noise_but_pass_the_noise_test():
    """On white-noise images a 1-px shift decorrelates the pixels (cosine ~ 0, no better than another
    galaxy); a second sky-noise realisation at the same level keeps cosine 1/sqrt(2) with the original."""
    x = np.random.default_rng(4).normal(size=(60, 1, 32, 32)).astype(np.float32)
    raw = Linear(x.shape[1:], identity=True)
    result = invariance_scores(raw, x, transforms="shift, noise", device="cpu")
    assert result.fraction["shift"] < 0.3  # the repeated edge column (1/32 of the pixels) gives a head start
    assert result.fraction["noise"] == 1.0
    assert result.median_self_cosine["noise"] == pytest.approx(1 / np.sqrt(2), abs=0.03)
    assert result.median_self_cosine["shift"] < 0.1


def test_an_encoder_with_recorded_preprocessing_sees_preprocessed_images():
    """The score runs the encoder's own preprocessing, as Encoder.embed(preprocess=True) does."""
    pre = Preprocessor(["g", "r", "z"], survey="legacy", image_size=32, pixel_scale=0.262)
    enc = Encoder("resnet18", in_chans=3, image_size=32, seed=0, bands=["g", "r", "z"], preprocessing=pre,
                  backbone_kwargs={"layers": [1, 1, 1, 1], "channels": [8, 8, 8, 8]})
    x = 0.01 * blobs(n=6, c=3, size=40) + 0.05  # raw fluxes on a sky offset
    bands = ["g", "r", "z"]
    result = invariance_scores(enc, x, transforms=["flip"], bands=bands, device="cpu", batch_size=4)
    a = enc.embed(x, preprocess=True, bands=bands, device="cpu").astype(np.float64)
    b = enc.embed(np.ascontiguousarray(x[..., ::-1]), preprocess=True, bands=bands, device="cpu").astype(np.float64)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(result.self_cosine["flip"], cos, atol=1e-5)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(("images", "kwargs", "match"), [
    (np.zeros((4, 8, 8), np.float32), {}, r"shape \(N, C, H, W\)"),
    (np.zeros((1, 1, 8, 8), np.float32), {}, "at least 2 galaxies"),
    (np.zeros((4, 1, 8, 6), np.float32), {"transforms": ["rot90"]}, "rot90 needs square images"),
    (np.zeros((4, 1, 8, 8), np.float32), {"transforms": ["shear"]}, "unknown transform.*'shear'"),
    (np.zeros((4, 1, 8, 8), np.float32), {"transforms": ["flip", "flip"]}, "more than once"),
    (np.zeros((4, 1, 8, 8), np.float32), {"transforms": []}, "at least one"),
    (np.zeros((4, 1, 8, 8), np.float32), {"noise_scale": -1.0}, "noise_scale"),
])
def test_bad_input_raises_value_error(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        invariance_scores(GlobalStats(), images, device="cpu", **kwargs)


def test_bad_types_and_embeddings_raise():
    with pytest.raises(TypeError, match="numpy array"):
        invariance_scores(GlobalStats(), [[[[0.0]]], [[[1.0]]]], device="cpu")
    with pytest.raises(TypeError, match="real numbers"):
        transform_images(np.zeros((2, 1, 4, 4), dtype=bool), "flip")
    with pytest.raises(ValueError, match="shape of the originals"):
        invariant_fraction(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="N >= 2"):
        invariant_fraction(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="finite"):
        invariant_fraction(np.full((3, 2), np.nan), np.zeros((3, 2)))
