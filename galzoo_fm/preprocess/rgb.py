"""RGB pictures of multi-band cutouts with :func:`astropy.visualization.make_lupton_rgb`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bands import BAND_WAVELENGTHS, check_band_names

__all__ = ["make_rgb", "rgb_band_order"]


def rgb_band_order(bands: Sequence[str]) -> list[int]:
    """Channels to show as red, green, blue: the three bands, reddest first (by :data:`BAND_WAVELENGTHS`).

    With more than three bands, the reddest, the middle and the bluest are used; fewer than three repeat.
    Unknown band names keep their channel order (first = bluest).
    """
    bands = check_band_names(bands, "bands")
    order = sorted(range(len(bands)), key=lambda i: (BAND_WAVELENGTHS.get(bands[i], float(i)), i))
    if len(order) >= 3:
        order = [order[0], order[len(order) // 2], order[-1]]
    while len(order) < 3:
        order = [order[0], *order]
    return order[::-1]


def make_rgb(
    images: np.ndarray,
    bands: Sequence[str],
    *,
    scales: Sequence[float] | None = None,
    stretch: float = 5.0,
    Q: float = 8.0,
    minimum: float = 0.0,
) -> np.ndarray:
    """Colour pictures of a batch (Lupton et al. 2004 colour-preserving arcsinh, via astropy).

    Each image's bands are multiplied by ``scales`` (e.g. ``1 / softening``, which puts the sky noise of every
    band at about 1), assigned to red/green/blue by :func:`rgb_band_order`, and passed to
    :func:`astropy.visualization.make_lupton_rgb` with ``stretch``, ``Q`` and ``minimum``.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` background-subtracted fluxes (NaN pixels show as black).
    bands : sequence of str
        The ``C`` band names.
    scales : sequence of float, optional
        ``C`` per-band multipliers; 1 by default.
    stretch, Q, minimum : float
        As in :func:`~astropy.visualization.make_lupton_rgb` (the same defaults: 5, 8, 0).

    Returns
    -------
    numpy.ndarray
        uint8 ``(N, H, W, 3)``.

    References
    ----------
    Lupton et al. 2004, PASP 116, 133.
    """
    from astropy.visualization import make_lupton_rgb

    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got shape {x.shape}")
    bands = check_band_names(bands, "bands")
    if len(bands) != x.shape[1]:
        raise ValueError(f"{len(bands)} band names {bands} for images with {x.shape[1]} channels")
    s = np.ones(x.shape[1]) if scales is None else np.asarray(scales, dtype=np.float64)
    if s.shape != (x.shape[1],):
        raise ValueError(f"scales must give one factor per band ({x.shape[1]}), got {list(np.ravel(s))}")
    x = np.nan_to_num(x * s[None, :, None, None], nan=0.0, posinf=0.0, neginf=0.0)
    r, g, b = rgb_band_order(bands)
    if len(x) == 0:
        return np.zeros((0, *x.shape[2:], 3), dtype=np.uint8)
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides 0 by 0 where all bands are <= 0
        return np.stack([make_lupton_rgb(img[r], img[g], img[b], minimum=minimum, stretch=stretch, Q=Q) for img in x])
