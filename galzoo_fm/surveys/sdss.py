"""SDSS imaging: frames found with ``astroquery.sdss``, downloaded once, cut and aligned locally.

For each position astroquery's CrossID query (the same one ``SDSS.get_images(coordinates=...)`` runs)
names the run / rerun / camcol / field; the corrected frames of every band (``frame-<band>-....fits.bz2``,
2048 × 1489 pixels, 0.396″/px, nanomaggies, TAN WCS) are downloaded at the URL astroquery's
``IMAGING_URL_SUFFIX`` template gives, validated, cached on disk and in memory (neighbouring objects reuse
them), and reprojected with ``reproject`` onto one north-up TAN grid centred on the object, which aligns the
bands: bilinear interpolation at the native scale, exact (flux-conserving) overlap at another ``pixscale``. A
cutout that runs off its field's frame is completed from the neighbouring fields of the same run and camcol
(``field ± 1``), averaged where frames overlap (:func:`~galzoo_fm.surveys.grid.coadd`).
"""

from __future__ import annotations

import bz2
import json
import threading
from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from galzoo_fm._utils.http import CorruptResponse, DiskCache, HTTPFailure, server_url, validate_fits
from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.astroquery_survey import AstroquerySurvey
from galzoo_fm.surveys.base import Cutout, Status, classify_coverage
from galzoo_fm.surveys.defaults import BUILTIN_PREPROCESSING
from galzoo_fm.surveys.grid import coadd, header_wcs, reproject_onto, tan_grid
from galzoo_fm.surveys.options import DEFAULT, band_list, integer, number, text

__all__ = ["SDSSSurvey"]


def _crossid_radius(value: float, key: str) -> float:
    if value > 180:
        raise ValueError(f"option {key}={value} arcsec exceeds astroquery's CrossID limit of 180")
    return value


def _frame(body: bytes, what: str) -> tuple[np.ndarray, WCS]:
    """Decode a (bz2-compressed) frame: ``(image (H, W) float32, celestial WCS)``."""
    if body[:3] == b"BZh":
        try:
            body = bz2.decompress(body)
        except (OSError, ValueError, EOFError) as exc:
            raise CorruptResponse(f"{what} is a corrupt bz2 file: {exc}") from None
    hdul = validate_fits(body, what=what)
    hdu = hdul[0]
    if hdu.data is None or hdu.data.ndim != 2:
        raise CorruptResponse(f"{what} has no 2-D primary image")
    return np.asarray(hdu.data, np.float32), header_wcs(hdu.header)


