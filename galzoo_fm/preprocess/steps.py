"""The vectorised pipeline steps: cleaning, background subtraction, arcsinh stretch and clipping.

Every function takes a batch ``(N, C, H, W)`` and works on all galaxies at once.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from .flags import PreprocessFlag

__all__ = ["asinh_stretch", "clean_images", "estimate_background"]

BACKGROUND_METHODS = ("sigma_clip", "background2d", "none")


def clean_images(
    images: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    saturation: float | None = None,
    plateau_pixels: int = 5,
    max_masked_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find unusable pixels, fill them with 0 and flag problem cutouts.

    Parameters
    ----------
    images : numpy.ndarray
        Shape ``(N, C, H, W)``, fluxes.
    mask : numpy.ndarray, optional
        Boolean, broadcastable to ``images``; ``True`` marks pixels to ignore (e.g. from ``maskbits``).
    saturation : float, optional
        Flux at or above which a pixel counts as saturated.
    plateau_pixels : int
        A band whose maximum value is shared by at least this many pixels is flat-topped (saturated or
        clipped); ``0`` disables the test.
    max_masked_fraction : float
        Flag :attr:`~PreprocessFlag.MOSTLY_MASKED` above this fraction of bad pixels.

    Returns
    -------
    filled : numpy.ndarray
        float32 copy of ``images`` with bad pixels set to 0, shape ``(N, C, H, W)``.
    bad : numpy.ndarray
        bool, shape ``(N, C, H, W)``: non-finite or masked pixels.
    flags : numpy.ndarray
        int32, shape ``(N,)``: :class:`PreprocessFlag` bits (``NONFINITE``, ``EMPTY``, ``CONSTANT``,
        ``SATURATED``, ``MOSTLY_MASKED``).
    """
    x = np.array(images, dtype=np.float32, copy=True)
    bad = ~np.isfinite(x)
    if mask is not None:
        bad |= np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
    x[bad] = 0.0
    n = x.shape[0]
    flags = np.zeros(n, dtype=np.int32)
    any_bad = bad.any(axis=(1, 2, 3))
    flags[any_bad] |= PreprocessFlag.NONFINITE
    flags[bad.mean(axis=(1, 2, 3)) > max_masked_fraction] |= PreprocessFlag.MOSTLY_MASKED
    flags[~((x != 0) & ~bad).any(axis=(1, 2, 3))] |= PreprocessFlag.EMPTY
    hi = np.where(bad, -np.inf, x).max(axis=(2, 3))
    lo = np.where(bad, np.inf, x).min(axis=(2, 3))
    constant = ~(hi > lo)  # also true for a band with no good pixel
    flags[constant.any(axis=1) & ~(flags & PreprocessFlag.EMPTY).astype(bool)] |= PreprocessFlag.CONSTANT
    saturated = np.zeros(n, dtype=bool)
    if saturation is not None:
        saturated |= ((x >= saturation) & ~bad).any(axis=(1, 2, 3))
    if plateau_pixels > 0:
        at_max = ((x == hi[:, :, None, None]) & ~bad).sum(axis=(2, 3))
        saturated |= ((at_max >= plateau_pixels) & ~constant).any(axis=1)
    flags[saturated] |= PreprocessFlag.SATURATED
    return x, bad, flags


