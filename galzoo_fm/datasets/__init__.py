"""Data to train and test on: public Galaxy Zoo releases and the simulated Galaxy Zoo.

* :mod:`galzoo_fm.datasets.public` — the published Galaxy Zoo releases (GZ2, GZ DECaLS, GZ-Evo) as
  ready-to-train datasets: download, verify, prepare;
* :mod:`galzoo_fm.datasets.sim` — galaxies of known morphology rendered with GalSim, with simulated
  volunteer votes from several campaigns, and the ``synthetic`` survey that serves them by position.

The torch datasets that training reads live in :mod:`galzoo_fm.training.data`.
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

# imported on first use: the built-in dataset plugin (galzoo_fm.datasets.public.builtin) loads with every
# ``galzoo-fm`` command
_WHERE = {
    "Campaign": "sim.votes",
    "DEFAULT_CAMPAIGNS": "sim.votes",
    "SimulationConfig": "sim.catalogue",
    "answer_probabilities": "sim.votes",
    "draw_truth": "sim.truth",
    "make_demo_field": "sim.demo",
    "plot_classes": "sim.plots",
    "simulate_catalog": "sim.catalogue",
    "simulate_images": "sim.catalogue",
    "simulate_votes": "sim.votes",
    "synthetic_dataset": "galzoo_fm.training.data.synthetic",  # handed on: a training dataset
    "write_synthetic": "sim.catalogue",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
