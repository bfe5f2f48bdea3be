"""Built-in plugin: the public Galaxy Zoo releases (GZ DECaLS GZD-5, GZ2, GZ-Evo and its tiny subset).

* ``gz_decals_dr5``: GZ DECaLS GZD-5 votes + DECaLS DR5 images (Zenodo 4573248); schema ``decals_dr5``.
* ``gz2``: GZ2 votes (Hart et al. 2016) + SDSS images (Zenodo 3565489); schema ``gz2``.
* ``gz_evo``: GZ-Evo on the Hugging Face hub (``mwalmsley/gz_evo``); schema ``gz_evo``.
* ``gz_evo_tiny``: the ``tiny`` configuration of ``mwalmsley/gz_evo``; schema ``gz_evo``.
"""

from __future__ import annotations

from galzoo_fm.datasets.public.gz2 import GZ2
from galzoo_fm.datasets.public.gz_decals import GZDecalsDR5
from galzoo_fm.datasets.public.gz_evo import GZEvo, GZEvoTiny
from galzoo_fm.hookspecs import hookimpl

__all__ = ["BUILTIN_RELEASES", "register_datasets"]

#: The built-in release classes, in listing order.
BUILTIN_RELEASES = (GZDecalsDR5, GZ2, GZEvo, GZEvoTiny)


@hookimpl
def register_datasets(register):
    """Register the built-in Galaxy Zoo releases (see the module docstring for the list)."""
    for cls in BUILTIN_RELEASES:
        register(cls.name, cls, description=cls.description)
