"""A small synthetic sky for trying ``galzoo-fm embed`` offline: a g, r, z FITS mosaic and its catalogue.

The mosaic is a cube ``(3, H, W)`` in nanomaggies with ``BAND0..2`` keywords and a TAN WCS at the Legacy
Surveys' 0.262″/px, holding a grid of galaxies (exponential discs, some with a red bulge, random size,
axis ratio and angle) over Gaussian sky noise; the catalogue (ECSV) lists them plus one position off the
mosaic and one with a missing Dec, so every output status shows. Read it with the ``local`` survey.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

__all__ = ["make_demo_field"]

_SOFT = np.array([0.0083, 0.0147, 0.0227])  # legacy g, r, z arcsinh softening: sky noise of the same order


def _galaxy(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r_disc = rng.uniform(1.5, 5.0)
    q = rng.uniform(0.3, 1.0)
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * xx + s * yy, (-s * xx + c * yy) / q
    r = np.hypot(u, v)
    disc = np.exp(-r / r_disc)[None] * np.array([0.8, 1.0, 1.1])[:, None, None]
    bulge_frac = rng.choice([0.0, rng.uniform(0.2, 0.8)])
    bulge = np.exp(-7.67 * ((np.hypot(xx, yy) / (0.6 * r_disc)) ** 0.25))[None]
    bulge = bulge * np.array([0.3, 0.8, 1.3])[:, None, None]
    flux = rng.uniform(0.5, 3.0)
    return flux * ((1 - bulge_frac) * disc + bulge_frac * 40 * bulge)


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
        Grid spacing in pixels (the mosaic is ``(n_side + 1) × spacing`` pixels square).
    seed : int
        Random seed (the field is reproducible).
    pixscale : float
        Arcsec per pixel.

    Examples
    --------
    >>> from galzoo_fm.datasets.sim.demo import make_demo_field
    >>> catalog, mosaic = make_demo_field(getfixture("tmp_path"), n_side=2, spacing=20)
    >>> len(Table.read(catalog))
    6
    """
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
    yy, xx = np.mgrid[0:side, 0:side].astype(float)
    centres = []
    for i in range(n_side):
        for j in range(n_side):
            y = (i + 1) * spacing + rng.uniform(-2, 2)
            x = (j + 1) * spacing + rng.uniform(-2, 2)
            box = (slice(max(0, int(y) - spacing), int(y) + spacing), slice(max(0, int(x) - spacing), int(x) + spacing))
            image[(slice(None), *box)] += _galaxy(yy[box] - y, xx[box] - x, rng)
            centres.append((x, y))
    xy = np.array(centres)
    ra, dec = wcs.all_pix2world(xy[:, 0], xy[:, 1], 0)
    header = wcs.to_header()
    for k, band in enumerate("grz"):
        header[f"BAND{k}"] = band
    header["BUNIT"] = "nanomaggy"
    mosaic = folder / "demo_mosaic.fits"
    fits.PrimaryHDU(image.astype(np.float32), header=header).writeto(mosaic, overwrite=True)
    n = len(xy)
    ids = [f"demo-{k:03d}" for k in range(n)] + ["demo-off", "demo-nan"]
    cat = Table({"objid": ids, "ra": np.r_[ra, 151.0, 150.0], "dec": np.r_[dec, 2.0, np.nan],
                 "mag_r": np.r_[np.round(rng.uniform(16, 19, n), 2), 18.0, 18.0]})
    catalog = folder / "demo_catalog.ecsv"
    cat.write(catalog, overwrite=True)
    return catalog, mosaic
