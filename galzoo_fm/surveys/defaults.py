"""The preprocessing defaults of the built-in surveys: the data their ``Survey.preprocessing`` holds.

A model that recorded no preprocessing is run with its survey's defaults
(:func:`galzoo_fm.embedding.default_preprocessor`). Each entry has the survey's ``bands`` and native
``pixel_scale`` (arcsec/pixel), the arcsinh ``softening`` per band in the survey's flux units per pixel, and
a ``description``. This module imports nothing, so that :mod:`galzoo_fm.preprocess` can read the table
(:data:`galzoo_fm.preprocess.SURVEY_DEFAULTS`) without importing the survey adapters.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUILTIN_PREPROCESSING", "PREPROCESSING_KEYS"]

#: The keys of a survey's preprocessing defaults.
PREPROCESSING_KEYS = ("bands", "pixel_scale", "softening", "description")

#: Per-survey defaults. ``softening`` is the arcsinh softening per band in nanomaggies per pixel.
#: Legacy Surveys and SDSS: ``1 / (Q * scale)`` with the per-band ``scale`` and ``Q = 20`` of the Legacy
#: Surveys viewer's RGB renderings (legacysurvey/imagine), i.e. the flux where those pictures turn from
#: linear to logarithmic. Pan-STARRS: the 1-sigma sky noise per 0.25" pixel of the 3pi stacks, from the 5-sigma
#: point-source depths and seeing of Chambers et al. (2016, arXiv:1612.05560).
BUILTIN_PREPROCESSING: dict[str, dict[str, Any]] = {
    "legacy": {
        "bands": ["g", "r", "i", "z"],
        "pixel_scale": 0.262,
        "softening": {"g": 0.0083, "r": 0.0147, "i": 0.0167, "z": 0.0227},
        "description": "DESI Legacy Imaging Surveys DR9/DR10 (DECam, 90Prime, MzLS), 0.262\"/px",
    },
    "panstarrs": {
        "bands": ["g", "r", "i", "z", "y"],
        "pixel_scale": 0.25,
        "softening": {"g": 0.012, "r": 0.015, "i": 0.017, "z": 0.037, "y": 0.090},
        "description": "Pan-STARRS1 3pi stacks, 0.25\"/px (convert counts to nanomaggies first)",
    },
    "sdss": {
        "bands": ["u", "g", "r", "i", "z"],
        "pixel_scale": 0.396,
        "softening": {"u": 0.0333, "g": 0.0200, "r": 0.0333, "i": 0.0500, "z": 0.125},
        "description": "SDSS imaging frames, 0.396\"/px",
    },
}
