"""DESI Legacy Imaging Surveys through the Legacy Survey viewer's ``fits-cutout`` service."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from astropy.io import fits

from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.base import Cutout, Status, classify_coverage, parse_bands
from galzoo_fm.surveys.defaults import BUILTIN_PREPROCESSING
from galzoo_fm.surveys.grid import header_wcs
from galzoo_fm.surveys.http_survey import HTTPSurvey
from galzoo_fm.surveys.options import DEFAULT, band_list, boolean, number, text

__all__ = ["LAYERS", "LegacySurvey"]

#: Layer → (bands it serves, native pixel scale in arcsec/px).
LAYERS: dict[str, tuple[tuple[str, ...], float]] = {
    "ls-dr10": (("g", "r", "i", "z"), 0.262),
    "ls-dr9": (("g", "r", "z"), 0.262),
    "ls-dr10-south": (("g", "r", "i", "z"), 0.262),
    "hsc-dr3": (("g", "r", "i", "z", "y"), 0.168),
    "des-dr1": (("g", "r", "i", "z", "Y"), 0.262),
    "sdss": (("g", "r", "i"), 0.396),
}


def _layer(value: Any, key: str) -> str:
    if value not in LAYERS:
        raise ValueError(f"unknown legacy layer {value!r}; available: {', '.join(LAYERS)}")
    return value


def _header_bands(header: fits.Header, nband: int) -> list[str]:
    names = [str(header.get(f"BAND{i}", "")).strip() for i in range(nband)]
    if all(names):
        return names
    text = str(header.get("BANDS", "")).strip()
    return list(text) if len(text) == nband else [""] * nband


class LegacySurvey(HTTPSurvey):
    """Cutouts from the Legacy Survey viewer (``/viewer/fits-cutout``).

    Parameters
    ----------
    {options}

    Notes
    -----
    The service returns one primary HDU holding a float32 cube ``(nband, H, W)`` in nanomaggies with
    ``BANDS`` / ``BAND<i>`` keywords and a TAN WCS. Outside the footprint it returns zeros, recorded as
    ``off_footprint``; zero-filled bands or regions make a cutout ``partial``. The server also comes from
    ``$GALZOO_FM_LEGACY_URL``.
    """

    name: ClassVar[str] = "legacy"
    description: ClassVar[str] = "DESI Legacy Imaging Surveys (legacysurvey.org viewer fits-cutout)"
    all_bands: ClassVar[tuple[str, ...]] = ("g", "r", "i", "z", "y", "Y")
    layers: ClassVar[tuple[str, ...]] = tuple(LAYERS)
    native_pixscale: ClassVar[float] = 0.262
    preprocessing: ClassVar[dict[str, Any]] = BUILTIN_PREPROCESSING["legacy"]
    max_size: ClassVar[int] = 512
    default_server: ClassVar[str] = "https://www.legacysurvey.org/viewer/fits-cutout"
    default_per_host: ClassVar[int] = 4
    options: ClassVar[dict[str, Setting]] = {
        "layer": text("ls-dr10", f"One of ``LAYERS``: {', '.join(LAYERS)}.", rule=_layer),
        "bands": band_list(None, "Bands in output order, e.g. ``\"grz\"``; default all bands of the layer.",
                           parse=False),
        "pixscale": number(None, "Arcsec per pixel; default the layer's native scale."),
        "invvar": boolean(False, "Also fetch the inverse-variance planes (stored as the ``invvar`` plane)."),
    }

    def __init__(self, layer: str = DEFAULT, bands: Any = DEFAULT, pixscale: Any = DEFAULT, invvar: Any = DEFAULT,
                 **http_options: Any):
        layer = self.resolve_options(layer=layer)["layer"]
        super().__init__(**http_options)
        o = self.resolve_options(bands=bands, pixscale=pixscale, invvar=invvar)
        layer_bands, native = LAYERS[layer]
        self.layer = layer
        self.bands = parse_bands(o["bands"], layer_bands, what=f"{layer} band") or layer_bands
        self.pixscale = o["pixscale"] if o["pixscale"] is not None else native
        self.invvar = o["invvar"]
        self.extras = ("invvar",) if self.invvar else ()

    @classmethod
    def info(cls) -> dict[str, Any]:
        notes = "; ".join(f"{k}: {''.join(b)} @ {p}\"/px" for k, (b, p) in LAYERS.items())
        return {**super().info(), "bands_note": notes}

    def _params(self, ra: float, dec: float, size: int) -> dict[str, Any]:
        params: dict[str, Any] = {"ra": f"{ra:.8f}", "dec": f"{dec:.8f}", "layer": self.layer,
                                  "pixscale": f"{self.pixscale:g}", "size": size, "bands": "".join(self.bands)}
        if self.invvar:
            params["invvar"] = 1
        return params

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        size = self.check_size(size)
        params = self._params(ra, dec, size)
        hdul = self.get_fits(self.server, params, key=params, what=f"legacy cutout at ({ra:.5f}, {dec:.5f})")
        return self._parse(hdul, size)

    def _parse(self, hdul: fits.HDUList, size: int) -> Cutout:
        primary = hdul[0]
        cube = np.asarray(primary.data, dtype=np.float32)
        if cube.ndim == 2:
            cube = cube[None]
        if cube.ndim != 3 or cube.shape[1:] != (size, size):
            return Cutout.failed(f"legacy returned an image of shape {cube.shape}, expected (nband, {size}, {size})")
        names = _header_bands(primary.header, cube.shape[0])
        out = np.zeros((len(self.bands), size, size), np.float32)
        got = []
        for i, band in enumerate(self.bands):
            if band in names:
                out[i] = cube[names.index(band)]
                got.append(band)
            elif cube.shape[0] == len(self.bands) and not any(names):
                out[i] = cube[i]
                got.append(band)
        wcs = header_wcs(primary.header)
        status, reason = classify_coverage(out, self.bands, dtype=primary.data.dtype)
        missing = [b for b in self.bands if b not in got]
        if missing and status is Status.OK:
            status, reason = Status.PARTIAL, f"bands not served here: {', '.join(missing)}"
        extras = {}
        if self.invvar:
            ivar = next((np.asarray(h.data, np.float32) for h in hdul[1:]
                         if h.data is not None and np.shape(h.data)[-2:] == (size, size)), None)
            if ivar is None:
                return Cutout.failed("legacy response has no inverse-variance HDU although invvar was asked for")
            ivar = ivar[None] if ivar.ndim == 2 else ivar
            plane = np.zeros_like(out)
            for i, band in enumerate(self.bands):
                if band in names and names.index(band) < ivar.shape[0]:
                    plane[i] = ivar[names.index(band)]
            extras["invvar"] = np.nan_to_num(plane, nan=0.0, posinf=0.0, neginf=0.0)
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, out, wcs, reason, extras)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "units": "nanomaggies", "invvar": self.invvar}
