"""
Simulated galaxies by class
===========================

Make docs/images/simulated_galaxies.png: simulated galaxies by class (seed 0, 64 px, 0.262"/px, g r z).

Run from the repository root::

    python examples/plot_simulated_galaxies.py
"""

import os
from pathlib import Path

import numpy as np

from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images
from galzoo_fm.datasets.sim.plots import CLASSES, plot_classes

# the repository: sphinx-gallery runs the examples from examples/ without a __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent
# the docs build (sphinx-gallery) names a temporary folder; run by hand, the figure goes to docs/images
OUT = (Path(os.environ.get("GALZOO_FM_FIGURES", ROOT / "docs" / "images"))
       / "simulated_galaxies.png")


def main(per_class: int = 6) -> Path:
    cfg = SimulationConfig(seed=0)
    cat = simulate_catalog(3000, config=cfg, campaigns=())
    # render only the galaxies shown: the first `per_class` of each class
    keep = np.unique(np.concatenate([np.flatnonzero(np.asarray(test(cat), bool))[:per_class]
                                     for test in CLASSES.values()]))
    images = simulate_images(cat[keep], cfg)
    return plot_classes(images, cat[keep], OUT, per_class=per_class)


if __name__ == "__main__":
    print(main())