class SDSSSurvey(AstroquerySurvey):
    """SDSS ``ugriz`` cutouts cut from whole frames.

    Parameters
    ----------
    {options}

    Notes
    -----
    ``server`` is the SkyServer base URL (``astroquery.sdss.conf.skyserver_baseurl``; also
    ``$GALZOO_FM_SDSS_URL``), ``sas_server`` the Science Archive Server's (``conf.sas_baseurl``). astroquery
    reads these process-wide, so all SDSS surveys in one process share them.
    """

    name: ClassVar[str] = "sdss"
    description: ClassVar[str] = "SDSS imaging frames via astroquery.sdss, cut and band-aligned locally"
    all_bands: ClassVar[tuple[str, ...]] = ("u", "g", "r", "i", "z")
    native_pixscale: ClassVar[float] = 0.396
    preprocessing: ClassVar[dict[str, Any]] = BUILTIN_PREPROCESSING["sdss"]
    max_size: ClassVar[int] = 1024
    default_server: ClassVar[str] = "https://skyserver.sdss.org"
    default_per_host: ClassVar[int] = 2
    options: ClassVar[dict[str, Setting]] = {
        "bands": band_list("gri", "Subset of ``ugriz`` in output order.", allowed=all_bands, what="SDSS band"),
        "pixscale": number(None, "Output arcsec per pixel; default the native 0.396. At another scale the frames "
                           "are reprojected with exact overlap (flux-conserving; pixel values stay in nanomaggies per "
                           "native pixel, i.e. a mean)."),
        "data_release": integer(17, "SDSS data release."),
        "radius": number(30.0, "CrossID search radius in arcsec for the nearest primary object whose field is "
                         "used (max 180).", rule=_crossid_radius),
        "frames_in_memory": integer(16, "Decoded frames kept in memory for neighbouring objects."),
        "sas_server": text(None, "Science Archive Server base URL; default ``$GALZOO_FM_SDSS_SAS_URL`` or "
                           "https://data.sdss.org/sas."),
    }

    def __init__(self, bands: Any = DEFAULT, pixscale: Any = DEFAULT, data_release: Any = DEFAULT,
                 radius: Any = DEFAULT, frames_in_memory: Any = DEFAULT, sas_server: str | None = DEFAULT,
                 **http_options: Any):
        super().__init__(**http_options)
        o = self.resolve_options(bands=bands, pixscale=pixscale, data_release=data_release, radius=radius,
                                 frames_in_memory=frames_in_memory, sas_server=sas_server)
        self.sas_server = server_url("sdss_sas", o["sas_server"], "https://data.sdss.org/sas").rstrip("/")
        self.server = self.server.rstrip("/")
        self.bands = o["bands"]
        self.pixscale = o["pixscale"] if o["pixscale"] is not None else self.native_pixscale
        self.data_release = o["data_release"]
        self.radius = o["radius"]
        self.layer = f"dr{self.data_release}"
        self._frames: OrderedDict[tuple, tuple[np.ndarray, WCS]] = OrderedDict()
        self._frames_max = o["frames_in_memory"]
        self._frames_lock = threading.Lock()

    def make_client(self):
        from astroquery.sdss import SDSSClass, conf

        conf.skyserver_baseurl = self.server
        conf.sas_baseurl = self.sas_server
        return SDSSClass()

    def _field(self, ra: float, dec: float) -> dict[str, int] | None:
        client = self.client()
        key = DiskCache.key(survey=self.name, step="crossid", ra=ra, dec=dec, radius=self.radius,
                            dr=self.data_release)
        hit = self.cache.get(key, suffix=".json")
        if hit is not None:
            return json.loads(hit[0]) or None
        coord = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
        table = self.call(lambda: client.query_crossid(
            coord, radius=self.radius * u.arcsec, photoobj_fields=["run", "rerun", "camcol", "field"],
            data_release=self.data_release, cache=False, timeout=self.timeout),
            what=f"SDSS CrossID at ({ra:.5f}, {dec:.5f})")
        found = None
        if table is not None and len(table):
            found = {k: int(table[0][k]) for k in ("run", "rerun", "camcol", "field")}
        self.cache.put(key, json.dumps(found).encode(), suffix=".json")
        return found

    def frame_url(self, field: dict[str, int], band: str) -> str:
        """The frame URL, from astroquery's ``SDSSClass.IMAGING_URL_SUFFIX`` template."""
        from astroquery.sdss import SDSSClass

        dr = self.data_release
        instrument = "prior-surveys/sdss4-dr17-eboss" if dr > 17 else "eboss" if dr > 12 else "boss"
        return SDSSClass.IMAGING_URL_SUFFIX.format(base=self.sas_server, dr=dr, instrument=instrument, band=band,
                                                   **field)

    def _get_frame(self, field: dict[str, int], band: str) -> tuple[np.ndarray, WCS]:
        key = (self.data_release, field["run"], field["rerun"], field["camcol"], field["field"], band)
        with self._frames_lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        url = self.frame_url(field, band)
        what = f"SDSS frame {url.rsplit('/', 1)[-1]}"
        disk_key = DiskCache.key(survey=self.name, step="frame", frame=list(key))
        _, frame = self.cache.fetch(disk_key, lambda: self.session.get(url, validate=lambda b: _frame(b, what),
                                                                       what=what),
                                    lambda b: _frame(b, what), suffix=".fits.bz2")
        with self._frames_lock:
            self._frames[key] = frame
            while len(self._frames) > self._frames_max:
                self._frames.popitem(last=False)
        return frame

    def _neighbours(self, field: dict[str, int], band: str) -> list[tuple[np.ndarray, WCS]]:
        """The frames of ``field ± 1`` in the same run and camcol (those the archive has)."""
        found = []
        for step in (-1, 1):
            other = {**field, "field": field["field"] + step}
            if other["field"] < 0:
                continue
            try:
                found.append(self._get_frame(other, band))
            except HTTPFailure as exc:
                if exc.status_code != 404:  # no such field at the end of a run: nothing to add
                    raise
        return found

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        size = self.check_size(size)
        field = self._field(ra, dec)
        if field is None:
            return Cutout(Status.OFF_FOOTPRINT, reason=f"no SDSS primary object within {self.radius}\" (outside "
                                                       "the imaging footprint?)")
        grid = tan_grid(ra, dec, size, self.pixscale)
        out = np.zeros((len(self.bands), size, size), np.float32)
        for c, band in enumerate(self.bands):
            image, wcs = self._get_frame(field, band)
            out[c], footprint = reproject_onto(image, wcs, grid, (size, size))
            if footprint.min() < 0.99:  # the cutout straddles the frame's edge: add the neighbouring fields
                frames = [(image, wcs), *self._neighbours(field, band)]
                if len(frames) > 1:
                    out[c] = coadd(frames, grid, (size, size))[0]
        status, reason = classify_coverage(out, self.bands)
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, out, grid, reason)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "sas_server": self.sas_server, "units": "nanomaggies",
                "data_release": self.data_release}
