"""The simulated Galaxy Zoo: galaxies of known morphology, rendered, with simulated volunteer votes.

* ``truth`` — the true morphology of each galaxy (:func:`draw_truth`);
* ``render`` — the package's one galaxy renderer (GalSim profiles, PSF, noise);
* ``votes`` — volunteer votes from several campaigns (:func:`simulate_votes`);
* ``catalogue`` — catalogues, images and training files (:func:`simulate_catalog`,
  :func:`simulate_images`, :func:`write_synthetic`); the training dataset of them is
  :func:`~galzoo_fm.training.data.synthetic_dataset` (defined in ``galzoo_fm.training.data.synthetic``, as the
  simulation does not import the training code);
* ``survey`` — the ``synthetic`` survey, the same galaxies by sky position;
* ``demo`` — the small demo sky (a mosaic and its catalogue) of :doc:`/embedding`;
* ``plots`` — a picture of each simulated class.
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

_WHERE = {
    "Campaign": "votes",
    "DEFAULT_CAMPAIGNS": "votes",
    "SimulationConfig": "catalogue",
    "answer_probabilities": "votes",
    "draw_truth": "truth",
    "make_demo_field": "demo",
    "plot_classes": "plots",
    "render_galaxy": "render",
    "simulate_catalog": "catalogue",
    "simulate_images": "catalogue",
    "simulate_votes": "votes",
    "write_synthetic": "catalogue",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
