"""Drawing simulated galaxies: GalSim profiles and PSFs, NumPy spiral arms, rings, clumps and tails.

One galaxy is drawn as up to five *colour groups*, each convolved with the galaxy's PSF once and scaled
to every band by its colour:

* ``red`` — bulge (Sérsic), bar (a flattened Gaussian in the disc plane), elliptical companions;
* ``disc`` — the exponential disc (:class:`galsim.InclinedExponential`, thick enough to look right
  edge-on), disc companions, faint artefact-field galaxies, tidal tails;
* ``blue`` — spiral arms, rings and star-forming clumps;
* ``star`` and ``field star`` — point sources (the PSF itself).

GalSim (Rowe et al. 2015, Astron. Comput. 10, 121) draws the analytic profiles convolved with a Moffat
PSF (β = 3.5) including the pixel response. Structures with no analytic profile — logarithmic spiral arms
``I ∝ e^{-r/h} [(1 + cos m(φ − ln r / tan ψ) )/2]^3`` (ψ the pitch angle), Gaussian rings and clumps, tidal
tails — are evaluated in the disc plane on the pixel grid with NumPy and convolved with the same PSF image
(drawn by GalSim, cached per seeing) by one batched FFT; this keeps a galaxy at a few milliseconds.
Artefacts (satellite trails in one band, bleed trails of saturated stars, scattered-light ghosts,
diffraction spikes) are added after the convolution, then Gaussian sky noise plus a shot-noise term.
Units are nanomaggies (AB zero point 22.5).

Simplification: one PSF per galaxy for all bands (real seeing is slightly worse in g).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["BAND_COLOURS", "SKY_NOISE", "render_galaxy"]

#: Sky noise in nanomaggies per 0.262" pixel (Legacy Surveys DR9-like depths), scaled by ``depth``.
SKY_NOISE = {"g": 0.0035, "r": 0.0055, "i": 0.008, "z": 0.012}
#: Band magnitude minus r magnitude as a function of the ``(g−r, r−z)`` colours of a group.
BAND_COLOURS = {
    "g": lambda g_r, r_z: g_r,
    "r": lambda g_r, r_z: 0.0,
    "i": lambda g_r, r_z: -0.55 * r_z,
    "z": lambda g_r, r_z: -r_z,
}
_SHOT = 0.0015  # nanomaggies per "count": shot noise variance = flux * _SHOT


def _galsim():
    try:
        import galsim
    except ImportError:  # pragma: no cover - galsim is a dependency
        raise ImportError("the galaxy simulation needs GalSim: pip install galsim") from None
    return galsim


@lru_cache(maxsize=64)
def _unit_sersic(n: float):
    """A unit-flux, unit half-light-radius Sérsic profile truncated at 8 radii (cached: GalSim's setup per
    profile is the slow part; ``dilate`` keeps the flux)."""
    return _galsim().Sersic(n=n, half_light_radius=1.0, trunc=8.0)


def _sersic(n: float, hlr: float, flux: float):
    return _unit_sersic(float(np.clip(np.round(n * 4) / 4, 0.5, 6.0))).dilate(hlr).withFlux(flux)


@lru_cache(maxsize=64)
def _moffat(fwhm: float):
    return _galsim().Moffat(beta=3.5, fwhm=fwhm)


@lru_cache(maxsize=64)
def _psf_fft(fwhm: float, size: int, scale: float) -> np.ndarray:
    """rFFT of the Moffat PSF ⊗ pixel (unit sum, centred on pixel ``(0, 0)``) on a ``2 size`` grid."""
    galsim = _galsim()
    half = size // 2
    img = galsim.Moffat(beta=3.5, fwhm=fwhm).drawImage(nx=2 * half + 1, ny=2 * half + 1, scale=scale).array
    pad = np.zeros((2 * size, 2 * size))
    pad[: 2 * half + 1, : 2 * half + 1] = img / img.sum()
    return np.fft.rfft2(np.roll(pad, (-half, -half), axis=(0, 1)))


def _fft_convolve(images: np.ndarray, fwhm: float, scale: float) -> np.ndarray:
    """Convolve ``(k, size, size)`` images with the PSF (zero-padded, no wrap-around)."""
    size = images.shape[-1]
    f = np.fft.rfft2(images, s=(2 * size, 2 * size)) * _psf_fft(fwhm, size, scale)
    return np.fft.irfft2(f, s=(2 * size, 2 * size))[:, :size, :size]


def _band_factors(bands: tuple[str, ...], g_r: float, r_z: float) -> np.ndarray:
    return np.array([10 ** (-0.4 * BAND_COLOURS[b](g_r, r_z)) for b in bands])


def _flux(mag: float) -> float:
    return 10 ** (0.4 * (22.5 - mag))


def _disc_frame(size: int, scale: float, off: tuple[float, float], pa: float, cos_i: float):
    """Radius and azimuth ``(size, size)`` in the disc plane (arcsec, radians) of every pixel centre."""
    c = (size - 1) / 2
    y, x = np.mgrid[:size, :size].astype(np.float64)
    x = (x - c - off[0]) * scale
    y = (y - c - off[1]) * scale
    a = np.radians(pa)
    u = x * np.cos(a) + y * np.sin(a)
    v = (-x * np.sin(a) + y * np.cos(a)) / max(cos_i, 0.2)
    return np.hypot(u, v), np.arctan2(v, u), u, v


def _spiral(r: np.ndarray, phi: np.ndarray, m: int, pitch: float, phase: float, power: float) -> np.ndarray:
    rr = np.maximum(r, 1e-3)
    return (0.5 * (1 + np.cos(m * (phi - np.log(rr) / np.tan(np.radians(pitch))) - phase))) ** power


def _normalise(img: np.ndarray, flux: float) -> np.ndarray:
    s = img.sum()
    return img * (flux / s) if s > 0 else img


def _numpy_structures(t: Any, size: int, scale: float, off: tuple[float, float], rng: np.random.Generator,
                      disc_flux: float, total: float) -> tuple[np.ndarray, np.ndarray]:
    """``(blue, tails)`` intrinsic images ``(size, size)`` in r-band nanomaggies."""
    blue = np.zeros((size, size))
    tails = np.zeros((size, size))
    disc = t["kind"] == "disc"
    cos_i = np.cos(np.radians(t["inclination"])) if disc else 1.0
    r, phi, u, v = _disc_frame(size, scale, off, t["pa"], cos_i)
    r_e = t["r_e"]
    h = r_e / 1.678
    if t["n_arms"] > 0:
        r_in = max(1.6 * t["bulge_r_e"], 0.35 * r_e, t["bar_length"])
        arms = np.exp(-r / h) * (1 - np.exp(-((r / r_in) ** 2))) * _spiral(r, phi, int(t["n_arms"]), t["pitch"],
                                                                            t["arm_phase"], 3.0)
        blue += _normalise(arms, t["arm_frac"] * disc_flux)
    if t["ring"]:
        radius = t["ring_radius"]
        ring = np.exp(-0.5 * ((r - radius) / (0.07 * radius + 0.1)) ** 2)
        blue += _normalise(ring, t["ring_frac"] * disc_flux)
    for _ in range(int(t["n_clumps"])):  # clump positions come first from the galaxy's generator
        cr, cphi = rng.uniform(0.3, 1.6) * r_e, rng.uniform(0, 2 * np.pi)
        clump = np.exp(-0.5 * ((u - cr * np.cos(cphi)) ** 2 + (v - cr * np.sin(cphi)) ** 2) / 0.3**2)
        blue += _normalise(clump, rng.uniform(0.015, 0.04) * total)
    if t["tidal_frac"] > 0:
        m = 1 if t["merger"] == 1 else 2
        rt, phit, _, _ = _disc_frame(size, scale, off, t["pa"] + 40.0, 0.7)
        tail = np.exp(-rt / (1.5 * r_e)) * (1 - np.exp(-((rt / (1.3 * r_e)) ** 4)))
        tail *= _spiral(rt, phit, m, 28.0, t["arm_phase"] + 1.0, 8.0)
        tails += _normalise(tail, t["tidal_frac"] * total)
    return blue, tails


def _galsim_groups(t: Any, total: float, disc_flux: float) -> dict[str, list]:
    """GalSim profiles (before PSF and centring) of the ``red``, ``disc`` and ``star`` groups."""
    galsim = _galsim()
    deg = galsim.degrees
    groups: dict[str, list] = {"red": [], "disc": [], "star": [], "field": []}
    kind = t["kind"]
    pa = t["pa"] * deg
    if kind in ("elliptical", "disc"):
        bulge_flux = t["bulge_frac"] * total
        if bulge_flux > 0:
            q = t["q"] if kind == "elliptical" else max(t["q"], 0.7)
            bulge = _sersic(t["sersic_n"], t["bulge_r_e"], bulge_flux)
            groups["red"].append(bulge.shear(q=q, beta=pa))
        if kind == "disc":
            inc = min(t["inclination"], 89.0) * deg
            groups["disc"].append(galsim.InclinedExponential(inc, half_light_radius=t["r_e"], scale_h_over_r=0.1,
                                                             flux=disc_flux).rotate(pa))
            if t["bar"] > 0:
                cos_i = np.cos(np.radians(t["inclination"]))
                bar = galsim.Gaussian(half_light_radius=t["bar_length"]).shear(q=0.22, beta=t["bar_angle"] * deg)
                bar = bar.transform(1.0, 0.0, 0.0, cos_i).rotate(pa).withFlux(t["bar_frac"] * total)
                groups["red"].append(bar)
        if t["companion"]:
            a = np.radians(t["companion_angle"])
            sep = t["companion_sep"]
            comp = _sersic(t["companion_n"], t["companion_r_e"], total * 10 ** (-0.4 * t["companion_dmag"]))
            comp = comp.shear(q=0.7, beta=(t["companion_angle"] + 60.0) * deg).shift(sep * np.cos(a), sep * np.sin(a))
            groups["red" if t["companion_n"] > 2 else "disc"].append(comp)
    elif kind == "star":
        groups["star"].append(galsim.DeltaFunction(flux=total))
    else:  # artefact fields hold a faint small galaxy
        groups["disc"].append(_sersic(1.5, t["r_e"], total).shear(q=t["q"], beta=pa))
    if t["field_star"]:
        groups["field"].append(galsim.DeltaFunction(flux=_flux(t["field_star_mag"])).shift(t["field_star_x"],
                                                                                          t["field_star_y"]))
    return groups


def _line(size: int, angle: float, offset: float, width: float, off: tuple[float, float]) -> np.ndarray:
    """A Gaussian line profile (pixels) through the stamp at ``angle`` degrees, ``offset`` px from the centre."""
    c = (size - 1) / 2
    y, x = np.mgrid[:size, :size].astype(np.float64)
    a = np.radians(angle)
    d = -(x - c - off[0]) * np.sin(a) + (y - c - off[1]) * np.cos(a) - offset
    return np.exp(-0.5 * (d / width) ** 2)


def _artefacts(t: Any, images: np.ndarray, bands: tuple[str, ...], scale: float, off: tuple[float, float],
               psf_sigma: float, total: float) -> None:
    size = images.shape[-1]
    kind = int(t["artifact"])
    level = t["artifact_level"]
    if kind == 1:  # satellite trail: one band only
        band = int(t["artifact_band"]) % len(bands)
        images[band] += level * _line(size, t["artifact_angle"], t["artifact_offset"] / scale, psf_sigma, off)
    elif kind == 2:  # bleed trail of a saturated star: a bright column through the stamp
        col = _line(size, 90.0, t["artifact_offset"] / scale, 0.8, off)
        y = np.arange(size)[:, None]
        col *= np.exp(-np.abs(y - (size - 1) / 2) / (size / 3)) * (40 * level)
        images += col[None]
    elif kind == 3:  # scattered-light ghost: a large faint ring with a halo
        r, _, _, _ = _disc_frame(size, scale, (off[0] + t["artifact_offset"] / scale, off[1]), 0.0, 1.0)
        radius = 4.0 + abs(t["artifact_offset"])
        ghost = level * (np.exp(-0.5 * ((r - radius) / 0.8) ** 2) + 0.4 * (r < radius))
        images += ghost[None] * np.linspace(1.2, 0.8, len(bands))[:, None, None]
    if t["spikes"]:
        spikes = _line(size, 0.0, 0.0, 0.6, off) + _line(size, 90.0, 0.0, 0.6, off)
        r, _, _, _ = _disc_frame(size, scale, off, 0.0, 1.0)
        images += (spikes * np.exp(-r / 3.0) * 5e-4 * total)[None]


def render_galaxy(truth: Any, *, size: int = 64, scale: float = 0.262, bands: tuple[str, ...] = ("g", "r", "z"),
                  seed: int = 0, offset: tuple[float, float] = (0.0, 0.0), noise: bool = True) -> np.ndarray:
    """Draw one simulated galaxy.

    Parameters
    ----------
    truth : mapping or astropy.table.Row
        One row of :func:`~galzoo_fm.datasets.sim.draw_truth` (``index`` and the structural parameters).
    size : int
        Side of the stamp in pixels; the galaxy is at its centre ``((size - 1) / 2, (size - 1) / 2)`` plus
        its centring error ``(dx, dy)`` and ``offset``.
    scale : float
        Pixel scale in arcsec/pixel.
    bands : tuple of str
        Output bands, from ``g``, ``r``, ``i``, ``z``.
    seed : int
        Simulation seed: the clumps and the noise of galaxy ``i`` come from ``SeedSequence([seed, 1, i])``.
    offset : (float, float)
        Extra shift of the galaxy in pixels ``(x, y)``, e.g. when a cutout is not centred on it.
    noise : bool
        Add sky and shot noise.

    Returns
    -------
    numpy.ndarray
        ``(len(bands), size, size)`` float32 image in nanomaggies; ``image[:, y, x]``, north up (+y) and
        east left (−x) under the ``synthetic`` survey's WCS.

    Raises
    ------
    ValueError
        For an unknown band or a non-positive size or scale.
    """
    galsim = _galsim()
    unknown = [b for b in bands if b not in BAND_COLOURS]
    if unknown:
        raise ValueError(f"unknown band(s) {unknown} for the galaxy simulation; available: {list(BAND_COLOURS)}")
    if size < 8 or scale <= 0:
        raise ValueError(f"size must be >= 8 pixels and scale > 0, got size={size}, scale={scale}")
    t = truth
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1, int(t["index"])]))
    off = (float(t["dx"]) / scale + offset[0], float(t["dy"]) / scale + offset[1])
    if abs(off[0]) < 1e-9 and abs(off[1]) < 1e-9:
        off = (0.0, 0.0)
    total = _flux(float(t["mag_r"]))
    disc_flux = total * (1.0 - t["bulge_frac"] - t["bar_frac"]) if t["kind"] == "disc" else 0.0
    carved = t["arm_frac"] + t["ring_frac"]  # light of arms and ring comes out of the smooth disc
    fwhm = float(t["psf_fwhm"])
    psf = _moffat(fwhm)
    colours = {
        "red": (t["g_r_red"], t["r_z_red"]), "disc": (t["g_r_disc"], t["r_z_disc"]),
        "blue": (t["g_r_blue"], t["r_z_blue"]), "star": (t["g_r_star"], t["r_z_star"]),
        "field": (0.9 * t["g_r_star"] + 0.2, 0.35 * t["g_r_star"] + 0.1),
    }
    images = np.zeros((len(bands), size, size))
    blue, tails = _numpy_structures(t, size, scale, off, rng, disc_flux, total)
    groups = _galsim_groups(t, total, disc_flux * max(1.0 - carved, 0.1))
    for name, profiles in groups.items():
        if not profiles:
            continue
        prof = galsim.Convolve(galsim.Add(profiles) if len(profiles) > 1 else profiles[0], psf)
        img = prof.drawImage(nx=size, ny=size, scale=scale, offset=off).array
        images += _band_factors(bands, *colours[name])[:, None, None] * img[None]
    parts = [(blue, "blue"), (tails, "disc")]
    planes = [_band_factors(bands, *colours[k])[:, None, None] * p[None] for p, k in parts if p.any()]
    if planes:
        images += _fft_convolve(np.sum(planes, axis=0), fwhm, scale)
    _artefacts(t, images, bands, scale, off, fwhm / 2.355 / scale, total)
    if noise:
        sky = np.array([SKY_NOISE[b] for b in bands])[:, None, None] * float(t["depth"]) * (scale / 0.262)
        sigma = np.sqrt(sky**2 + np.maximum(images, 0.0) * _SHOT)
        images += sigma * rng.standard_normal(images.shape)
    return images.astype(np.float32)
