"""Colour pictures of multi-band cutouts: Lupton et al. (2004) arcsinh RGB via astropy, planes by wavelength.

The one RGB implementation of the package: :func:`galzoo_fm.explore.plots.galaxy_rgb` and every figure call
:func:`make_rgb`. The reddest band becomes red and the bluest blue, whatever the channel order of the store
(a ``local`` file may hold z, r, g), using :func:`~galzoo_fm.preprocess.band_wavelength`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from galzoo_fm.preprocess.bands import band_wavelength, check_band_names

__all__ = ["make_rgb", "rgb_band_order"]


def rgb_band_order(bands: Sequence[str]) -> list[int]:
    """Channels to show as red, green, blue: the reddest, middle and bluest band by wavelength.

    Wavelengths come from :func:`~galzoo_fm.preprocess.band_wavelength`. With more than three bands the
    reddest, the middle one (by wavelength) and the bluest are used; with two, red is the redder band and
    green and blue the bluer; one band gives grey.

    If any band has no known wavelength (e.g. ``band0``), the channels are taken to be ordered blue to red
    as given, with a :class:`UserWarning` naming the unknown bands; name the bands (``BAND<i>`` / ``FILTER``
    keywords of a local file) to get the right colours.

    Examples
    --------
    >>> from galzoo_fm.preprocess import rgb_band_order
    >>> rgb_band_order(["z", "r", "g"])  # z is red, g is blue
    [0, 1, 2]
    >>> rgb_band_order(["F435W", "F606W", "F814W", "F160W"])
    [3, 2, 0]
    """
    bands = check_band_names(bands, "bands")
    lam = [band_wavelength(b) for b in bands]
    unknown = [b for b, w in zip(bands, lam, strict=True) if w is None]
    if unknown:
        warnings.warn(
            f"no known wavelength for band(s) {', '.join(map(repr, unknown))}: the colour picture assumes the "
            f"channels {bands} are ordered blue to red (see galzoo_fm.preprocess.band_wavelength for the names "
            "understood)", UserWarning, stacklevel=2)
        order = list(range(len(bands)))
    else:
        order = sorted(range(len(bands)), key=lambda i: (lam[i], i))
    return _pick_rgb(order)


def _pick_rgb(order: list[int]) -> list[int]:
    """Red, green, blue channels from channel indices ordered blue to red."""
    if len(order) >= 3:
        order = [order[0], order[len(order) // 2], order[-1]]
    while len(order) < 3:
        order = [order[0], *order]
    return order[::-1]


def make_rgb(
    images: np.ndarray,
    bands: Sequence[str] | None,
    *,
    scales: Sequence[float] | None = None,
    stretch: float | None = 5.0,
    Q: float = 8.0,
    minimum: float = 0.0,
) -> np.ndarray:
    """Colour pictures of a batch (Lupton et al. 2004 colour-preserving arcsinh, via astropy).

    Each image's bands are multiplied by ``scales`` (e.g. ``1 / softening``, which puts the sky noise of every
    band at about 1), assigned to red/green/blue by :func:`rgb_band_order` (reddest band red), and passed to
    :func:`astropy.visualization.make_lupton_rgb` with ``stretch``, ``Q`` and ``minimum``.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` background-subtracted fluxes (NaN pixels show as black).
    bands : sequence of str or None
        The ``C`` band names, in channel order (any order: the planes are sorted by wavelength). ``None``
        means the channels are already ordered blue to red (e.g. g, r, z).
    scales : sequence of float, optional
        ``C`` per-band multipliers; 1 by default.
    stretch : float or None
        Linear stretch of :func:`~astropy.visualization.make_lupton_rgb` (default 5, astropy's). ``None``:
        per image, the 99.5th percentile of its three planes over ``Q``, so that faint and bright galaxies
        both show structure.
    Q, minimum : float
        As in :func:`~astropy.visualization.make_lupton_rgb` (the same defaults: 8, 0).

    Returns
    -------
    numpy.ndarray
        uint8 ``(N, H, W, 3)``; row 0 is row 0 of the input (draw with ``origin="lower"`` for FITS-ordered
        cutouts).

    References
    ----------
    Lupton et al. 2004, PASP 116, 133.
    """
    from astropy.visualization import make_lupton_rgb

    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got shape {x.shape}")
    if bands is None:
        r, g, b = _pick_rgb(list(range(x.shape[1])))
    else:
        bands = check_band_names(bands, "bands")
        if len(bands) != x.shape[1]:
            raise ValueError(f"{len(bands)} band names {bands} for images with {x.shape[1]} channels")
        r, g, b = rgb_band_order(bands)
    s = np.ones(x.shape[1]) if scales is None else np.asarray(scales, dtype=np.float64)
    if s.shape != (x.shape[1],):
        raise ValueError(f"scales must give one factor per band ({x.shape[1]}), got {list(np.ravel(s))}")
    x = np.nan_to_num(x * s[None, :, None, None], nan=0.0, posinf=0.0, neginf=0.0)
    if len(x) == 0:
        return np.zeros((0, *x.shape[2:], 3), dtype=np.uint8)
    out = []
    for img in x:
        planes = img[r], img[g], img[b]
        k = stretch
        if k is None:
            level = np.percentile(np.stack(planes), 99.5)
            k = float(level / Q) if level > 0 else 1.0
        with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides 0 by 0 where all bands are <= 0
            out.append(make_lupton_rgb(*planes, minimum=minimum, stretch=k, Q=Q))
    return np.stack(out)
