"""A small synthetic sky for trying ``galzoo-fm embed`` offline: a g, r, z FITS mosaic and its catalogue.

The mosaic is a cube ``(3, H, W)`` in nanomaggies with ``BAND0..2`` keywords and a TAN WCS at the Legacy
Surveys' 0.262″/px, holding a grid of galaxies of the simulated Galaxy Zoo over Gaussian sky noise. The
galaxies are drawn by the package's one renderer, :func:`~galzoo_fm.datasets.sim.render_galaxy`
(GalSim profiles and PSFs, see :doc:`/simulation`), without their own noise: the first ellipticals and
discs of the simulation ``seed`` (:func:`~galzoo_fm.datasets.sim.draw_truth`) that have no
artefact, field star or companion and whose half-light radius is at most a quarter of the grid spacing, so
that each grid cell holds one galaxy. The catalogue (ECSV) lists them (``objid``, ``ra``, ``dec``, the
true ``mag_r``) plus one position off the mosaic and one with a missing Dec, so every output status shows.
Read it with the ``local`` survey.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.wcs import WCS

from galzoo_fm.datasets.sim.render import render_galaxy
from galzoo_fm.datasets.sim.truth import BLOCK, draw_truth

__all__ = ["make_demo_field"]

_SOFT = np.array([0.0083, 0.0147, 0.0227])  # legacy g, r, z arcsinh softening: sky noise of the same order
_BANDS = ("g", "r", "z")
_MAX_BLOCKS = 64  # candidate galaxies searched: 64 blocks of draw_truth


def _demo_galaxies(n: int, seed: int, max_r_e: float) -> Table:
    """The first ``n`` galaxies of simulation ``seed`` that suit a grid cell (see the module docstring).

    Returns
    -------
    astropy.table.Table
        ``n`` rows of :func:`~galzoo_fm.datasets.sim.draw_truth`, in index order.

    Raises
    ------
    ValueError
        If fewer than ``n`` such galaxies are among the first ``64 × 1024`` of the simulation.
    """
    parts, found = [], 0
    for block in range(_MAX_BLOCKS):
        if found >= n:
            break
        t = draw_truth(BLOCK, seed, start=block * BLOCK)
        keep = (np.isin(t["kind"], ("elliptical", "disc")) & (t["artifact"] == 0) & ~t["field_star"]
                & ~t["companion"] & (t["r_e"] <= max_r_e))
        parts.append(t[keep])
        found += int(keep.sum())
    if found < n:
        raise ValueError(f"only {found} simulated galaxies of seed {seed} have a half-light radius <= {max_r_e:.2f}\" "
                         f"(a quarter of the grid spacing) among the first {_MAX_BLOCKS * BLOCK}; {n} are needed: "
                         f"use a larger spacing")
    return vstack(parts)[:n]


def make_demo_field(folder: str | Path, *, n_side: int = 6, spacing: int = 44, seed: int = 0,
                    pixscale: float = 0.262) -> tuple[Path, Path]:
    """Write ``demo_mosaic.fits`` and ``demo_catalog.ecsv`` into ``folder``; return their paths.

    Parameters
    ----------
    folder : str or path
        Created if needed.
    n_side : int
        The galaxies lie on an ``n_side × n_side`` grid.
    spacing : int
        Grid spacing in pixels (the mosaic is ``(n_side + 1) × spacing`` pixels square), at least 8. Each
        galaxy is drawn on a ``2 spacing``-pixel stamp around its position.
    seed : int
        Random seed: the simulation seed of the galaxies and the seed of the sky noise and of the jitter of
        the positions (the field is reproducible).
    pixscale : float
        Arcsec per pixel.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The catalogue (``n_side² + 2`` rows) and the mosaic ``(3, side, side)``.

    Raises
    ------
    ValueError
        For a non-positive ``n_side`` or ``pixscale``, a ``spacing`` below 8, a negative ``seed``, or when
        the simulation has too few galaxies small enough for the grid.

    Examples
    --------
    >>> from galzoo_fm.datasets.sim.demo import make_demo_field
    >>> catalog, mosaic = make_demo_field(getfixture("tmp_path"), n_side=2, spacing=20)
    >>> len(Table.read(catalog))
    6
    """
    for name, value, low in (("n_side", n_side, 1), ("spacing", spacing, 8), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not pixscale > 0:
        raise ValueError(f"pixscale must be positive, got {pixscale!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    side = (n_side + 1) * spacing
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [side / 2 + 0.5, side / 2 + 0.5]
    wcs.wcs.cd = np.diag([-pixscale / 3600, pixscale / 3600])
    image = rng.normal(0.0, 1.0, size=(3, side, side)) * _SOFT[:, None, None]
    galaxies = _demo_galaxies(n_side * n_side, int(seed), spacing * pixscale / 4)
    stamp = 2 * spacing
    centres = []
    for k, truth in enumerate(galaxies):
        i, j = divmod(k, n_side)
        y = (i + 1) * spacing + rng.uniform(-2, 2)
        x = (j + 1) * spacing + rng.uniform(-2, 2)
        x0, y0 = int(np.rint(x)) - spacing, int(np.rint(y)) - spacing  # the stamp's first pixel in the mosaic
        # render_galaxy centres the galaxy at (stamp - 1) / 2 + its centring error (dx, dy) + offset:
        # the offset puts it exactly at (x, y), the catalogue position
        offset = (x - x0 - (stamp - 1) / 2 - float(truth["dx"]) / pixscale,
                  y - y0 - (stamp - 1) / 2 - float(truth["dy"]) / pixscale)
        drawn = render_galaxy(truth, size=stamp, scale=pixscale, bands=_BANDS, seed=int(seed), offset=offset,
                              noise=False)
        ys, xs = slice(max(y0, 0), min(y0 + stamp, side)), slice(max(x0, 0), min(x0 + stamp, side))
        image[:, ys, xs] += drawn[:, ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        centres.append((x, y))
    xy = np.array(centres)
    ra, dec = wcs.all_pix2world(xy[:, 0], xy[:, 1], 0)
    header = wcs.to_header()
    for k, band in enumerate(_BANDS):
        header[f"BAND{k}"] = band
    header["BUNIT"] = "nanomaggy"
    mosaic = folder / "demo_mosaic.fits"
    fits.PrimaryHDU(image.astype(np.float32), header=header).writeto(mosaic, overwrite=True)
    n = len(xy)
    ids = [f"demo-{k:03d}" for k in range(n)] + ["demo-off", "demo-nan"]
    cat = Table({"objid": ids, "ra": np.r_[ra, 151.0, 150.0], "dec": np.r_[dec, 2.0, np.nan],
                 "mag_r": np.r_[np.round(np.asarray(galaxies["mag_r"], float), 2), 18.0, 18.0]})
    catalog = folder / "demo_catalog.ecsv"
    cat.write(catalog, overwrite=True)
    return catalog, mosaic
