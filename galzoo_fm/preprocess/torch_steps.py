"""The per-image preprocessing steps in torch: batched, on whatever device the tensors are on.

These are the steps every path runs (pretraining, finetuning, evaluation, embedding): bad-pixel cleaning
and flags, the sigma-clipped sky level and noise, and resampling weights shared by a whole batch. They take
``(N, C, H, W)`` float32 tensors and never move them to the host; on CUDA nothing here waits for the device
(no ``.item()``, no data-dependent Python branch), so a batch's preprocessing queues behind the previous
batch's forward pass. On CPU tensors a few cheap checks skip passes over batches without bad pixels.

The NumPy/astropy functions of :mod:`galzoo_fm.preprocess.steps` compute the same numbers; they are kept
as the reference the tests compare against.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from galzoo_fm.preprocess.flags import PreprocessFlag
from galzoo_fm.preprocess.geometry import _weights

__all__ = ["any_band", "asinh_", "clean_batch", "clipped_stats_torch", "count_equal", "count_true", "isfinite",
           "resample_shared", "sky_batch", "sort_rows"]


def _host_checks(x: torch.Tensor) -> bool:
    """Whether data-dependent shortcuts are free (no device synchronisation): CPU tensors only."""
    return x.device.type == "cpu"


# Elementwise kernels. torch's CPU kernels for isfinite, asinh and boolean counts are scalar loops (asinh
# 20x slower than NumPy's SIMD ufunc on these machines), so on CPU tensors these few kernels run NumPy's
# ufuncs on the tensor's own memory (no copy); on any other device they are torch ops.
def isfinite(x: torch.Tensor) -> torch.Tensor:
    """bool tensor: ``x`` is finite."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.isfinite(x.numpy()))
    return torch.isfinite(x)


def asinh_(x: torch.Tensor) -> torch.Tensor:
    """``x`` replaced by ``arcsinh(x)``, in place."""
    if x.device.type == "cpu" and not x.requires_grad:
        a = x.numpy()
        np.arcsinh(a, out=a)
        return x
    return x.arcsinh_()


def count_true(mask: torch.Tensor) -> torch.Tensor:
    """int ``(N, C)``: true pixels of each band of a bool ``(N, C, H, W)`` mask."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.count_nonzero(mask.numpy(), axis=(2, 3)))
    return mask.sum(dim=(2, 3))


def any_band(mask: torch.Tensor) -> torch.Tensor:
    """bool ``(N, H, W)``: the pixel is true in any band of a bool ``(N, C, H, W)`` mask."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.logical_or.reduce(mask.numpy(), axis=1))
    return mask.any(1)


def count_equal(x: torch.Tensor, value: torch.Tensor, bad: torch.Tensor | None) -> torch.Tensor:
    """int ``(N, C)``: pixels of each band equal to ``value`` ``(N, C)`` (bad pixels not counted)."""
    if x.device.type == "cpu":
        eq = x.numpy() == value.numpy()[:, :, None, None]
        if bad is not None:
            eq &= ~bad.numpy()
        return torch.from_numpy(np.count_nonzero(eq, axis=(2, 3)))
    eq = x == value[:, :, None, None]
    if bad is not None:
        eq &= ~bad
    return eq.sum(dim=(2, 3))


