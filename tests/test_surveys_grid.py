"""Band and frame alignment with reproject (surveys.grid), against independent float64 references."""

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy import ndimage

from galzoo_fm.surveys.grid import coadd, reproject_onto, same_grid, tan_grid

NATIVE = 0.396


def frame_wcs(ra, dec, nx, ny, scale=NATIVE, rot=0.5, shift=0.3):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(nx + 1) / 2 + shift, (ny + 1) / 2]
    c, s = np.cos(np.radians(rot)), np.sin(np.radians(rot))
    w.wcs.cd = scale / 3600.0 * np.array([[-c, s], [s, c]])
    w.pixel_shape = (nx, ny)
    return w


def gaussian_frame(sigma, nx=300, ny=220, flux=100.0):
    """A frame with a pixel-sampled Gaussian source of total ``flux`` near its middle (float64)."""
    wcs = frame_wcs(10.0, 1.0, nx, ny)
    ra, dec = 10.0012, 1.0007
    x0, y0 = wcs.all_world2pix(ra, dec, 0)
    yy, xx = np.mgrid[0:ny, 0:nx]
    image = flux / (2 * np.pi * sigma**2) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    return image, wcs, ra, dec


def test_same_scale_is_bilinear_interpolation():
    image, wcs, ra, dec = gaussian_frame(2.0)
    size = 40
    grid = tan_grid(ra, dec, size, NATIVE)
    out, footprint = reproject_onto(image.astype(np.float32), wcs, grid, (size, size))
    assert out.dtype == np.float32 and out.shape == (size, size) and np.all(footprint == 1)
    # reference: float64 bilinear interpolation at the output pixel centres, computed directly
    yy, xx = np.mgrid[0:size, 0:size]
    x, y = wcs.all_world2pix(*grid.all_pix2world(xx.ravel(), yy.ravel(), 0), 0)
    ref = ndimage.map_coordinates(image, [y, x], order=1).reshape(size, size)
    np.testing.assert_allclose(out, ref, atol=1e-5 * image.max())


@pytest.mark.parametrize("pixscale", [0.262, 0.8])
def test_changed_scale_conserves_flux(pixscale):
    image, wcs, ra, dec = gaussian_frame(1.0)
    size = int(np.ceil(30 * NATIVE / pixscale))
    grid = tan_grid(ra, dec, size, pixscale)
    out, footprint = reproject_onto(image.astype(np.float32), wcs, grid, (size, size))
    assert np.all(footprint > 0.99)
    # pixel values stay a mean (same units); the flux is their sum times the output/input pixel-area ratio
    flux = out.astype(np.float64).sum() * (pixscale / NATIVE) ** 2
    assert flux == pytest.approx(image.sum(), rel=1e-4)  # float64 sum of the input frame's pixels
    # the same mean level: a flat image stays flat at its value
    flat, _ = reproject_onto(np.full((220, 300), 3.5, np.float32), wcs, grid, (size, size))
    np.testing.assert_allclose(flat, 3.5, rtol=1e-5)


def test_identical_grid_unchanged_and_no_overlap():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(16, 16)).astype(np.float32)
    grid = tan_grid(20.0, -5.0, 16, 0.25)
    out, footprint = reproject_onto(image, grid, grid.deepcopy(), (16, 16))
    assert np.array_equal(out, image) and np.all(footprint == 1)
    far = tan_grid(40.0, -5.0, 16, 0.25)
    out, footprint = reproject_onto(image, grid, far, (16, 16))
    assert not out.any() and not footprint.any()
    assert same_grid(grid, grid, (16, 16)) and not same_grid(grid, far, (16, 16))


def test_coadd_fills_a_cutout_that_straddles_two_frames():
    left = frame_wcs(10.0, 1.0, 60, 60, rot=0.0, shift=0.0)
    right = frame_wcs(10.0 + 50 * NATIVE / 3600, 1.0, 60, 60, rot=0.0, shift=0.0)  # overlaps by 10 columns
    grid = tan_grid(10.0 + 27 * NATIVE / 3600, 1.0, 24, NATIVE)
    alone, fp = reproject_onto(np.full((60, 60), 2.0, np.float32), left, grid, (24, 24))
    assert fp.min() == 0 and fp.max() == 1 and not alone[fp == 0].any()
    out, footprint = coadd([(np.full((60, 60), 2.0, np.float32), left), (np.full((60, 60), 4.0, np.float32), right)],
                           grid, (24, 24))
    assert np.all(footprint == 1)
    only_left = (fp == 1) & (reproject_onto(np.ones((60, 60), np.float32), right, grid, (24, 24))[1] == 0)
    np.testing.assert_allclose(out[only_left], 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[fp == 0], 4.0, rtol=1e-6)
    assert np.all((out >= 2.0 - 1e-6) & (out <= 4.0 + 1e-6))
