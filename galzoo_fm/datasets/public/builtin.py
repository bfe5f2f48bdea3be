"""Built-in plugin: the public releases (GZ DECaLS GZD-5, GZ2, GZ-Evo and its tiny subset; Smith42/galaxies).

* ``gz_decals_dr5``: GZ DECaLS GZD-5 votes + DECaLS DR5 images (Zenodo 4573248); schema ``decals_dr5``.
* ``gz2``: GZ2 votes (Hart et al. 2016) + SDSS images (Zenodo 3565489); schema ``gz2``.
* ``gz_evo``: GZ-Evo on the Hugging Face hub (``mwalmsley/gz_evo``); schema ``gz_evo``.
* ``gz_evo_tiny``: the ``tiny`` configuration of ``mwalmsley/gz_evo``; schema ``gz_evo``.
* ``smith42_galaxies``: AstroPT's 8.5M DESI Legacy Surveys galaxies on the Hugging Face hub
  (``Smith42/galaxies``, ``with_crops``); unlabelled (no schema).
"""

from __future__ import annotations

from galzoo_fm.datasets.public.gz2 import GZ2
from galzoo_fm.datasets.public.gz_decals import GZDecalsDR5
from galzoo_fm.datasets.public.gz_evo import GZEvo, GZEvoTiny
from galzoo_fm.datasets.public.smith42 import Smith42Galaxies
from galzoo_fm.hookspecs import hookimpl

__all__ = ["BUILTIN_RELEASES", "UNLABELLED_RELEASES", "register_datasets", "register_unlabelled_datasets"]

#: The built-in Galaxy Zoo (labelled) release classes, in listing order.
BUILTIN_RELEASES = (GZDecalsDR5, GZ2, GZEvo, GZEvoTiny)
#: The built-in unlabelled release classes (no schema, no vote columns), listed after the labelled ones.
UNLABELLED_RELEASES = (Smith42Galaxies,)


@hookimpl
def register_datasets(register):
    """Register the built-in Galaxy Zoo releases (see the module docstring for the list)."""
    for cls in BUILTIN_RELEASES:
        register(cls.name, cls, description=cls.description)


@hookimpl(specname="register_datasets")
def register_unlabelled_datasets(register):
    """Register the built-in unlabelled releases (``smith42_galaxies``), through the same hook."""
    for cls in UNLABELLED_RELEASES:
        register(cls.name, cls, description=cls.description)
