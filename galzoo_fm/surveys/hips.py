"""Any HiPS image survey through the CDS ``hips2fits`` service, using ``astroquery.hips2fits``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, Latitude, Longitude

from galzoo_fm._utils.http import RETRY_STATUS, DiskCache, HTTPFailure, validate_fits
from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.astroquery_survey import AstroquerySurvey
from galzoo_fm.surveys.base import Cutout, Status, classify_coverage
from galzoo_fm.surveys.grid import header_wcs
from galzoo_fm.surveys.options import DEFAULT, band_list, number, text

__all__ = ["DEFAULT_HIPS", "HiPSSurvey"]

#: Default bands: the DESI Legacy Surveys DR10 g, r, z HiPS at CDS.
DEFAULT_HIPS = ("CDS/P/DESI-Legacy-Surveys/DR10/g", "CDS/P/DESI-Legacy-Surveys/DR10/r",
                "CDS/P/DESI-Legacy-Surveys/DR10/z")


class HiPSSurvey(AstroquerySurvey):
    """Cutouts of any HiPS survey, one ``hips2fits`` request per band (a band is a HiPS id).

    Parameters
    ----------
    {options}

    Notes
    -----
    ``server`` is like ``astroquery.hips2fits.conf.server`` (also ``$GALZOO_FM_HIPS_URL``).
    """

    name: ClassVar[str] = "hips"
    description: ClassVar[str] = "any HiPS image survey via CDS hips2fits (bands are HiPS ids)"
    bands_note: ClassVar[str] = "any HiPS ids, default DESI Legacy DR10 g,r,z"
    native_pixscale: ClassVar[float | None] = None
    max_size: ClassVar[int] = 2000
    default_server: ClassVar[str] = "https://alasky.cds.unistra.fr/hips-image-services/hips2fits"
    default_per_host: ClassVar[int] = 2
    options: ClassVar[dict[str, Setting]] = {
        "bands": band_list(DEFAULT_HIPS, "HiPS ids in output order, comma-separated on the command line, e.g. "
                           "``\"CDS/P/PanSTARRS/DR1/g,CDS/P/PanSTARRS/DR1/r\"``; default ``DEFAULT_HIPS`` (DESI "
                           "Legacy Surveys DR10 g, r, z).", what="HiPS id"),
        "pixscale": number(0.262, "Output arcsec per pixel (the field of view is ``size * pixscale``)."),
        "projection": text("TAN", "hips2fits projection code."),
    }

    def __init__(self, bands: Any = DEFAULT, pixscale: Any = DEFAULT, projection: str = DEFAULT,
                 **http_options: Any):
        super().__init__(**http_options)
        o = self.resolve_options(bands=bands, pixscale=pixscale, projection=projection)
        self.bands = o["bands"]
        self.pixscale = o["pixscale"]
        self.projection = o["projection"]

    def make_client(self):
        from astroquery.hips2fits import hips2fitsClass

        client = hips2fitsClass()
        client.server = self.server
        client.timeout = self.timeout
        return client

    def _one(self, hips: str, ra: float, dec: float, size: int):
        client = self.client()
        kwargs = dict(hips=hips, width=size, height=size, projection=self.projection, ra=Longitude(ra * u.deg),
                      dec=Latitude(dec * u.deg), fov=Angle(size * self.pixscale / 3600.0 * u.deg),
                      coordsys="icrs", rotation_angle=Angle(0 * u.deg), format="fits", min_cut=0.5,
                      max_cut=99.5, stretch="linear", cmap="Greys_r")
        what = f"hips2fits {hips} at ({ra:.5f}, {dec:.5f})"

        def request() -> tuple[bytes, Any]:
            response = client.query_async(**kwargs)
            if response.status_code in RETRY_STATUS:
                response.raise_for_status()  # retried
            if response.status_code != 200:
                try:  # astroquery turns the service's JSON error into a message
                    client._parse_result(response, verbose=False, format="fits")
                    detail = response.reason
                except Exception as exc:
                    detail = str(exc).strip()
                raise HTTPFailure(f"{what}: HTTP {response.status_code}: {detail}", response.status_code)
            return response.content, validate_fits(response.content, what=what)

        key = DiskCache.key(survey=self.name, hips=hips, ra=ra, dec=dec, size=size, pixscale=self.pixscale,
                            projection=self.projection)
        _, hdul = self.cache.fetch(key, lambda: self.call(request, what=what),
                                   lambda b: validate_fits(b, what=what))
        return hdul

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        size = self.check_size(size)
        out = np.zeros((len(self.bands), size, size), np.float32)
        wcs = None
        dtypes = []
        for c, hips in enumerate(self.bands):
            hdul = self._one(hips, ra, dec, size)
            hdu = next(h for h in hdul if h.data is not None)
            img = np.asarray(hdu.data, np.float32)
            if img.shape != (size, size):
                return Cutout.failed(f"hips2fits returned {img.shape} pixels for {hips}, expected ({size}, {size})")
            out[c] = img
            dtypes.append(hdu.data.dtype)  # 8-bit from a JPEG/PNG HiPS: zeros are data, not blanks
            wcs = wcs or header_wcs(hdu.header)
        status, reason = classify_coverage(out, [b.rsplit("/", 1)[-1] for b in self.bands], dtype=dtypes)
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, out, wcs, reason)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "projection": self.projection}
