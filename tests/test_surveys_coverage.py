"""classify_coverage: what a missing pixel is, by the bit depth the survey delivered; and through the adapters."""

import numpy as np
import pytest
from _survey_servers import tan_header
from astropy.io import fits

import galzoo_fm
from galzoo_fm.cutout import Status
from galzoo_fm.surveys.base import classify_coverage

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(1, 256, (3, 64, 64)).astype(np.uint8)  # no zeros of its own


def _cov(image, dtype=None):
    """classify_coverage as the adapters call it: on float32 pixels, with the delivered dtype."""
    return classify_coverage(image.astype(np.float32), ["g", "r", "z"], dtype=image.dtype if dtype is None else dtype)


def test_8bit_scattered_zeros_are_data():
    img = RGB8.copy()
    img[2][RNG.random((64, 64)) < 0.02] = 0  # dark sky clipped to 0 in one channel of a JPEG
    img[0][RNG.random((64, 64)) < 0.05] = 0
    assert _cov(img) == (Status.OK, "")
    blocks = RGB8.copy()  # JPEG-like 8x8 blocks of zeros, one on the border: still data
    for y, x in [(0, 8), (16, 24), (40, 40), (48, 8), (56, 56)]:
        blocks[1, y:y + 8, x:x + 8] = 0
    assert _cov(blocks) == (Status.OK, "")
    # the same zeros in float data are blanks (coadds fill blanks with exact 0.0): unchanged rule
    status, reason = _cov(blocks, np.float32)
    assert status is Status.PARTIAL and reason == "missing pixels: r 8%"


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16])
def test_integer_blank_edges_are_missing(dtype):
    img = RGB8.astype(dtype)
    img[:, :, :19] = 0  # a footprint boundary: the left 30 % blank in every band
    assert _cov(img) == (Status.PARTIAL, "missing pixels: g 30%, r 30%, z 30%")
    corner = RGB8.astype(dtype)
    yy, xx = np.mgrid[0:64, 0:64]
    corner[1][xx + yy < 40] = 0  # a slanted boundary leaves a blank corner (20 %) in one band
    corner[2][RNG.random((64, 64)) < 0.02] = 0
    assert _cov(corner) == (Status.PARTIAL, "missing pixels: r 20%")
    row = RGB8.astype(dtype)
    row[0, 30] = 0  # one dead row counts (1.6 %: under the threshold) ...
    row[0, 31:33] = 0  # ... and three of them do
    assert _cov(row) == (Status.PARTIAL, "missing pixels: g 5%")
    assert _cov(np.zeros((3, 64, 64), dtype))[0] is Status.OFF_FOOTPRINT


def test_float_zeros_and_nan_unchanged():
    img = RNG.normal(0, 1, (3, 64, 64)).astype(np.float32)
    img[0][RNG.random((64, 64)) < 0.05] = 0.0
    img[1, 0, 0] = np.nan
    status, reason = classify_coverage(img, ["g", "r", "z"])
    assert status is Status.PARTIAL and reason.startswith("missing pixels: g 5%") and img[1, 0, 0] == 0.0
    with pytest.raises(ValueError, match="2 dtypes for 3 bands"):
        classify_coverage(img, ["g", "r", "z"], dtype=[np.uint8, np.uint8])


def test_local_8bit_image_with_clipped_sky_is_ok(tmp_path):
    """An 8-bit RGB cube (e.g. converted from a JPEG) through the local adapter: zeros are sky, edges blank."""
    cube = RNG.integers(1, 256, (3, 200, 200)).astype(np.uint8)
    cube[2][RNG.random((200, 200)) < 0.04] = 0  # 4 % clipped sky in one channel
    cube[:, :, 150:] = 0  # the image's own blank margin (beyond the footprint)
    header = tan_header(10.0, 0.0, 200, 200, 0.5)
    for i, b in enumerate("grz"):
        header[f"BAND{i}"] = b
    fits.PrimaryHDU(cube, header).writeto(tmp_path / "rgb8.fits")
    survey = galzoo_fm.get_survey("local", path=str(tmp_path / "rgb8.fits"))
    # pixel x = 100 is the image centre (RA 10); 0.5"/px: RA grows to the east (smaller x)
    inner, edge = survey.fetch_batch(np.array([10.0, 10.0 - 50 * 0.5 / 3600]), np.array([0.0, 0.0]), 64)
    assert inner.status is Status.OK, inner.reason
    assert edge.status is Status.PARTIAL and edge.reason == "missing pixels: g 50%, r 50%, z 50%"
