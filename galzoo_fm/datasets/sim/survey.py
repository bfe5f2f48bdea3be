"""The ``synthetic`` survey: the simulated Galaxy Zoo (:mod:`galzoo_fm.datasets.sim.catalogue`) served by position.

Galaxy ``i`` of simulation ``seed`` sits at :func:`~galzoo_fm.datasets.sim.catalogue.galaxy_positions` (a
grid with ``spacing`` arcsec steps east and north of ``(ra0, dec0)``). A cutout request at ``(ra, dec)``
finds the nearest grid galaxy and draws it where it falls in a TAN cutout centred on the request, north up
and east left, at ``pixscale`` (0.262″/px, the Legacy Surveys' scale), with the galaxy's own noise; other
galaxies whose centres fall in the cutout are added without noise. Positions more than half a grid step
from every one of the ``n`` galaxies are ``off_footprint``.

A request at a catalogue position of :func:`~galzoo_fm.datasets.sim.catalogue.simulate_catalog` with the
same seed and size returns exactly the pixels of :func:`~galzoo_fm.datasets.sim.catalogue.simulate_images`,
so fetch → store → embed runs offline on galaxies whose morphology (and votes) are known.

Examples
--------
>>> import galzoo_fm
>>> survey = galzoo_fm.get_survey("synthetic", seed=1, n=100)
>>> cut = survey.fetch(150.0, 2.0, 32)
>>> cut.status.value, cut.data.shape
('ok', (3, 32, 32))
>>> survey.fetch(10.0, -40.0, 32).status.value
'off_footprint'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from astropy.wcs import WCS

from galzoo_fm._utils.settings import Setting
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.datasets.sim.catalogue import SimulationConfig, galaxy_positions, position_to_index, sky_to_tan
from galzoo_fm.datasets.sim.render import render_galaxy
from galzoo_fm.datasets.sim.truth import BLOCK, draw_truth
from galzoo_fm.surveys.base import Survey
from galzoo_fm.surveys.options import DEFAULT, band_list, boolean, integer, number, text

__all__ = ["SyntheticSurvey"]


@lru_cache(maxsize=32)
def _truth_block(seed: int, block: int) -> Any:

    return draw_truth(BLOCK, seed, start=block * BLOCK)


def _no_layer(value: Any, key: str) -> Any:
    if value not in (None, ""):
        raise ValueError(f"the synthetic survey has no layers, got layer={value!r}")
    return None


_GRID = SimulationConfig()


def _truth_row(seed: int, index: int) -> dict[str, Any]:

    table = _truth_block(seed, index // BLOCK)
    row = table[index % BLOCK]
    return {k: row[k].item() if hasattr(row[k], "item") else row[k] for k in table.colnames}


class SyntheticSurvey(Survey):
    """Simulated galaxies of known morphology, served by sky position; no network, no files.

    Parameters
    ----------
    {options}
    """

    name: ClassVar[str] = "synthetic"
    description: ClassVar[str] = "simulated Galaxy Zoo galaxies (galzoo_fm.datasets.sim.catalogue), offline"
    all_bands: ClassVar[tuple[str, ...]] = ("g", "r", "i", "z")
    native_pixscale: ClassVar[float | None] = 0.262
    max_size: ClassVar[int | None] = 512
    batch_size: ClassVar[int] = 64
    options: ClassVar[dict[str, Setting]] = {
        "seed": integer(0, "Simulation seed (as in :func:`~galzoo_fm.datasets.sim.catalogue.simulate_catalog`).",
                        minimum=0),
        "n": integer(100_000, "Number of galaxies on the patch (galaxies ``0 .. n-1``)."),
        "bands": band_list("grz", "From ``g``, ``r``, ``i``, ``z``, in output order.", allowed=all_bands),
        "pixscale": number(0.262, "Arcsec per pixel."),
        "ra0": number(_GRID.ra0, "Right ascension of galaxy 0 in degrees (the grid of "
                      ":class:`~galzoo_fm.datasets.sim.catalogue.SimulationConfig`).", positive=False,
                      nullable=True),
        "dec0": number(_GRID.dec0, "Declination of galaxy 0 in degrees.", positive=False, nullable=True),
        "spacing": number(_GRID.spacing, "Grid step in arcsec.", nullable=True),
        "columns": integer(_GRID.columns, "Galaxies per grid row.", nullable=True),
        "noise": boolean(True, "Add sky and shot noise."),
        "layer": text(None, "Accepted for symmetry with layered surveys; must be empty.", rule=_no_layer),
    }

    def __init__(self, seed: Any = DEFAULT, n: Any = DEFAULT, bands: Any = DEFAULT, pixscale: Any = DEFAULT,
                 ra0: Any = DEFAULT, dec0: Any = DEFAULT, spacing: Any = DEFAULT, columns: Any = DEFAULT,
                 noise: Any = DEFAULT, layer: Any = DEFAULT, **_ignored: Any):

        unknown = sorted(set(_ignored) - {"cache_dir"})  # the store's cache, which fetch passes to every survey
        if unknown:
            raise TypeError(f"unknown synthetic survey options: {', '.join(unknown)} "
                            f"(known: {', '.join(self.option_settings())})")
        o = self.resolve_options(layer=layer, bands=bands, pixscale=pixscale, n=n, noise=noise, seed=seed, ra0=ra0,
                                 dec0=dec0, spacing=spacing, columns=columns)
        self.bands = o["bands"]
        self.pixscale = o["pixscale"]
        self.n = o["n"]
        self.noise = o["noise"]
        grid = {k: o[k] if o[k] is not None else getattr(_GRID, k) for k in ("ra0", "dec0", "spacing", "columns")}
        self.config = SimulationConfig(seed=o["seed"], bands=self.bands, pixscale=self.pixscale, **grid)
        self.layer = None

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        return self.fetch_batch(np.array([ra], float), np.array([dec], float), size)[0]

    def fetch_batch(self, ra: np.ndarray, dec: np.ndarray, size: int) -> list[Cutout]:
        """Cutouts ``(C, size, size)`` at ``(n,)`` positions; ``off_footprint`` away from the galaxies."""

        size = self.check_size(size)
        ra, dec = np.asarray(ra, float), np.asarray(dec, float)
        index, _, _ = position_to_index(ra, dec, self.n, self.config)
        out = []
        for r, d, i in zip(ra, dec, index, strict=True):
            if i < 0:
                out.append(Cutout(Status.OFF_FOOTPRINT, reason=f"outside the synthetic patch of {self.n} galaxies "
                                                                f"(seed {self.config.seed})"))
            else:
                out.append(self._cutout(float(r), float(d), int(i), size))
        return out

    def _neighbours(self, index: int, size: int) -> list[int]:
        cfg = self.config
        reach = int(np.ceil(size * self.pixscale / 2 / cfg.spacing))
        col, row = index % cfg.columns, index // cfg.columns
        found = []
        for dr in range(-reach, reach + 1):
            for dc in range(-reach, reach + 1):
                c, r = col + dc, row + dr
                j = r * cfg.columns + c
                if (dc or dr) and 0 <= c < cfg.columns and r >= 0 and j < self.n:
                    found.append(j)
        return found

    def _cutout(self, ra: float, dec: float, index: int, size: int) -> Cutout:

        cfg = self.config
        kw = {"size": size, "scale": self.pixscale, "bands": self.bands, "seed": cfg.seed}
        half = size / 2
        image = None
        for j in [index, *self._neighbours(index, size)]:
            ra_g, dec_g = galaxy_positions(np.array([j]), cfg)
            xi, eta = sky_to_tan(ra_g, dec_g, ra, dec)  # the galaxy seen from the cutout centre
            off = (-np.degrees(xi[0]) * 3600 / self.pixscale, np.degrees(eta[0]) * 3600 / self.pixscale)
            off = tuple(0.0 if abs(o) < 1e-6 else float(o) for o in off)  # exact pixels at catalogue positions
            if j != index and (abs(off[0]) > half or abs(off[1]) > half):
                continue
            img = render_galaxy(_truth_row(cfg.seed, j), offset=off, noise=self.noise and j == index, **kw)
            image = img if image is None else image + img
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [ra, dec]
        wcs.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
        wcs.wcs.cdelt = [-self.pixscale / 3600, self.pixscale / 3600]
        return Cutout(Status.OK, image, wcs)

    def provenance(self) -> dict[str, Any]:
        cfg = self.config
        return {**super().provenance(), "seed": cfg.seed, "n": self.n, "ra0": cfg.ra0, "dec0": cfg.dec0,
                "spacing": cfg.spacing, "columns": cfg.columns, "noise": self.noise}
