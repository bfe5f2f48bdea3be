"""A simulated Galaxy Zoo: galaxies of known morphology, their images, positions and volunteer votes.

* :func:`simulate_catalog` — the catalogue: ``id``, ``ra``, ``dec``, the true morphology
  (:func:`~galzoo_fm.datasets.sim.draw_truth`) and ``{question}_{answer}`` vote counts of two
  campaigns with different trees (:func:`~galzoo_fm.datasets.sim.simulate_votes`);
* :func:`simulate_images` — the ``(N, C, H, W)`` g, r, z images in nanomaggies at 0.262"/px
  (:func:`~galzoo_fm.datasets.sim.render_galaxy`: GalSim profiles and PSFs), in parallel;
* :func:`galzoo_fm.datasets.synthetic_dataset` — both as a training dataset (defined in
  ``galzoo_fm.training.data.synthetic``, as the simulation does not import the training code);
* :func:`write_synthetic` — both as files (``images.npy`` + ``catalog.fits``) for ``galzoo-fm pretrain``;
* the ``synthetic`` survey (:class:`galzoo_fm.datasets.sim.survey.SyntheticSurvey`) serves the same
  galaxies by sky position, so fetch → store → embed runs without a network.

Everything is seeded: galaxy ``i`` of seed ``s`` — its morphology, position, image and noise — depends
only on ``(s, i)`` (the votes, on the galaxies before it too). Galaxies lie on a grid in the tangent
plane at ``(ra0, dec0)``: galaxy ``i`` at ``(i % columns, i // columns) * spacing`` arcsec east and north.

Examples
--------
>>> from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images
>>> cat = simulate_catalog(4, seed=1)
>>> images = simulate_images(cat, SimulationConfig(seed=1, size=32))
>>> images.shape, images.dtype
((4, 3, 32, 32), dtype('float32'))
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from galzoo_fm._utils.checks import OutputExistsError, positive_int
from galzoo_fm._utils.writers import write_table
from galzoo_fm.datasets.sim.render import BAND_COLOURS, render_galaxy
from galzoo_fm.datasets.sim.truth import draw_truth
from galzoo_fm.datasets.sim.votes import DEFAULT_CAMPAIGNS, Campaign, simulate_votes

__all__ = [
    "SimulationConfig",
    "galaxy_positions",
    "position_to_index",
    "simulate_catalog",
    "simulate_images",
    "write_synthetic",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of one simulated sky: seed, image geometry, bands and the patch the galaxies lie in.

    Parameters
    ----------
    seed : int
        Simulation seed.
    size : int
        Image side in pixels.
    pixscale : float
        Arcsec per pixel (0.262, the Legacy Surveys' scale).
    bands : tuple of str
        From ``g``, ``r``, ``i``, ``z``.
    ra0, dec0 : float
        Position of galaxy 0 in degrees (ICRS); the grid extends east and north of it.
    spacing : float
        Grid step in arcsec between neighbouring galaxies.
    columns : int
        Galaxies per grid row.
    """

    seed: int = 0
    size: int = 64
    pixscale: float = 0.262
    bands: tuple[str, ...] = ("g", "r", "z")
    ra0: float = 150.0
    dec0: float = 2.0
    spacing: float = 30.0
    columns: int = 250
    campaigns: tuple[Campaign, ...] = field(default=DEFAULT_CAMPAIGNS, compare=True)

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise TypeError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.size, int | np.integer) or self.size < 8:
            raise ValueError(f"size must be an integer >= 8 pixels, got {self.size!r}")
        if not self.pixscale > 0 or not self.spacing > 0:
            raise ValueError(f"pixscale and spacing must be positive, got {self.pixscale!r}, {self.spacing!r}")
        positive_int(self.columns, "columns")
        if not -80.0 <= self.dec0 <= 80.0:
            raise ValueError(f"dec0 must be within ±80 degrees, got {self.dec0!r}")
        bands = tuple(self.bands)
        unknown = [b for b in bands if b not in BAND_COLOURS]
        if unknown or not bands or len(set(bands)) != len(bands):
            raise ValueError(f"bands must be distinct names from {list(BAND_COLOURS)}, got {list(self.bands)}")
        object.__setattr__(self, "bands", bands)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (campaigns as lists)."""
        d = asdict(self)
        d["bands"] = list(self.bands)
        d["campaigns"] = [[c.schema, c.fraction, list(c.volunteers)] for c in self.campaigns]
        return d


# -- positions: a grid in the gnomonic (tangent) plane at (ra0, dec0) ----------------------------------


def _tan_to_sky(xi: np.ndarray, eta: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse gnomonic projection; ``xi`` (east), ``eta`` (north) in radians."""
    d0 = np.radians(dec0)
    den = np.cos(d0) - eta * np.sin(d0)
    ra = np.degrees(np.radians(ra0) + np.arctan2(xi, den)) % 360.0
    dec = np.degrees(np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, den)))
    return ra, dec


