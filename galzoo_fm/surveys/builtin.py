"""The built-in surveys, registered through the same ``register_surveys`` hook as third-party plugins.

Factories are imported lazily so that listing surveys does not import astroquery.
"""

from __future__ import annotations

from typing import Any

from galzoo_fm.hookspecs import hookimpl

__all__ = ["lazy_survey", "register_surveys"]


def lazy_survey(module: str, cls: str):
    """A survey factory that imports ``module`` (a dotted path) and builds ``cls`` only when first called."""
    def factory(**options: Any):
        import importlib

        return getattr(importlib.import_module(module), cls)(**options)

    factory.__name__ = cls

    def info() -> dict[str, Any]:
        import importlib

        return getattr(importlib.import_module(module), cls).info()

    factory.info = info

    def target() -> type:  # the class, for messages that name its options (galzoo_fm.fetch.build_survey)
        import importlib

        return getattr(importlib.import_module(module), cls)

    factory.target = target
    return factory


_BUILTINS = {
    "legacy": ("legacy", "LegacySurvey", "DESI Legacy Imaging Surveys viewer fits-cutout (DR9/DR10, HSC, DES, SDSS)"),
    "panstarrs": ("panstarrs", "PanSTARRSSurvey", "Pan-STARRS1 3pi stacks via ps1filenames.py + fitscut.cgi"),
    "sdss": ("sdss", "SDSSSurvey", "SDSS imaging frames via astroquery.sdss, cut and aligned locally"),
    "hips": ("hips", "HiPSSurvey", "any HiPS image survey via CDS hips2fits (astroquery.hips2fits)"),
    "skyview": ("skyview", "SkyViewSurvey", "NASA SkyView surveys via astroquery.skyview"),
    "local": ("local", "LocalSurvey", "your own FITS images or mosaics with WCS"),
}


@hookimpl
def register_surveys(register):
    """Register ``legacy``, ``panstarrs``, ``sdss``, ``hips``, ``skyview`` and ``local``.

    The ``synthetic`` survey is the simulation's, registered by :mod:`galzoo_fm.datasets.sim.builtin`.
    """
    for name, (module, cls, description) in _BUILTINS.items():
        register(name, lazy_survey(f"galzoo_fm.surveys.{module}", cls), description=description)