def clean_batch(
    x: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    saturation: float | None = None,
    plateau_pixels: int = 5,
    max_masked_fraction: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Find unusable pixels, fill them with 0 and flag problem cutouts (torch twin of
    :func:`~galzoo_fm.preprocess.clean_images`).

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, H, W)`` float32 fluxes, on any device.
    mask : torch.Tensor, optional
        bool, broadcastable to ``x``: pixels to ignore.
    saturation, plateau_pixels, max_masked_fraction
        As :func:`~galzoo_fm.preprocess.clean_images`.

    Returns
    -------
    filled : torch.Tensor
        ``(N, C, H, W)`` float32 with bad pixels set to 0: ``x`` itself when a CPU batch has no bad pixel
        (not modified), else a new tensor.
    bad : torch.Tensor or None
        bool ``(N, C, H, W)``; ``None`` when a CPU batch has no bad pixel at all.
    flags : torch.Tensor
        int32 ``(N,)`` :class:`~galzoo_fm.preprocess.PreprocessFlag` bits.
    """
    n = x.shape[0]
    flags = torch.zeros(n, dtype=torch.int32, device=x.device)
    if _host_checks(x) and mask is None:
        # one reduction finds the bands holding a NaN or an infinity (they make the sum non-finite); the
        # pixel masks are then built for those images only
        suspect = ~torch.isfinite(x.sum(dim=(2, 3))).all(1)
        rows = suspect.nonzero()[:, 0]
        if len(rows) == 0:
            return x, None, _value_flags(x, None, flags, saturation, plateau_pixels)
        if 2 * len(rows) < n:  # a few images with bad pixels: masks for those only
            sub = x[rows]
            sub_bad = ~isfinite(sub)
            bad = torch.zeros(x.shape, dtype=torch.bool)
            bad[rows] = sub_bad
            filled = x.clone()
            filled[rows] = sub.masked_fill_(sub_bad, 0.0)
        else:
            bad = ~isfinite(x)
            filled = x.masked_fill(bad, 0.0)
    else:
        bad = ~isfinite(x)
        if mask is not None:
            bad |= mask.to(device=x.device, dtype=torch.bool).expand_as(x)
        filled = x.masked_fill(bad, 0.0)
    count = count_true(bad)
    total = count.sum(1)
    flags |= (total > 0).int() * int(PreprocessFlag.NONFINITE)
    fraction = total / max(1, bad[0].numel())
    flags |= (fraction > max_masked_fraction).int() * int(PreprocessFlag.MOSTLY_MASKED)
    return filled, bad, _value_flags(filled, bad, flags, saturation, plateau_pixels, count > 0)


def _value_flags(x: torch.Tensor, bad: torch.Tensor | None, flags: torch.Tensor, saturation: float | None,
                 plateau_pixels: int, bad_bands: torch.Tensor | None = None) -> torch.Tensor:
    """``EMPTY``, ``CONSTANT`` and ``SATURATED`` bits from the good pixels of ``x`` (bad pixels hold 0;
    ``bad_bands`` ``(N, C)`` marks the bands that have any)."""
    n = x.shape[0]
    hi, lo = x.amax(dim=(2, 3)), x.amin(dim=(2, 3))
    empty = ((hi == 0) & (lo == 0)).all(1)  # bad pixels are 0: no good pixel differs from 0
    if bad is not None:  # the extremes of the good pixels only, for the bands that have bad pixels
        if _host_checks(x):
            i, b = bad_bands.nonzero(as_tuple=True)
            if len(i):
                sub, sub_bad = x[i, b], bad[i, b]
                hi[i, b] = sub.masked_fill(sub_bad, -math.inf).amax(dim=(1, 2))
                lo[i, b] = sub.masked_fill(sub_bad, math.inf).amin(dim=(1, 2))
        else:
            hi = x.masked_fill(bad, -math.inf).amax(dim=(2, 3))
            lo = x.masked_fill(bad, math.inf).amin(dim=(2, 3))
    flags |= empty.int() * int(PreprocessFlag.EMPTY)
    constant = ~(hi > lo)  # also true for a band without a good pixel
    flags |= (constant.any(1) & ~empty).int() * int(PreprocessFlag.CONSTANT)
    saturated = torch.zeros(n, dtype=torch.bool, device=x.device)
    if saturation is not None:
        hit = x >= saturation
        saturated |= (hit if bad is None else hit & ~bad).flatten(1).any(1)
    if plateau_pixels > 0:
        count = count_equal(x, hi, bad)
        saturated |= ((count >= plateau_pixels) & ~constant).any(1)
    return flags | saturated.int() * int(PreprocessFlag.SATURATED)


def sort_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row of a 2-D tensor sorted ascending, NaN last (NumPy's sort for CPU tensors: 20x faster)."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.numpy(), axis=1))
    return torch.sort(x, dim=1).values


def _sorted_median(s: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Median of ``s[r, start[r]:end[r]]`` for sorted rows (NaN for empty ranges)."""
    last = s.shape[1] - 1
    count = end - start
    lo = s.gather(1, (start + ((count - 1) // 2).clamp(min=0)).clamp(max=last)[:, None])[:, 0]
    hi = s.gather(1, (start + count // 2).clamp(max=last)[:, None])[:, 0]
    med = 0.5 * (lo + hi)
    return torch.where(count > 0, med, torch.full_like(med, math.nan))


def clipped_stats_torch(
    x: torch.Tensor, bad: torch.Tensor | None, *, sigma: float = 3.0, maxiters: int = 5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigma-clipped median and standard deviation of each band of each image, on the tensors' device.

    The numbers of ``astropy.stats.sigma_clipped_stats(x, mask=bad, axis=(2, 3), sigma=sigma,
    maxiters=maxiters)`` (median centre, population standard deviation, symmetric bounds, pixels on a bound
    kept). Each row is sorted once; the pixels that survive clipping are then always one contiguous run
    ``[start, end)`` of the sorted row, so an iteration is two binary searches for the new bounds and
    prefix-sum differences for the mean and variance (float64, centred on the first median): no pass over
    the pixels after the sort.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, C, H, W)``.
    bad : torch.Tensor or None
        bool ``(N, C, H, W)``: pixels to ignore.
    sigma : float
        Clipping threshold in standard deviations.
    maxiters : int
        Clipping iterations (iterations after convergence change nothing).

    Returns
    -------
    median, std : torch.Tensor
        float32 ``(N, C)``; NaN for a band without good pixels.
    """
    n, c = x.shape[:2]
    if n * c == 0 or x[0, 0].numel() == 0:
        empty = torch.full((n, c), math.nan, device=x.device)
        return empty, empty.clone()
    flat = x.reshape(n * c, -1).float()
    if bad is not None:
        flat = flat.masked_fill(bad.reshape(n * c, -1), math.nan)
    s = sort_rows(flat)  # NaN sort last
    end = (~torch.isnan(s)).sum(1)
    start = torch.zeros_like(end)
    wide = torch.float32 if s.device.type == "mps" else torch.float64  # statistics in float64, as astropy
    s = torch.nan_to_num(s, nan=math.inf).to(wide)  # still sorted; never inside [start, end)
    centre = torch.nan_to_num(_sorted_median(s, start, end), nan=0.0)
    d = (s - centre[:, None]).masked_fill_(s == math.inf, 0.0)  # only +inf (the padding) can occur
    cs1, cs2 = d.cumsum(1), (d * d).cumsum(1)

    def upto(cs: torch.Tensor, k: torch.Tensor) -> torch.Tensor:  # sum of the first k entries of a row
        return torch.where(k > 0, cs.gather(1, (k - 1).clamp(min=0)[:, None])[:, 0], torch.zeros((), dtype=wide,
                                                                                              device=cs.device))

    def stats(start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = (end - start).to(wide)
        m1 = (upto(cs1, end) - upto(cs1, start)) / count.clamp(min=1)
        m2 = (upto(cs2, end) - upto(cs2, start)) / count.clamp(min=1)
        std = (m2 - m1 * m1).clamp(min=0).sqrt()
        std = torch.where(count > 0, std, torch.full_like(std, math.nan))
        return _sorted_median(s, start, end), std

    for _ in range(int(maxiters)):
        med, std = stats(start, end)
        ok = end > start
        lo = torch.where(ok, med - sigma * std, torch.zeros_like(med))[:, None]
        hi = torch.where(ok, med + sigma * std, torch.zeros_like(med))[:, None]
        new_start = torch.searchsorted(s, lo, right=False)[:, 0]  # first pixel >= lo
        new_end = torch.searchsorted(s, hi, right=True)[:, 0]  # past the last pixel <= hi
        start = torch.where(ok, torch.maximum(start, new_start), start)
        end = torch.where(ok, torch.minimum(end, new_end), end)
        end = torch.maximum(end, start)
    med, std = stats(start, end)
    return med.float().reshape(n, c), std.float().reshape(n, c)


def sky_batch(
    x: torch.Tensor, bad: torch.Tensor | None, *, step: int, sigma: float, maxiters: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sky level and noise per band from the regular grid ``x[..., ::step, ::step]`` (torch twin of
    :func:`~galzoo_fm.preprocess.estimate_background` with ``method="sigma_clip"``).

    Returns
    -------
    level, noise : torch.Tensor
        float32 ``(N, C)``; 0 for a band without good pixels.
    """
    grid = x[:, :, ::step, ::step]
    grid_bad = None if bad is None else bad[:, :, ::step, ::step]
    med, std = clipped_stats_torch(grid, grid_bad, sigma=sigma, maxiters=maxiters)
    return torch.nan_to_num(med, nan=0.0), torch.nan_to_num(std, nan=0.0)


@lru_cache(maxsize=32)
def _shared_weights(n_in: int, n_out: int, step: float, method: str, device: str) -> tuple[torch.Tensor, bool]:

    w, outside = _weights(n_in, n_out, step, torch.tensor([n_in / 2], dtype=torch.float64), method)
    return w[0].to(device), bool(outside[0])


def resample_shared(x: torch.Tensor, size: int, step: float, method: str) -> tuple[torch.Tensor, bool]:
    """Resample every image of a batch onto the same centred ``size`` x ``size`` grid (no per-image shift).

    The weights of :func:`~galzoo_fm.preprocess.resample_images` for an unshifted centre, computed once
    per shape and cached on the device: the resampling is then two matrix products, ``Wy @ x @ Wx.T``.

    Returns
    -------
    resampled : torch.Tensor
        ``(N, C, size, size)``.
    truncated : bool
        Whether the field of view extends beyond the input (the same for every image).
    """
    h, w = x.shape[-2:]
    dev = str(x.device)
    wy, ty = _shared_weights(int(h), int(size), float(step), method, dev)
    wx, tx = _shared_weights(int(w), int(size), float(step), method, dev)
    return torch.matmul(wy, torch.matmul(x, wx.T)), ty or tx