def sky_to_tan(ra: Any, dec: Any, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic projection at ``(ra0, dec0)``: ``(xi east, eta north)`` in radians (NaN behind the sky)."""
    a, d = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    a0, d0 = np.radians(ra0), np.radians(dec0)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.where(cos_c > 0, np.cos(d) * np.sin(a - a0) / cos_c, np.nan)
        eta = np.where(cos_c > 0, (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c, np.nan)
    return xi, eta


def galaxy_positions(index: Any, config: SimulationConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions ``(ra, dec)`` in degrees, each ``(N,)``, of galaxies ``index``."""
    cfg = config or SimulationConfig()
    index = np.asarray(index, dtype=np.int64)
    step = np.radians(cfg.spacing / 3600.0)
    return _tan_to_sky((index % cfg.columns) * step, (index // cfg.columns) * step, cfg.ra0, cfg.dec0)


def position_to_index(ra: Any, dec: Any, n: int, config: SimulationConfig | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The galaxy nearest each position: ``(index, xi, eta)``, each ``(N,)``, with ``index = -1`` off the patch.

    ``xi``, ``eta`` (arcsec) are the offsets of the position from that galaxy, east and north. A position is
    on the patch when it is within half a grid step of one of the first ``n`` galaxies.
    """
    cfg = config or SimulationConfig()
    ra, dec = np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))
    xi, eta = sky_to_tan(ra, dec, cfg.ra0, cfg.dec0)
    step = np.radians(cfg.spacing / 3600.0)
    with np.errstate(invalid="ignore"):
        col, row = np.round(xi / step), np.round(eta / step)
        ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < cfg.columns) & (row >= 0)
        index = np.where(ok, row * cfg.columns + col, -1)
    index = np.where(ok & (index < n), index, -1).astype(np.int64)
    ra_g, dec_g = galaxy_positions(np.maximum(index, 0), cfg)
    dxi, deta = sky_to_tan(ra, dec, ra_g, dec_g)  # the position, in the tangent plane at the galaxy
    return index, np.degrees(dxi) * 3600.0, np.degrees(deta) * 3600.0


# -- catalogue and images ------------------------------------------------------------------------------


def _config(config: SimulationConfig | None, seed: int | None) -> SimulationConfig:
    cfg = config or SimulationConfig()
    if not isinstance(cfg, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig, got {type(cfg).__name__}")
    return cfg if seed is None else replace(cfg, seed=seed)


def simulate_catalog(n: int, seed: int | None = None, *, config: SimulationConfig | None = None,
                     campaigns: Sequence[Campaign] | None = None, start: int = 0) -> Table:
    """A simulated Galaxy Zoo catalogue of ``n`` galaxies.

    Parameters
    ----------
    n : int
        Number of galaxies.
    seed : int, optional
        Simulation seed; default ``config.seed``.
    config : SimulationConfig, optional
        Positions and campaigns; default :class:`SimulationConfig`.
    campaigns : sequence of Campaign, optional
        Overrides ``config.campaigns``; ``()`` for a catalogue without votes.
    start : int
        Index of the first galaxy.

    Returns
    -------
    astropy.table.Table
        ``id`` (``"sim<seed>-<index>"``), ``ra``, ``dec`` (deg), the truth columns of
        :func:`~galzoo_fm.datasets.sim.draw_truth`, and the vote columns of
        :func:`~galzoo_fm.datasets.sim.simulate_votes`. ``meta`` holds the simulation settings.
    """
    cfg = _config(config, seed)
    camps = cfg.campaigns if campaigns is None else tuple(campaigns)
    seed = cfg.seed
    truth = draw_truth(n, seed, start=start)
    ra, dec = galaxy_positions(truth["index"], cfg)
    table = Table({"id": np.array([f"sim{seed}-{i}" for i in truth["index"]]), "ra": ra, "dec": dec})
    for col in truth.colnames:
        table[col] = truth[col]
    if camps:
        votes = simulate_votes(truth, camps, seed=seed)
        for col in votes.colnames:
            table[col] = votes[col]
    table.meta.update({"SIMSEED": int(seed), "SIMSIZE": cfg.size, "PIXSCALE": cfg.pixscale,
                       "BANDS": ",".join(cfg.bands), "RA0": cfg.ra0, "DEC0": cfg.dec0, "SPACING": cfg.spacing,
                       "COLUMNS": cfg.columns, "COMMENT": "simulated galaxies made by galzoo_fm.datasets.sim"})
    return table


def _rows(truth: Any) -> list[dict[str, Any]]:
    cols = {k: np.asarray(truth[k]) for k in truth.colnames}
    return [{k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in cols.items()} for i in range(len(truth))]


def _render_chunk(args: tuple[list[dict[str, Any]], dict[str, Any]]) -> np.ndarray:
    rows, kw = args
    return np.stack([render_galaxy(r, **kw) for r in rows]) if rows else np.zeros((0,), np.float32)


def simulate_images(truth: Any, config: SimulationConfig | None = None, *, workers: int = 1,
                    chunk: int = 256, progress: bool = False, noise: bool = True) -> np.ndarray:
    """Render the images of simulated galaxies.

    Parameters
    ----------
    truth : astropy.table.Table
        Rows of :func:`simulate_catalog` or :func:`~galzoo_fm.datasets.sim.draw_truth`.
    config : SimulationConfig, optional
        Seed (must be the catalogue's), size, pixel scale and bands.
    workers : int
        Processes (``0``: all CPUs). Images do not depend on it.
    chunk : int
        Galaxies per task.
    progress : bool
        Show a tqdm bar (galaxies, galaxies/s). The rate is also logged at INFO level on the
        ``galzoo_fm.datasets.sim.catalogue`` logger when done.
    noise : bool
        Add sky and shot noise.

    Returns
    -------
    numpy.ndarray
        ``(N, len(bands), size, size)`` float32, nanomaggies.

    Raises
    ------
    ValueError
        If the table's ``SIMSEED`` differs from ``config.seed``, or ``workers`` is negative.
    """
    cfg = config or SimulationConfig()
    meta_seed = getattr(truth, "meta", {}).get("SIMSEED")
    if meta_seed is not None and int(meta_seed) != cfg.seed:
        raise ValueError(f"the catalogue was simulated with seed {meta_seed} but config.seed is {cfg.seed}; "
                         f"images must use the catalogue's seed")
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    workers = workers or os.cpu_count() or 1
    kw = {"size": cfg.size, "scale": cfg.pixscale, "bands": cfg.bands, "seed": cfg.seed, "noise": noise}
    rows = _rows(truth)
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    tasks = [(rows[i:i + chunk], kw) for i in range(0, len(rows), chunk)]
    parts = []
    with tqdm(total=len(rows), unit="galaxy", desc="simulate", disable=not progress or not rows,
              dynamic_ncols=True) as bar:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                parts.append(_render_chunk(task))
                bar.update(len(task[0]))
        else:
            import multiprocessing as mp

            # fork on Linux (children run only NumPy and GalSim); spawn elsewhere, which needs the usual
            # `if __name__ == "__main__":` guard in scripts
            method = "fork" if "fork" in mp.get_all_start_methods() and sys.platform == "linux" else "spawn"
            with mp.get_context(method).Pool(workers) as pool:
                for task, part in zip(tasks, pool.imap(_render_chunk, tasks), strict=True):  # in order
                    parts.append(part)
                    bar.update(len(task[0]))
    out = np.concatenate(parts) if parts else np.zeros((0, len(cfg.bands), cfg.size, cfg.size), np.float32)
    dt = time.perf_counter() - t0
    logger.info("rendered %d galaxies in %.1f s (%.0f/s, %d workers)", len(rows), dt, len(rows) / max(dt, 1e-9),
                workers)
    return out


def write_synthetic(out: str | Path, n: int, seed: int | None = None, *, config: SimulationConfig | None = None,
                    workers: int = 1, overwrite: bool = False, progress: bool = False) -> tuple[Path, Path]:
    """Write ``images.npy`` ``(N, C, H, W)`` and ``catalog.fits`` (one row per image) into folder ``out``.

    These are the ``data.path`` and ``data.catalog`` of a ``galzoo-fm pretrain`` configuration.

    Parameters
    ----------
    out : str or path
        The folder (created if needed).
    n, seed, config
        As in :func:`simulate_catalog`.
    workers : int
        Processes for :func:`simulate_images`.
    overwrite : bool
        Replace existing files.
    progress : bool
        Show a tqdm bar while the images are rendered.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The image file and the catalogue.

    Raises
    ------
    FileExistsError
        If the files exist and ``overwrite`` is false.
    """
    out = Path(out)
    paths = out / "images.npy", out / "catalog.fits"
    if not overwrite and any(p.exists() for p in paths):
        raise OutputExistsError(f"{paths[0]} or {paths[1]}", "replace them")
    cfg = _config(config, seed)
    cat = simulate_catalog(n, config=cfg)
    images = simulate_images(cat, cfg, workers=workers, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    np.save(paths[0], images)
    write_table(cat, paths[1], overwrite=True)
    return paths
