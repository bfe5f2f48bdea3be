"""
The bundled sky of the embedding tutorial
=========================================

Make the small bundled sky of ``docs/embedding.rst``: ``examples/data/demo_mosaic.fits`` + ``demo_catalog.ecsv``.

A g, r, z mosaic (nanomaggies, TAN WCS, 0.262"/px) with 36 synthetic galaxies on a grid, and a catalogue
listing them plus one position off the mosaic and one with a missing Dec (see
:func:`galzoo_fm.datasets.sim.make_demo_field`). Seeded: every run gives the same files::

    python examples/make_embed_demo.py

The shipped files were made before ``make_demo_field`` drew its galaxies with the package's one renderer
(:func:`galzoo_fm.datasets.sim.render_galaxy`; they were NumPy exponential discs and bulges then): re-running gives
new galaxies at nearly the same positions, not identical files, and the pictures of ``docs/embedding.rst``
show the shipped ones.
"""

from __future__ import annotations

from pathlib import Path

from galzoo_fm.datasets.sim.demo import make_demo_field

# the repository: sphinx-gallery runs the examples from examples/ without a __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent
OUT = HERE / "data"

if __name__ == "__main__":
    for path in make_demo_field(OUT, n_side=6, spacing=44, seed=0):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
