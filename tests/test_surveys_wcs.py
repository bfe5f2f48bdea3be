"""header_wcs: the celestial WCS of a survey header, as WCS(header).celestial, without FITSFixedWarning."""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from galzoo_fm.surveys.grid import header_wcs


def _header(shape, **cards):
    header = fits.PrimaryHDU(np.zeros(shape, np.float32)).header
    base = dict(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0, CRPIX1=8.5, CRPIX2=6.5,
                CD1_1=-7.3e-5, CD1_2=1e-6, CD2_1=1.2e-6, CD2_2=7.3e-5)
    for key, value in {**base, **cards}.items():
        header[key] = value
    return header


CASES = {
    "legacy band cube (cdfix)": _header((3, 12, 16)),
    "sdss frame (RADECSYS, datfix)": _header((12, 16), RADECSYS="ICRS", EQUINOX=2000.0, **{"DATE-OBS": "2003-03-31"}),
    "NCP projection (celfix)": _header((12, 16), CTYPE1="RA---NCP", CTYPE2="DEC--NCP"),
    "SIP": _header((12, 16), CTYPE1="RA---TAN-SIP", CTYPE2="DEC--TAN-SIP", A_ORDER=2, B_ORDER=2, A_2_0=1e-5,
                   B_0_2=2e-5),
    "upper-case units (set up only after unitfix)": _header((12, 16), CUNIT1="DEG", CUNIT2="DEG"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_wcs_as_astropy(name):
    header = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        ref = WCS(header).celestial
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wcs = header_wcs(header)
    quiet = [str(w.message) for w in caught if issubclass(w.category, FITSFixedWarning)]
    if name.startswith("upper-case"):
        assert len(quiet) == 1 and "unitfix" in quiet[0]  # the documented fallback: astropy's own path
    else:
        assert quiet == []
    assert warnings.filters == filters
    pix = np.array([[0.0, 0.0], [15.0, 3.0], [7.5, 11.0]])
    np.testing.assert_allclose(wcs.all_pix2world(pix, 0), ref.all_pix2world(pix, 0), rtol=0, atol=1e-12)
    assert wcs.naxis == 2 and wcs.pixel_shape == ref.pixel_shape == (16, 12)
    assert list(wcs.wcs.ctype) == list(ref.wcs.ctype) and wcs.wcs.radesys == ref.wcs.radesys
    assert (wcs.sip is None) == (ref.sip is None)
