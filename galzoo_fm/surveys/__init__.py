"""Survey adapters: turn sky positions into FITS cutouts on a common band order.

Built-in surveys (``legacy``, ``panstarrs``, ``sdss``, ``hips``, ``skyview``, ``local``) are registered
through the ``register_surveys`` hook in :mod:`galzoo_fm.surveys.builtin`, exactly like third-party ones;
build one with :func:`galzoo_fm.get_survey`. Subclass :class:`Survey` (or :class:`HTTPSurvey`) to add one.
"""

from __future__ import annotations

from .base import Cutout, Status, Survey
from .describe import describe_surveys, survey_info
from .hips import HiPSSurvey
from .legacy import LegacySurvey
from .local import LocalSurvey
from .panstarrs import PanSTARRSSurvey
from .remote import HTTPSurvey
from .sdss import SDSSSurvey
from .skyview import SkyViewSurvey

__all__ = [
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
