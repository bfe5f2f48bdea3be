"""The vectorised pipeline steps: cleaning, background subtraction, arcsinh stretch and clipping.

Every function takes a batch ``(N, C, H, W)`` and works on all galaxies at once.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from galzoo_fm._utils.checks import one_of
from galzoo_fm.preprocess.flags import PreprocessFlag
from galzoo_fm.preprocess.torch_steps import asinh_

__all__ = ["asinh_stretch", "clean_images", "clipped_stats", "estimate_background", "subsample_step"]

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
    bad = np.isfinite(x)
    np.logical_not(bad, out=bad)
    if mask is not None:
        bad |= np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
    n = x.shape[0]
    flags = np.zeros(n, dtype=np.int32)
    any_bad = bad.any(axis=(1, 2, 3))
    clean = not any_bad.any()  # the common case: no masked pixel, skip the masking passes
    flags[any_bad] |= PreprocessFlag.NONFINITE
    if clean:
        hi, lo = x.max(axis=(2, 3)), x.min(axis=(2, 3))
        empty = ((hi == 0) & (lo == 0)).all(axis=1)
    else:
        x[bad] = 0.0
        fraction = np.count_nonzero(bad.reshape(n, -1), axis=1) / max(1, bad[0].size)
        flags[fraction > max_masked_fraction] |= PreprocessFlag.MOSTLY_MASKED
        hi = np.where(bad, -np.inf, x).max(axis=(2, 3))
        lo = np.where(bad, np.inf, x).min(axis=(2, 3))
        empty = ~(x != 0).any(axis=(1, 2, 3))  # bad pixels are 0 already
    flags[empty] |= PreprocessFlag.EMPTY
    constant = ~(hi > lo)  # also true for a band with no good pixel
    flags[constant.any(axis=1) & ~(flags & PreprocessFlag.EMPTY).astype(bool)] |= PreprocessFlag.CONSTANT
    saturated = np.zeros(n, dtype=bool)
    if saturation is not None:
        saturated |= ((x >= saturation) & ~bad).any(axis=(1, 2, 3))
    if plateau_pixels > 0:
        at_max = (x == hi[:, :, None, None]) if clean else ((x == hi[:, :, None, None]) & ~bad)
        at_max = at_max.sum(axis=(2, 3))
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
    max_pixels: int | None = None,
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
        (:class:`astropy.stats.SigmaClip`'s C implementation for the whole batch at once, then the median and
        standard deviation of the surviving pixels, as :func:`astropy.stats.sigma_clipped_stats` gives).
        ``"background2d"``: a smooth map per band from :class:`photutils.background.Background2D`
        (mesh ``box_size`` pixels, 3x3 median filter; one call per image and band, so slower); a band
        that it cannot handle (e.g. too few good pixels) falls back to the sigma-clipped level.
        ``"none"``: level 0.
    sigma, maxiters : float, int
        Sigma-clipping threshold and iterations.
    box_size : int
        ``Background2D`` mesh size in pixels.
    max_pixels : int, optional
        Evaluate the sigma-clipped statistics on a regular grid of at most this many pixels per band (every
        ``s``-th pixel along both axes, ``s = ceil(sqrt(H W / max_pixels))``) instead of all ``H W``. The
        clipped median's standard error grows by about ``s`` (``1.25 sigma / sqrt(n)`` for ``n`` sky pixels:
        0.04 sigma at 1024 pixels), far below the noise the stretch sees, while the cost falls by ``s**2``;
        a regular grid has no preferred position, so the level stays unbiased. ``None`` or 0: every pixel.
        ``Background2D`` maps always use every pixel.

    Returns
    -------
    level : numpy.ndarray
        float32, ``(N, C, 1, 1)`` for ``"sigma_clip"``/``"none"`` or ``(N, C, H, W)`` for ``"background2d"``:
        subtract it from the images.
    noise : numpy.ndarray
        float32, ``(N, C)``: the sigma-clipped standard deviation (``background_rms_median`` for
        ``"background2d"``); 0 for a band without good pixels.
    """
    one_of(method, BACKGROUND_METHODS, "background")
    if images.shape[0] == 0:
        return np.zeros((*images.shape[:2], 1, 1), dtype=np.float32), np.zeros(images.shape[:2], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # all-masked bands give NaN, handled below
        step = subsample_step(images.shape[-2:], max_pixels)
        grid, grid_bad = images[:, :, ::step, ::step], None if bad is None else bad[:, :, ::step, ::step]
        median, std = clipped_stats(grid, grid_bad, sigma=sigma, maxiters=maxiters)
    median = np.nan_to_num(np.asarray(median, dtype=np.float32), nan=0.0)
    noise = np.nan_to_num(np.asarray(std, dtype=np.float32), nan=0.0)
    if method == "none":
        return np.zeros((*images.shape[:2], 1, 1), dtype=np.float32), noise
    if method == "sigma_clip":
        return median[:, :, None, None], noise
    return _background2d(images, bad, median, noise, sigma=sigma, maxiters=maxiters, box_size=box_size)


def clipped_stats(images: np.ndarray, bad: np.ndarray | None, *, sigma: float = 3.0, maxiters: int = 5
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Sigma-clipped median and standard deviation of each band of each image.

    The same numbers as ``astropy.stats.sigma_clipped_stats(images, mask=bad, axis=(2, 3))`` (median
    centre, standard deviation, ``sigma`` both sides), computed without its per-row Python loop: the clip
    is :class:`astropy.stats.SigmaClip` (C implementation, clipped pixels become NaN), then one sort per
    row gives every median at once.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)``.
    bad : numpy.ndarray or None
        bool ``(N, C, H, W)``: pixels to ignore.

    Returns
    -------
    median, std : numpy.ndarray
        float64 ``(N, C)``; NaN for a band without good pixels.
    """
    from astropy.stats import SigmaClip

    n, c = images.shape[:2]
    flat = np.array(images, dtype=np.float32, copy=True).reshape(n * c, -1)
    if bad is not None:
        flat[np.broadcast_to(bad, images.shape).reshape(n * c, -1)] = np.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # NaN input (bad pixels) and bands without good pixels are expected
        clipped = SigmaClip(sigma=sigma, maxiters=maxiters, cenfunc="median", stdfunc="std")(
            flat, axis=1, masked=False, copy=False)
        ordered = np.sort(clipped, axis=1)  # NaN (clipped or bad) sort last
        count = np.count_nonzero(~np.isnan(ordered), axis=1)
        rows = np.arange(len(ordered))
        lo = ordered[rows, np.maximum((count - 1) // 2, 0)].astype(np.float64)
        hi = ordered[rows, np.maximum(count // 2, 0)].astype(np.float64)
        median = np.where(count > 0, 0.5 * (lo + hi), np.nan)
        std = np.nanstd(clipped.astype(np.float64), axis=1)
    return median.reshape(n, c), std.reshape(n, c)


def subsample_step(shape: tuple[int, int], max_pixels: int | None) -> int:
    """Stride ``s`` of the regular grid of at most ``max_pixels`` pixels in an ``(H, W)`` image (1: all).

    Examples
    --------
    >>> subsample_step((64, 64), 1024), subsample_step((256, 256), 1024), subsample_step((64, 64), None)
    (2, 8, 1)
    """
    if not max_pixels:
        return 1
    h, w = shape
    return max(1, math.ceil(math.sqrt(h * w / max_pixels)))


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
        if isinstance(softening, torch.Tensor):
            beta = softening.to(device=x.device, dtype=torch.float32)
        else:
            beta = torch.as_tensor(np.asarray(softening, dtype=np.float32), device=x.device)
    else:
        x = np.asarray(images, dtype=np.float32)
        if isinstance(softening, torch.Tensor):
            softening = softening.detach().cpu().numpy()
        beta = np.asarray(softening, dtype=np.float32)
    if beta.ndim not in (1, 2) or beta.shape[-1] != x.shape[1]:
        raise ValueError(
            f"softening must have shape (C,) or (N, C) with C={x.shape[1]} bands, got shape {tuple(beta.shape)}"
        )
    beta = xp.where(beta > 0, beta, xp.ones_like(beta))
    beta = beta.reshape((1, -1, 1, 1) if beta.ndim == 1 else (beta.shape[0], beta.shape[1], 1, 1))
    if xp is torch:
        y = x / beta  # one new tensor, then in place
        asinh_(y).mul_(float(1 / np.arcsinh(dynamic_range)))
        return y if clip is None else y.clamp_(float(clip[0]), float(clip[1]))
    y = np.divide(x, beta)  # one new array, then in place: no temporaries on the CPU path
    np.arcsinh(y, out=y)
    y *= np.float32(1 / np.arcsinh(dynamic_range))
    if clip is not None:
        np.clip(y, np.float32(clip[0]), np.float32(clip[1]), out=y)
    return y
