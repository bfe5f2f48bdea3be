"""Write a simulated Galaxy Zoo: ``images.npy`` (N, 3, 64, 64) and ``catalog.fits`` (truth + votes).

The data of ``examples/pretrain_demo.toml`` (the shipped demo encoder) is made with the defaults::

    python examples/make_synthetic_galaxy_zoo.py synthetic_gz --n 4000 --seed 0 --workers 2

See docs/simulation.rst for what is simulated.
"""

import argparse

from galzoo_fm.datasets.synthetic import SimulationConfig, write_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument("--n", type=int, default=4000, help="number of galaxies")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (0.262 arcsec/px)")
    parser.add_argument("--workers", type=int, default=1, help="processes (0: all CPUs)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    paths = write_synthetic(args.out, args.n, config=SimulationConfig(seed=args.seed, size=args.size),
                            workers=args.workers, overwrite=args.overwrite, progress=True)
    print(*paths, sep="\n")


if __name__ == "__main__":
    main()
