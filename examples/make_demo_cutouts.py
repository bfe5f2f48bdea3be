"""
A small set of demo cutouts
===========================

Make a small image set like the bundled ``galzoo_fm/data/demo_cutouts.fits``, with the package's renderer.

24 simulated galaxies, 3 bands (g, r, z), 64 x 64 pixels at 0.262 arcsec/pixel (the DESI Legacy Surveys
scale): the first 24 ellipticals and discs of the simulated Galaxy Zoo of seed 0, drawn by the package's
one galaxy renderer, :func:`galzoo_fm.datasets.sim.render_galaxy` (GalSim Sérsic and inclined
exponential profiles, bars, spiral arms, rings, clumps, a Moffat PSF, sky and shot noise; see
``docs/simulation.rst``). They are the first 24 rows of ``examples/data/sim_catalog.fits`` that are not
stars or artefacts (galaxies 0–4, 6–8, 10–25), at the same positions: the ``synthetic`` survey serves the
same pixels. Written as a FITS file with the image cube
``(N, C, H, W)`` in the primary HDU (units: nanomaggies, ``BAND0..2`` and ``PIXSCALE`` keywords) and a
binary table ``OBJECTS`` with ``id``, ``ra``, ``dec`` and the true morphology (``kind``, ``mag_r``,
``r_e`` in arcsec, ``sersic_n``, ``q``, ``bulge_frac``, ``bar``, ``n_arms``, ``ring``, ``merger``).
Seeded: the same output every run::

    python examples/make_demo_cutouts.py                  # writes ./demo_cutouts.fits
    python examples/make_demo_cutouts.py my_cutouts.fits
    galzoo-fm embed-images my_cutouts.fits -o my_embeddings.fits

The bundled ``galzoo_fm/data/demo_cutouts.fits`` is **not** rewritten by this script (it refuses that path):
that file was made by an earlier version of it (commit 63031d0) with a different renderer — astropy
``Sersic2D`` profiles (index 0.6–1.5 or 3–5, r 19.5–20.7) convolved with a 1.1″ Gaussian PSF, plus
Gaussian noise — and the documented demo numbers and tests are tied to its pixels. Running this script
gives new cutouts, not identical ones.
"""

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images

N, SIZE, BANDS, PIXSCALE, SEED = 24, 64, ("g", "r", "z"), 0.262, 0
# the repository: sphinx-gallery runs the examples from examples/ without a __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent
SHIPPED = ROOT / "galzoo_fm" / "data" / "demo_cutouts.fits"
TRUTH = ("kind", "mag_r", "r_e", "sersic_n", "q", "bulge_frac", "bar", "n_arms", "ring", "merger")


def main(out: str | Path = "demo_cutouts.fits") -> Path:
    """Write the image set to ``out`` and return its path."""
    out = Path(out)
    if out.resolve() == SHIPPED:
        raise SystemExit(f"refusing to overwrite the bundled {SHIPPED}: it was made by another renderer and "
                         "the documented demo numbers depend on it; give another path")
    cfg = SimulationConfig(seed=SEED, size=SIZE, pixscale=PIXSCALE, bands=BANDS)
    catalog = simulate_catalog(4 * N, config=cfg, campaigns=())
    catalog = catalog[np.isin(catalog["kind"], ("elliptical", "disc"))][:N]
    cube = simulate_images(catalog, cfg)  # (N, 3, 64, 64) float32, nanomaggies
    objects = Table({"id": catalog["id"], "ra": catalog["ra"], "dec": catalog["dec"],
                     **{k: catalog[k] for k in TRUTH}})
    primary = fits.PrimaryHDU(cube)
    primary.header["BUNIT"] = "nanomaggy"
    primary.header["PIXSCALE"] = (PIXSCALE, "arcsec / pixel")
    for c, band in enumerate(BANDS):
        primary.header[f"BAND{c}"] = band
    primary.header["SIMSEED"] = (SEED, "galzoo_fm simulation seed")
    primary.header["COMMENT"] = "Simulated galaxies (galzoo_fm.datasets.sim.render) by examples/make_demo_cutouts.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, fits.BinTableHDU(objects, name="OBJECTS")]).writeto(out, overwrite=True)
    return out


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
