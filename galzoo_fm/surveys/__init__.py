"""Survey adapters: turn sky positions into FITS cutouts on a common band order.

Built-in surveys (``legacy``, ``panstarrs``, ``sdss``, ``hips``, ``skyview``, ``local``) are registered
through the ``register_surveys`` hook in ``galzoo_fm.surveys.builtin``, exactly like third-party ones;
build one with :func:`galzoo_fm.get_survey`. Subclass :class:`Survey` (or :class:`HTTPSurvey`,
:class:`AstroquerySurvey`) to add one.

The names below are imported on first use, so that loading the plugins (``galzoo-fm --help``) does not
import the adapters (``astropy.wcs``, ``requests``, astroquery).
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

__all__ = [
    "AstroquerySurvey",
    "Cutout",
    "HTTPSurvey",
    "HiPSSurvey",
    "LegacySurvey",
    "LocalSurvey",
    "PanSTARRSSurvey",
    "SDSSSurvey",
    "SkyViewSurvey",
    "Status",
    "Survey",
    "describe_surveys",
    "survey_info",
]

_WHERE = {
    "Cutout": "galzoo_fm.cutout",
    "AstroquerySurvey": "astroquery_survey",
    "HTTPSurvey": "http_survey",
    "HiPSSurvey": "hips",
    "LegacySurvey": "legacy",
    "LocalSurvey": "local",
    "PanSTARRSSurvey": "panstarrs",
    "SDSSSurvey": "sdss",
    "SkyViewSurvey": "skyview",
    "Status": "galzoo_fm.cutout",
    "Survey": "base",
    "describe_surveys": "describe",
    "survey_info": "describe",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
