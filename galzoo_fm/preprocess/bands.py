"""Survey defaults (bands, pixel scales, arcsinh softening) and the mapping of survey bands to model channels.

All fluxes are in **nanomaggies** (AB zero point 22.5, the Legacy Surveys and SDSS unit). Pan-STARRS
``fitscut`` cutouts come in counts with zero point ``ZP = 25 + 2.5 log10(EXPTIME)``; convert them with
``flux = counts * 10**(-0.4 * (ZP - 22.5))`` before using these defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from galzoo_fm._utils.checks import one_of
from galzoo_fm.surveys.defaults import BUILTIN_PREPROCESSING

__all__ = ["BAND_WAVELENGTHS", "FILTER_WAVELENGTHS", "MISSING_BAND_RULES", "SURVEY_DEFAULTS", "band_mapping",
           "band_wavelength", "survey_defaults"]

#: Approximate effective wavelengths in nm; used only to order bands (``missing_band="nearest"``, RGB planes).
BAND_WAVELENGTHS: dict[str, float] = {
    "u": 355.0, "g": 475.0, "r": 620.0, "i": 760.0, "z": 900.0, "y": 970.0,
    "VIS": 715.0, "Y": 1080.0, "J": 1370.0, "H": 1770.0,
}

#: Pivot wavelengths in nm of other filters, matched case-insensitively by :func:`band_wavelength` (used to
#: order the planes of colour pictures): HST ACS/WFC and WFC3 (UVIS and IR), JWST NIRCam wide filters,
#: K/Ks, WISE W1-W4 and GALEX. ``F410M`` is left out: HST's is at 410 nm, JWST's at 4.1 µm.
FILTER_WAVELENGTHS: dict[str, float] = {
    "F225W": 237.0, "F275W": 271.0, "F336W": 335.0, "F390W": 392.0, "F435W": 433.0, "F438W": 433.0,
    "F475W": 475.0, "F555W": 534.0, "F606W": 590.0, "F625W": 629.0, "F775W": 767.0, "F814W": 805.0,
    "F850LP": 905.0, "F098M": 986.0, "F105W": 1055.0, "F110W": 1153.0, "F125W": 1249.0, "F140W": 1392.0,
    "F160W": 1537.0, "F070W": 704.0, "F090W": 902.0, "F115W": 1154.0, "F150W": 1501.0, "F200W": 1990.0,
    "F277W": 2786.0, "F356W": 3563.0, "F444W": 4421.0, "K": 2190.0, "KS": 2150.0, "W1": 3400.0,
    "W2": 4600.0, "W3": 12000.0, "W4": 22000.0, "FUV": 153.0, "NUV": 231.0,
}
_FILTERS_UPPER = {k.upper(): v for k, v in FILTER_WAVELENGTHS.items()}

#: Per-survey defaults (``bands``, ``pixel_scale``, ``softening`` per band in nanomaggies per pixel,
#: ``description``) of the built-in surveys: the values their classes hold as
#: ``preprocessing`` (:meth:`~galzoo_fm.surveys.Survey.preprocessing_defaults`; the table and its sources are in
#: ``galzoo_fm.surveys.defaults``). A plugin survey supplies its own on its class.
SURVEY_DEFAULTS: dict[str, dict[str, Any]] = BUILTIN_PREPROCESSING

#: Rules for a model band that the input lacks: ``"error"`` raises ``ValueError``; ``"zero"`` fills a
#: zero (background) channel; ``"nearest"`` copies the input band closest in effective wavelength (ties go
#: to the bluer band). Both fills set :attr:`~galzoo_fm.preprocess.PreprocessFlag.MISSING_BAND`.
MISSING_BAND_RULES = ("error", "zero", "nearest")


def survey_defaults(survey: str) -> dict[str, Any]:
    """A copy of the defaults of ``survey`` (one of :data:`SURVEY_DEFAULTS`).

    Raises
    ------
    ValueError
        For an unknown survey name; the message lists the known ones.
    """
    if not isinstance(survey, str) or survey.lower() not in SURVEY_DEFAULTS:
        raise ValueError(f"unknown survey {survey!r}; known surveys: {', '.join(SURVEY_DEFAULTS)}")
    entry = SURVEY_DEFAULTS[survey.lower()]
    return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in entry.items()}


def check_band_names(bands: Any, what: str) -> list[str]:
    """``bands`` as a list of distinct non-empty strings, or a ``TypeError``/``ValueError`` naming ``what``."""
    if isinstance(bands, str) or not isinstance(bands, Sequence):
        raise TypeError(f"{what} must be a list of band names such as ['g', 'r', 'z'], got {bands!r}")
    out = []
    for b in bands:
        if not isinstance(b, str) or not b.strip():
            raise TypeError(f"{what} must hold non-empty strings, got {b!r} in {list(bands)!r}")
        out.append(b.strip())
    if not out:
        raise ValueError(f"{what} is empty; give at least one band name")
    dupes = sorted({b for b in out if out.count(b) > 1})
    if dupes:
        raise ValueError(f"{what} names band(s) {', '.join(dupes)} more than once: {out}")
    return out


def band_wavelength(band: str) -> float | None:
    """Effective wavelength in nm of a band name, or ``None`` when it is not known.

    The rules, in order: the exact name in :data:`BAND_WAVELENGTHS` (``"g"``, ``"Y"``: case matters, PS1
    ``y`` is not UKIRT ``Y``); the name in :data:`FILTER_WAVELENGTHS`, any case (``"F606W"``, ``"f160w"``,
    ``"Ks"``); the same two for the part after the last ``/``, ``_``, ``-``, ``:`` or space (HiPS ids such
    as ``"CDS/P/DESI-Legacy-Surveys/DR10/g"``, ``"DECam_r"``, ``"2MASS-J"``, ``"ACS_F814W"``); and SkyView's
    ``"SDSSg"`` style (``SDSS`` and one letter).

    Examples
    --------
    >>> from galzoo_fm.preprocess import band_wavelength
    >>> band_wavelength("z"), band_wavelength("f160w"), band_wavelength("CDS/P/PanSTARRS/DR1/g")
    (900.0, 1537.0, 475.0)
    >>> band_wavelength("band0") is None
    True
    """
    def lookup(name: str) -> float | None:
        if name in BAND_WAVELENGTHS:
            return BAND_WAVELENGTHS[name]
        return _FILTERS_UPPER.get(name.upper())

    name = str(band).strip()
    found = lookup(name)
    if found is None:
        tail = re.split(r"[/_\-: ]", name)[-1]
        found = lookup(tail) if tail and tail != name else None
    if found is None:
        m = re.fullmatch(r"SDSS([ugriz])", name)
        found = BAND_WAVELENGTHS[m.group(1)] if m else None
    return found


def _nearest(band: str, available: Sequence[str]) -> str:
    unknown = [b for b in (band, *available) if b not in BAND_WAVELENGTHS]
    if unknown:
        raise ValueError(
            f"missing_band='nearest' needs effective wavelengths, but band(s) {', '.join(unknown)} are not in "
            f"BAND_WAVELENGTHS ({', '.join(BAND_WAVELENGTHS)}); use missing_band='zero' or supply the band"
        )
    lam = BAND_WAVELENGTHS[band]
    return min(available, key=lambda b: (abs(BAND_WAVELENGTHS[b] - lam), BAND_WAVELENGTHS[b]))


def band_mapping(model_bands: Sequence[str], input_bands: Sequence[str], missing: str = "error") -> np.ndarray:
    """Input channel index for each model channel: the rule that maps survey bands to model channels.

    Each model band is taken from the input channel with exactly the same name (bands are reordered and
    extra input bands dropped). A model band the input lacks follows ``missing`` (see
    :data:`MISSING_BAND_RULES`).

    Parameters
    ----------
    model_bands, input_bands : sequence of str
        Band names of the model's channels and of the input array's channels, in channel order.
    missing : {"error", "zero", "nearest"}
        Rule for a model band absent from the input.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(model_bands),)``, int: the input channel of each model channel, ``-1`` for a channel
        to fill with zeros.

    Raises
    ------
    ValueError
        A model band is missing and ``missing="error"``, no model band is present at all, the names repeat,
        or ``missing`` is unknown.

    Examples
    --------
    >>> from galzoo_fm.preprocess import band_mapping
    >>> band_mapping(["g", "r", "z"], ["z", "r", "i", "g"]).tolist()
    [3, 1, 0]
    >>> band_mapping(["g", "r", "y"], ["g", "r", "z"], missing="nearest").tolist()
    [0, 1, 2]
    """
    model_bands = check_band_names(model_bands, "model bands")
    input_bands = check_band_names(input_bands, "input bands")
    one_of(missing, MISSING_BAND_RULES, "missing_band")
    absent = [b for b in model_bands if b not in input_bands]
    if absent and missing == "error":
        near = {b: [x for x in input_bands if x.lower() == b.lower()] for b in absent}
        hint = "".join(f"; did you mean {near[b][0]!r} for {b!r}?" for b in absent if near[b])
        raise ValueError(
            f"model band(s) {', '.join(map(repr, absent))} not among the input bands {input_bands}{hint} "
            "(bands match by exact name; pass missing_band='zero' or 'nearest' to fill them)"
        )
    if len(absent) == len(model_bands):
        raise ValueError(f"none of the model bands {model_bands} is among the input bands {input_bands}")
    index = []
    for b in model_bands:
        if b in input_bands:
            index.append(input_bands.index(b))
        elif missing == "zero":
            index.append(-1)
        else:
            index.append(input_bands.index(_nearest(b, input_bands)))
    return np.asarray(index, dtype=np.int64)
