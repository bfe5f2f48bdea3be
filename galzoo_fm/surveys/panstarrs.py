"""Pan-STARRS1 (PS1) stacked images through the STScI ``ps1filenames.py`` + ``fitscut.cgi`` services."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urljoin

import numpy as np
from astropy.io import ascii as asciitable
from astropy.wcs import WCS

from galzoo_fm._utils.http import CorruptResponse, DiskCache
from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.base import Cutout, Status, classify_coverage
from galzoo_fm.surveys.defaults import BUILTIN_PREPROCESSING
from galzoo_fm.surveys.grid import header_wcs, reproject_onto
from galzoo_fm.surveys.http_survey import HTTPSurvey
from galzoo_fm.surveys.options import DEFAULT, band_list, boolean

__all__ = ["PanSTARRSSurvey"]


def _parse_filenames(body: bytes) -> dict[str, str]:
    """``{filter: filename}`` from the whitespace table ``ps1filenames.py`` returns."""
    text = body.decode("utf-8", "replace")
    if "filename" not in text:
        raise CorruptResponse(f"ps1filenames.py answered without a filename column: {text[:80]!r}")
    try:
        table = asciitable.read(text, format="basic", delimiter=" ", guess=False)
    except Exception as exc:
        raise CorruptResponse(f"cannot parse the ps1filenames.py table: {exc}") from None
    if len(table) == 0:
        return {}
    if "filter" not in table.colnames or "filename" not in table.colnames:
        raise CorruptResponse(f"ps1filenames.py table lacks filter/filename columns: {table.colnames}")
    return {str(r["filter"]): str(r["filename"]) for r in table}


class PanSTARRSSurvey(HTTPSurvey):
    """PS1 3π stacks: one ``fitscut.cgi`` request per band, stacked on the first band's pixel grid.

    A band whose grid differs from the first band's is aligned with ``reproject`` (bilinear: all PS1 stacks
    share the 0.25″ scale); see ``galzoo_fm.surveys.grid.reproject_onto``.

    Parameters
    ----------
    {options}

    Notes
    -----
    ``server`` is the ``cgi-bin/`` base URL (also ``$GALZOO_FM_PANSTARRS_URL``).
    """

    name: ClassVar[str] = "panstarrs"
    description: ClassVar[str] = "Pan-STARRS1 3pi stacks (STScI ps1filenames.py + fitscut.cgi)"
    all_bands: ClassVar[tuple[str, ...]] = ("g", "r", "i", "z", "y")
    native_pixscale: ClassVar[float] = 0.25
    preprocessing: ClassVar[dict[str, Any]] = BUILTIN_PREPROCESSING["panstarrs"]
    max_size: ClassVar[int] = 6000
    default_server: ClassVar[str] = "https://ps1images.stsci.edu/cgi-bin/"
    default_per_host: ClassVar[int] = 3
    options: ClassVar[dict[str, Setting]] = {
        "bands": band_list("gri", "Subset of ``grizy`` in output order (all five: ``\"grizy\"``).",
                           allowed=all_bands, what="panstarrs band"),
        "per_exptime": boolean(True, "Divide by ``EXPTIME`` so that every band has zero point 25 (PS1 stacks "
                               "have zero point 25 + 2.5 log10(EXPTIME))."),
    }

    def __init__(self, bands: Any = DEFAULT, per_exptime: Any = DEFAULT, **http_options: Any):
        super().__init__(**http_options)
        if not self.server.endswith("/"):
            self.server += "/"
        o = self.resolve_options(bands=bands, per_exptime=per_exptime)
        self.bands = o["bands"]
        self.pixscale = self.native_pixscale
        self.per_exptime = o["per_exptime"]

    def _filenames(self, ra: float, dec: float) -> dict[str, str]:
        params = {"ra": f"{ra:.8f}", "dec": f"{dec:.8f}", "filters": "".join(self.bands)}
        key = DiskCache.key(survey=self.name, step="filenames", **params)
        _, names = self.cache.fetch(
            key, lambda: self.session.get(urljoin(self.server, "ps1filenames.py"), params,
                                          validate=_parse_filenames, what="ps1filenames.py"),
            _parse_filenames, suffix=".txt")
        return names

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        size = self.check_size(size)
        names = self._filenames(ra, dec)
        if not any(b in names for b in self.bands):
            return Cutout(Status.OFF_FOOTPRINT, reason="ps1filenames.py lists no images here (outside PS1 3pi)")
        out = np.zeros((len(self.bands), size, size), np.float32)
        ref: WCS | None = None
        missing = []
        dtypes = [out.dtype] * len(self.bands)
        for c, band in enumerate(self.bands):
            if band not in names:
                missing.append(band)
                continue
            params = {"red": names[band], "ra": f"{ra:.8f}", "dec": f"{dec:.8f}", "size": size, "format": "fits"}
            hdul = self.get_fits(urljoin(self.server, "fitscut.cgi"), params, key=params,
                                 what=f"fitscut.cgi {band} at ({ra:.5f}, {dec:.5f})")
            hdu = next(h for h in hdul if h.data is not None)
            img = np.asarray(hdu.data, np.float32)
            dtypes[c] = hdu.data.dtype
            if img.ndim != 2:
                return Cutout.failed(f"fitscut.cgi returned a {img.ndim}-D image for band {band}")
            if self.per_exptime and float(hdu.header.get("EXPTIME", 0)) > 0:
                img = img / np.float32(hdu.header["EXPTIME"])
            wcs = header_wcs(hdu.header)
            if ref is None:
                ref = wcs
                if img.shape != (size, size):
                    return Cutout.failed(f"fitscut.cgi returned {img.shape} pixels, expected ({size}, {size})")
                out[c] = img
            else:
                out[c] = reproject_onto(img, wcs, ref, (size, size))[0]
        status, reason = classify_coverage(out, self.bands, dtype=dtypes)
        if missing and status is Status.OK:
            status, reason = Status.PARTIAL, f"no PS1 image in band(s) {', '.join(missing)}"
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, out, ref, reason)

    def provenance(self) -> dict[str, Any]:
        units = "counts/s (zero point 25)" if self.per_exptime else "counts (zero point 25 + 2.5 log10 EXPTIME)"
        return {**super().provenance(), "units": units}
