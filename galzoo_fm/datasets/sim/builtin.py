"""The simulation's survey, ``synthetic``, registered through the same ``register_surveys`` hook as any other.

It lives with the simulation it renders from (:mod:`galzoo_fm.datasets.sim`), so that nothing in
:mod:`galzoo_fm.surveys` imports the datasets.
"""

from __future__ import annotations

from galzoo_fm.hookspecs import hookimpl
from galzoo_fm.surveys.builtin import lazy_survey

__all__ = ["register_surveys"]


@hookimpl
def register_surveys(register):
    """Register ``synthetic``: simulated Galaxy Zoo galaxies by position, for offline demos and tests."""
    register("synthetic", lazy_survey("galzoo_fm.datasets.sim.survey", "SyntheticSurvey"),
             description="simulated Galaxy Zoo galaxies by position (offline demo)")