def estimate_background(
    images: np.ndarray,
    bad: np.ndarray | None = None,
    *,
    method: str = "sigma_clip",
    sigma: float = 3.0,
    maxiters: int = 5,
    box_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Sky level and noise of each band of each image.

    Parameters
    ----------
    images : numpy.ndarray
        Shape ``(N, C, H, W)``.
    bad : numpy.ndarray, optional
        bool, shape ``(N, C, H, W)``: pixels to ignore.
    method : {"sigma_clip", "background2d", "none"}
        ``"sigma_clip"``: one level per band, the sigma-clipped median
        (:func:`astropy.stats.sigma_clipped_stats`, evaluated for the whole batch at once).
        ``"background2d"``: a smooth map per band from :class:`photutils.background.Background2D`
        (mesh ``box_size`` pixels, 3x3 median filter; one call per image and band, so slower); a band
        that it cannot handle (e.g. too few good pixels) falls back to the sigma-clipped level.
        ``"none"``: level 0.
    sigma, maxiters : float, int
        Sigma-clipping threshold and iterations.
    box_size : int
        ``Background2D`` mesh size in pixels.

    Returns
    -------
    level : numpy.ndarray
        float32, ``(N, C, 1, 1)`` for ``"sigma_clip"``/``"none"`` or ``(N, C, H, W)`` for ``"background2d"``:
        subtract it from the images.
    noise : numpy.ndarray
        float32, ``(N, C)``: the sigma-clipped standard deviation (``background_rms_median`` for
        ``"background2d"``); 0 for a band without good pixels.
    """
    from astropy.stats import sigma_clipped_stats

    if method not in BACKGROUND_METHODS:
        raise ValueError(f"background must be one of {', '.join(map(repr, BACKGROUND_METHODS))}; got {method!r}")
    if images.shape[0] == 0:
        return np.zeros((*images.shape[:2], 1, 1), dtype=np.float32), np.zeros(images.shape[:2], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # all-masked bands give NaN, handled below
        _, median, std = sigma_clipped_stats(images, mask=bad, sigma=sigma, maxiters=maxiters, axis=(2, 3))
    median = np.nan_to_num(np.asarray(median, dtype=np.float32), nan=0.0)
    noise = np.nan_to_num(np.asarray(std, dtype=np.float32), nan=0.0)
    if method == "none":
        return np.zeros((*images.shape[:2], 1, 1), dtype=np.float32), noise
    if method == "sigma_clip":
        return median[:, :, None, None], noise
    return _background2d(images, bad, median, noise, sigma=sigma, maxiters=maxiters, box_size=box_size)


def _background2d(images, bad, median, noise, *, sigma, maxiters, box_size):
    from astropy.stats import SigmaClip
    from photutils.background import Background2D

    n, c, h, w = images.shape
    level = np.broadcast_to(median[:, :, None, None], images.shape).astype(np.float32)
    box = (min(box_size, h), min(box_size, w))
    clip = SigmaClip(sigma=sigma, maxiters=maxiters)
    for i in range(n):
        for b in range(c):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    bkg = Background2D(images[i, b], box, mask=None if bad is None else bad[i, b], sigma_clip=clip)
            except ValueError:
                continue
            level[i, b] = bkg.background
            noise[i, b] = bkg.background_rms_median
    return level, noise


def _xp(x: Any):
    return torch if isinstance(x, torch.Tensor) else np


def asinh_stretch(
    images: np.ndarray | torch.Tensor,
    softening: Any,
    dynamic_range: float = 1000.0,
    clip: tuple[float, float] | None = None,
) -> np.ndarray | torch.Tensor:
    """Per-band arcsinh stretch (Lupton et al. 1999, 2004), optionally clipped.

    .. math:: y = \\operatorname{asinh}(x / \\beta_b) \\, / \\, \\operatorname{asinh}(R)

    Linear for fluxes well below the softening :math:`\\beta_b` of band ``b`` (noise stays Gaussian),
    logarithmic above it; a flux of :math:`R \\beta_b` maps to 1. This equals
    ``astropy.visualization.AsinhStretch(a=1/R)`` applied to :math:`x / (R \\beta_b)` without its clipping.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        Shape ``(N, C, H, W)``, background-subtracted fluxes; a tensor stays on its device.
    softening : array-like
        :math:`\\beta`, shape ``(C,)`` (one per band) or ``(N, C)`` (one per image and band), in flux
        units; values that are not positive (a constant band's zero noise) are replaced by 1.
    dynamic_range : float
        :math:`R`, the flux in units of :math:`\\beta` that maps to 1.
    clip : (float, float), optional
        Clip the stretched values to this range.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same type, device and shape as ``images``, float32.

    References
    ----------
    Lupton, Gunn & Szalay 1999, AJ 118, 1406; Lupton et al. 2004, PASP 116, 133.

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm.preprocess import asinh_stretch
    >>> x = np.array([0.0, 0.01, 10.0], dtype="float32").reshape(1, 1, 1, 3)
    >>> np.round(asinh_stretch(x, [0.01], dynamic_range=1000).astype(float), 3).tolist()
    [[[[0.0, 0.116, 1.0]]]]
    """
    xp = _xp(images)
    if not (np.isfinite(dynamic_range) and dynamic_range > 0):
        raise ValueError(f"dynamic_range must be a positive finite number, got {dynamic_range!r}")
    if xp is torch:
        x = images.float()
        beta = torch.as_tensor(np.asarray(softening, dtype=np.float32), device=x.device)
    else:
        x = np.asarray(images, dtype=np.float32)
        beta = np.asarray(softening, dtype=np.float32)
    if beta.ndim not in (1, 2) or beta.shape[-1] != x.shape[1]:
        raise ValueError(
            f"softening must have shape (C,) or (N, C) with C={x.shape[1]} bands, got shape {tuple(beta.shape)}"
        )
    beta = xp.where(beta > 0, beta, xp.ones_like(beta))
    beta = beta.reshape((1, -1, 1, 1) if beta.ndim == 1 else (beta.shape[0], beta.shape[1], 1, 1))
    y = xp.arcsinh(x / beta) / np.float32(np.arcsinh(dynamic_range))
    if clip is not None:
        y = xp.clip(y, float(clip[0]), float(clip[1]))
    return y
