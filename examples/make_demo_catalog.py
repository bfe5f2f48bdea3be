"""
The README's demo catalogue
===========================

Make ``examples/data/sim_catalog.fits``: the README's demo catalogue.

64 galaxies of the package's simulated Galaxy Zoo (seed 0): positions, the true morphology and simulated
volunteer votes of two campaigns (``decals_dr5`` and ``gz2`` label columns). The ``synthetic`` survey
serves their g, r, z cutouts by position, so the whole pipeline runs offline::

    python examples/make_demo_catalog.py
    galzoo-fm embed examples/data/sim_catalog.fits --survey synthetic --survey-opt seed=0 \\
        --survey-opt n=64 --model galzoo_fm/data/demo_encoder --out demo_embeddings.fits
"""

from pathlib import Path

from galzoo_fm.datasets import simulate_catalog

N, SEED = 64, 0
# the repository: sphinx-gallery runs the examples from examples/ without a __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent
OUT = HERE / "data" / "sim_catalog.fits"


def main() -> Path:
    table = simulate_catalog(N, seed=SEED)
    table.meta["COMMENT"] = f"galzoo_fm simulated Galaxy Zoo, seed {SEED}, {N} galaxies (examples/make_demo_catalog.py)"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.write(OUT, overwrite=True)
    return OUT


if __name__ == "__main__":
    print(main())
