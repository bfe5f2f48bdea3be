"""NASA SkyView through ``astroquery.skyview``: the form protocol via astroquery, FITS downloads via our session."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from galzoo_fm._utils.http import DiskCache, validate_fits
from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.astroquery_survey import AstroquerySurvey
from galzoo_fm.surveys.base import Cutout, Status, classify_coverage
from galzoo_fm.surveys.grid import header_wcs
from galzoo_fm.surveys.options import DEFAULT, band_list, number

__all__ = ["SkyViewSurvey"]


class SkyViewSurvey(AstroquerySurvey):
    """Cutouts from any SkyView survey; a band is a SkyView survey name (``"SDSSg"``, ``"DSS2 Red"``, ...).

    Parameters
    ----------
    {options}

    Notes
    -----
    ``server`` is the ``basicform.pl`` URL, like ``astroquery.skyview.conf.url`` (also
    ``$GALZOO_FM_SKYVIEW_URL``).
    """

    name: ClassVar[str] = "skyview"
    description: ClassVar[str] = "NASA SkyView surveys via astroquery.skyview (bands are SkyView survey names)"
    bands_note: ClassVar[str] = "SkyView survey names, default SDSSg,SDSSr,SDSSi"
    max_size: ClassVar[int] = 1000
    default_server: ClassVar[str] = "https://skyview.gsfc.nasa.gov/current/cgi/basicform.pl"
    default_per_host: ClassVar[int] = 2
    options: ClassVar[dict[str, Setting]] = {
        "bands": band_list(("SDSSg", "SDSSr", "SDSSi"), "SkyView survey names in output order (comma-separated on "
                           "the command line).", what="SkyView survey"),
        "pixscale": number(0.396, "Output arcsec per pixel (SkyView resamples)."),
    }

    def __init__(self, bands: Any = DEFAULT, pixscale: Any = DEFAULT, **http_options: Any):
        super().__init__(**http_options)
        o = self.resolve_options(bands=bands, pixscale=pixscale)
        self.bands = o["bands"]
        self.pixscale = o["pixscale"]

    def make_client(self):
        from astroquery.skyview import SkyViewClass

        client = SkyViewClass()
        client.URL = self.server
        return client

    def _urls(self, ra: float, dec: float, size: int) -> list[str]:
        client = self.client()
        side = size * self.pixscale * u.arcsec
        position = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
        urls = self.call(lambda: client.get_image_list(position=position, survey=list(self.bands),
                                                       pixels=str(size), width=side, height=side,
                                                       projection="Tan", coordinates="J2000", cache=False),
                         what=f"SkyView query at ({ra:.5f}, {dec:.5f})")
        if len(urls) != len(self.bands):
            raise ValueError(f"SkyView returned {len(urls)} FITS links for {len(self.bands)} surveys")
        return urls

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        size = self.check_size(size)
        keys = [DiskCache.key(survey=self.name, band=b, ra=ra, dec=dec, size=size, pixscale=self.pixscale)
                for b in self.bands]
        hits = [self.cache.get(k, validate_fits) for k in keys]
        urls = None if all(h is not None for h in hits) else self._urls(ra, dec, size)
        out = np.zeros((len(self.bands), size, size), np.float32)
        wcs = None
        dtypes = []
        for c, band in enumerate(self.bands):
            if hits[c] is not None:
                hdul = hits[c][1]
            else:
                body, hdul = self.session.get(urls[c], validate=validate_fits, what=f"SkyView {band} image")
                self.cache.put(keys[c], body)
            img = np.asarray(hdul[0].data, np.float32)
            if img.shape != (size, size):
                return Cutout.failed(f"SkyView returned {img.shape} pixels for {band}, expected ({size}, {size})")
            out[c] = img
            dtypes.append(hdul[0].data.dtype)
            wcs = wcs or header_wcs(hdul[0].header)
        status, reason = classify_coverage(out, self.bands, dtype=dtypes)
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, out, wcs, reason)
