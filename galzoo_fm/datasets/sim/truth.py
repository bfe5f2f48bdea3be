"""The true morphology of simulated galaxies: a seeded table of structural parameters.

Every galaxy gets a *kind* (``elliptical``, ``disc``, ``star`` or ``artifact``) and the parameters that
:mod:`galzoo_fm.datasets.sim.render` draws and :mod:`galzoo_fm.datasets.sim.votes` turns into volunteer
answers: magnitude, size, Sérsic index, bulge-to-total ratio, inclination, bar, spiral arms (number, pitch
angle), ring, clumps, merger state and companion, field star, artefact, PSF and sky depth.

Parameters are drawn in blocks of :data:`BLOCK` galaxies, block ``b`` from the generator
``SeedSequence([seed, 0, b])``, so galaxy ``i`` of seed ``s`` is the same whatever the size of the
catalogue: the ``synthetic`` survey can serve any galaxy without simulating the others.

Distributions are chosen to look like the bright (r < 18.5) galaxies of Galaxy Zoo DECaLS at the Legacy
Surveys' 0.262"/px, not fitted to them: colours from the red sequence / blue cloud of SDSS galaxies
(g−r ≈ 0.75 and ≈ 0.45), half-light radii of a few arcsec, Moffat seeing of 0.9–1.6" FWHM, bar, ring and
arm frequencies of the order of those voted in GZ2 (Willett et al. 2013, MNRAS 435, 2835) and GZ DECaLS
(Walmsley et al. 2022, MNRAS 509, 3966). Spiral pitch angles follow the range measured by Davis et al.
(2012, ApJS 199, 33): tight < 15°, medium 15–25°, loose > 25°.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table

__all__ = ["ARTIFACTS", "BLOCK", "KINDS", "MERGER_STATES", "WINDINGS", "draw_truth"]

#: Galaxies per block of random draws.
BLOCK = 1024
#: Object kinds, in the order of the integer ``kind_code`` column.
KINDS = ("elliptical", "disc", "star", "artifact")
#: Merger states, in the order of the ``merger`` column (the GZ DECaLS ``merging`` answers).
MERGER_STATES = ("none", "minor-disturbance", "major-disturbance", "merger")
#: Spiral winding classes, in the order of the ``winding`` column (pitch < 15°, 15–25°, > 25°).
WINDINGS = ("tight", "medium", "loose")
#: Artefact kinds, in the order of the ``artifact`` column (0: none).
ARTIFACTS = ("none", "satellite-trail", "bleed-trail", "ghost")

_KIND_P = np.array([0.36, 0.54, 0.05, 0.05])
_ARMS_P = np.array([0.05, 0.55, 0.2, 0.12, 0.05, 0.03])  # 1, 2, 3, 4, 5, 6 arms


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def _block(seed: int, block: int, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` galaxies of block ``block``; every column has shape ``(n,)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0, block]))
    u = lambda lo, hi: _uniform(rng, lo, hi, n)  # noqa: E731
    kind = rng.choice(len(KINDS), size=n, p=_KIND_P)
    ell, disc, star, art = (kind == k for k in range(4))
    galaxy = ell | disc
    t: dict[str, np.ndarray] = {"kind_code": kind}
    # --- brightness and size (arcsec): galaxies r = 15.5-18.5, half-light radius a few arcsec
    t["mag_r"] = np.where(galaxy, u(15.5, 18.5), np.where(star, u(14.0, 18.5), u(17.5, 20.5)))
    r_e = np.exp(rng.normal(np.log(2.2), 0.3, n)) * np.where(disc, 1.35, 1.0)
    t["r_e"] = np.clip(r_e * 10 ** (-0.1 * (t["mag_r"] - 17.0)), 0.9, 5.5)
    # --- ellipticals: Sérsic index and intrinsic axis ratio; discs: inclination
    t["sersic_n"] = np.where(ell, u(2.5, 6.0), u(1.5, 4.0))
    cos_i = u(0.0, 1.0)
    t["inclination"] = np.where(disc, np.degrees(np.arccos(cos_i)), 0.0)
    q_ell = np.clip(rng.beta(5.0, 2.0, n), 0.3, 1.0)
    q_disc = np.sqrt(cos_i**2 + (0.12 * np.sqrt(1 - cos_i**2)) ** 2)
    t["q"] = np.where(disc, q_disc, np.where(ell, q_ell, 1.0))
    t["pa"] = u(0.0, 180.0)
    t["edge_on"] = disc & (t["inclination"] > 75.0)
    face = disc & (t["inclination"] < 70.0)
    # --- bulge + disc
    t["bulge_frac"] = np.where(ell, 1.0, np.where(disc, rng.beta(1.3, 3.0, n) * 0.8, 0.0))
    t["bulge_r_e"] = t["r_e"] * np.where(ell, 1.0, u(0.15, 0.35))
    # --- bars: weak or strong, in the disc plane
    has_bar = face & (rng.random(n) < 0.35)
    strong = rng.random(n) < 0.45
    t["bar"] = np.where(has_bar, np.where(strong, 2, 1), 0)
    t["bar_frac"] = np.where(has_bar, np.where(strong, u(0.12, 0.22), u(0.05, 0.1)), 0.0)
    t["bar_length"] = np.where(has_bar, t["r_e"] * u(0.5, 0.9), 0.0)
    t["bar_angle"] = u(0.0, 180.0)  # in the disc plane, from the major axis
    # --- spiral arms: number, pitch angle, strength
    has_arms = face & (rng.random(n) < 0.72)
    t["n_arms"] = np.where(has_arms, rng.choice(6, size=n, p=_ARMS_P) + 1, 0)
    t["pitch"] = np.where(has_arms, u(7.0, 40.0), 0.0)
    t["winding"] = np.where(has_arms, np.digitize(t["pitch"], [15.0, 25.0]), -1)
    t["arm_frac"] = np.where(has_arms, u(0.25, 0.6), 0.0)
    t["arm_phase"] = u(0.0, 2 * np.pi)
    # --- rings (more common in barred discs), clumps
    t["ring"] = face & (rng.random(n) < np.where(has_bar, 0.45, 0.22))
    t["ring_radius"] = np.where(t["ring"], t["r_e"] * u(1.0, 1.8), 0.0)
    t["ring_frac"] = np.where(t["ring"], u(0.25, 0.45), 0.0)
    t["n_clumps"] = np.where(disc & (rng.random(n) < 0.15), rng.integers(3, 9, n), 0)
    # --- mergers, companions and tidal features
    merger = np.where(galaxy, rng.choice(4, size=n, p=[0.8, 0.08, 0.06, 0.06]), 0)
    t["merger"] = merger
    t["tidal_frac"] = np.select([merger == 1, merger == 2, merger == 3], [u(0.03, 0.06), u(0.08, 0.15),
                                                                        u(0.08, 0.15)], 0.0)
    neighbour = galaxy & (merger == 0) & (rng.random(n) < 0.1)
    t["companion"] = (merger >= 2) | neighbour
    sep = np.select([merger == 3, merger == 2], [u(0.7, 1.4), u(1.5, 2.6)], u(3.5, 5.0)) * t["r_e"]
    t["companion_sep"] = np.where(t["companion"], np.clip(sep, 1.2, 7.5), 0.0)
    t["companion_angle"] = u(0.0, 360.0)
    t["companion_dmag"] = np.where(merger == 3, u(0.0, 1.0), u(0.3, 2.5))
    t["companion_r_e"] = t["r_e"] * u(0.5, 0.9)
    t["companion_n"] = np.where(rng.random(n) < 0.5, 1.0, 4.0)
    # --- colours (AB): red bulges / ellipticals, bluer discs, bluest arms, rings, clumps
    t["g_r_red"] = rng.normal(0.76, 0.05, n)
    t["r_z_red"] = rng.normal(0.42, 0.05, n)
    t["g_r_disc"] = rng.normal(0.5, 0.08, n)
    t["r_z_disc"] = rng.normal(0.32, 0.06, n)
    t["g_r_blue"] = rng.normal(0.25, 0.08, n)
    t["r_z_blue"] = rng.normal(0.15, 0.06, n)
    t["g_r_star"] = u(0.2, 1.4)
    t["r_z_star"] = 0.35 * t["g_r_star"] + rng.normal(0.0, 0.05, n)
    # --- field star and artefacts
    t["field_star"] = galaxy & (rng.random(n) < 0.15)
    t["field_star_mag"] = u(17.0, 21.0)
    t["field_star_x"], t["field_star_y"] = u(-7.5, 7.5), u(-7.5, 7.5)  # arcsec from the centre
    t["artifact"] = np.where(art, rng.integers(1, len(ARTIFACTS), n), np.where(rng.random(n) < 0.02, 1, 0))
    t["artifact_level"] = u(0.01, 0.06)
    t["artifact_angle"] = u(0.0, 180.0)
    t["artifact_offset"] = u(-5.0, 5.0)
    t["artifact_band"] = rng.integers(0, 3, n)
    t["spikes"] = star & (t["mag_r"] < 15.5)
    # --- observing conditions: seeing (arcsec FWHM, Moffat beta 3.5), sky noise scale, centring
    t["psf_fwhm"] = np.round(u(0.9, 1.6) / 0.05) * 0.05
    t["depth"] = u(0.8, 1.3)
    t["dx"], t["dy"] = rng.normal(0.0, 0.1, n), rng.normal(0.0, 0.1, n)  # arcsec
    # artefact-only images hold at most a faint, small galaxy
    t["r_e"] = np.where(art, np.minimum(t["r_e"], 1.5), t["r_e"])
    return t


def draw_truth(n: int, seed: int = 0, *, start: int = 0) -> Table:
    """Draw the true morphology of galaxies ``start`` to ``start + n - 1`` of simulation ``seed``.

    Parameters
    ----------
    n : int
        Number of galaxies.
    seed : int
        Simulation seed; galaxy ``i`` depends only on ``(seed, i)``.
    start : int
        Index of the first galaxy.

    Returns
    -------
    astropy.table.Table
        One row per galaxy with ``index`` and the structural parameters (see the module docstring):
        ``kind`` (str), ``kind_code``, ``mag_r``, ``r_e`` (arcsec), ``sersic_n``, ``q``, ``pa`` (deg),
        ``inclination`` (deg), ``edge_on``, ``bulge_frac``, ``bar`` (0 none, 1 weak, 2 strong), ``n_arms``,
        ``pitch`` (deg), ``winding`` (-1 none, else index into ``WINDINGS``), ``ring``, ``n_clumps``,
        ``merger`` (index into ``MERGER_STATES``), ``companion``, ``artifact`` (index into
        ``ARTIFACTS``), ``psf_fwhm`` (arcsec) and more.

    Raises
    ------
    ValueError
        If ``n`` or ``start`` is negative.
    TypeError
        If ``n``, ``seed`` or ``start`` is not an integer.

    Examples
    --------
    >>> from galzoo_fm.datasets.sim.truth import draw_truth
    >>> t = draw_truth(5, seed=1)
    >>> len(t), bool((draw_truth(2, seed=1, start=3)["mag_r"] == t["mag_r"][3:]).all())
    (5, True)
    """
    for name, value in (("n", n), ("seed", seed), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    parts: list[dict[str, np.ndarray]] = []
    first, last = start // BLOCK, (start + n - 1) // BLOCK if n else start // BLOCK - 1
    for b in range(first, last + 1):
        block = _block(int(seed), b, BLOCK)
        lo = max(start - b * BLOCK, 0)
        hi = min(start + n - b * BLOCK, BLOCK)
        parts.append({k: v[lo:hi] for k, v in block.items()})
    cols: dict[str, Any] = {"index": np.arange(start, start + n, dtype=np.int64)}
    keys = list(parts[0]) if parts else list(_block(0, 0, 1))
    for k in keys:
        cols[k] = np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
    cols["kind"] = np.array(KINDS)[cols["kind_code"].astype(int)] if n else np.zeros(0, "U10")
    table = Table(cols)
    table.meta["SIMSEED"] = int(seed)
    return table
