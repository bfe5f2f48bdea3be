"""Optional photutils steps: segmentation of the central galaxy, neighbour masking / in-painting, centroids.

These loop over images (photutils works on one 2-D image at a time), so they cost far more than the
vectorised steps; the pipeline runs them only when asked (``neighbours=``, ``recentre=``).
See the photutils segmentation and centroids documentation:
https://photutils.readthedocs.io/en/stable/user_guide/segmentation.html
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from galzoo_fm._utils.checks import one_of
from galzoo_fm.preprocess.flags import PreprocessFlag

__all__ = ["detection_images", "find_central_sources", "measure_centroids", "replace_neighbours"]

NEIGHBOUR_MODES = ("none", "zero", "noise", "symmetric")
CENTROID_METHODS = ("none", "com", "quadratic")


def detection_images(images: np.ndarray, noise: np.ndarray, smooth_sigma: float = 1.0) -> np.ndarray:
    """Signal-to-noise detection images ``(N, H, W)``: the bands' S/N summed over ``sqrt(C)``, smoothed.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)``, background-subtracted.
    noise : numpy.ndarray
        ``(N, C)`` sky noise; bands with zero noise are left out.
    smooth_sigma : float
        Gaussian smoothing in pixels (one batched convolution); 0 disables it.
    """
    ok = noise > 0
    snr = images / np.where(ok, noise, 1.0)[:, :, None, None] * ok[:, :, None, None]
    det = snr.sum(axis=1) / np.sqrt(np.maximum(ok.sum(axis=1), 1))[:, None, None]
    if smooth_sigma <= 0:
        return det.astype(np.float32)
    r = max(1, int(np.ceil(3 * smooth_sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / smooth_sigma) ** 2)
    k = k / k.sum()
    t = torch.from_numpy(np.ascontiguousarray(det, dtype=np.float32))[:, None]
    t = F.conv2d(F.pad(t, (r, r, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    t = F.conv2d(t, k.view(1, 1, 1, -1))
    return t[:, 0].numpy() * np.float32(2 * np.sqrt(np.pi) * smooth_sigma)  # keep the noise near 1 per pixel


def find_central_sources(
    det: np.ndarray,
    *,
    threshold: float = 3.0,
    n_pixels: int = 5,
    deblend: bool = True,
    contrast: float = 0.005,
    n_levels: int = 32,
    central_radius: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Segment each detection image and find the label of the central galaxy.

    Uses :func:`photutils.segmentation.detect_sources` (threshold ``threshold`` per pixel in the units of
    ``det``, at least ``n_pixels`` connected pixels) and, if ``deblend``,
    :func:`photutils.segmentation.deblend_sources` (``contrast``, ``n_levels``; needs scikit-image). The
    central label is the most common non-zero label within ``central_radius`` pixels of the cutout centre.

    Returns
    -------
    segments : numpy.ndarray
        int32 ``(N, H, W)`` segmentation maps (0 = sky).
    central : numpy.ndarray
        int32 ``(N,)`` label of the central source, 0 where none was found.
    """
    from photutils.segmentation import deblend_sources, detect_sources

    if deblend:
        try:
            import skimage  # noqa: F401  (photutils' deblending needs scikit-image)
        except ImportError as exc:
            raise ImportError(
                "deblending neighbours (deblend=True) needs scikit-image: pip install scikit-image, "
                "or set deblend=False"
            ) from exc
    n, h, w = det.shape
    segments = np.zeros((n, h, w), dtype=np.int32)
    central = np.zeros(n, dtype=np.int32)
    cy, cx = h // 2, w // 2
    r = central_radius
    for i in range(n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NoDetectionsWarning and deblending warnings
            seg = detect_sources(det[i], threshold, n_pixels=n_pixels)
            if seg is None:
                continue
            if deblend and seg.n_labels > 0:
                try:
                    seg = deblend_sources(det[i], seg, n_pixels=n_pixels, n_levels=n_levels, contrast=contrast,
                                          progress_bar=False)
                except ValueError:
                    pass
        data = seg.data
        segments[i] = data
        box = data[max(cy - r, 0) : cy + r + 1, max(cx - r, 0) : cx + r + 1]
        labels, counts = np.unique(box[box > 0], return_counts=True)
        if len(labels):
            central[i] = labels[np.argmax(counts)]
    return segments, central


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    t = torch.from_numpy(mask.astype(np.float32))[:, None]
    return F.max_pool2d(t, 2 * radius + 1, stride=1, padding=radius)[:, 0].numpy() > 0


def replace_neighbours(
    images: np.ndarray,
    segments: np.ndarray,
    central: np.ndarray,
    noise: np.ndarray,
    *,
    mode: str = "noise",
    dilate: int = 2,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replace the pixels of sources other than the central one.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)``, background-subtracted; not modified.
    segments, central : numpy.ndarray
        From :func:`find_central_sources`. Images with ``central == 0`` are left untouched.
    noise : numpy.ndarray
        ``(N, C)`` sky noise, for ``mode="noise"``.
    mode : {"zero", "noise", "symmetric"}
        ``"zero"``: the sky level 0. ``"noise"``: Gaussian sky noise. ``"symmetric"``: the pixel at the
        point-symmetric position about the cutout centre (galaxies are roughly point-symmetric), or sky noise
        where that pixel is itself a neighbour or outside the cutout.
    dilate : int
        Grow the neighbour mask by this many pixels (to cover their faint wings).
    rng : numpy.random.Generator, optional
        For the noise; seeded for reproducibility.

    Returns
    -------
    images : numpy.ndarray
        A copy with neighbours replaced.
    neighbours : numpy.ndarray
        bool ``(N, H, W)``: the replaced pixels.
    """
    one_of(mode, NEIGHBOUR_MODES[1:], "neighbours")  # "none" is the pipeline's: no replacement at all
    rng = np.random.default_rng(0) if rng is None else rng
    has = central > 0
    mask = (segments > 0) & (segments != central[:, None, None]) & has[:, None, None]
    mask = _dilate(mask, dilate) & ~(segments == central[:, None, None]) & has[:, None, None]
    out = images.copy()
    m4 = np.broadcast_to(mask[:, None], images.shape)
    if mode == "zero":
        out[m4] = 0.0
        return out, mask
    fill = (rng.standard_normal(images.shape, dtype=np.float32) * noise[:, :, None, None]).astype(np.float32)
    if mode == "symmetric":
        mirrored = images[:, :, ::-1, ::-1]  # point reflection about the centre of the (square) cutout
        use = np.broadcast_to(~mask[:, ::-1, ::-1][:, None], images.shape)
        fill = np.where(use, mirrored, fill)
    out[m4] = fill[m4]
    return out, mask


def measure_centroids(
    det: np.ndarray,
    segments: np.ndarray | None,
    central: np.ndarray | None,
    *,
    method: str = "com",
    max_shift: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Offset ``(dy, dx)`` of each galaxy's centroid from the cutout centre, in pixels.

    ``"com"``: :func:`photutils.centroids.centroid_com` of the detection image over the central segment
    (needs ``segments``/``central``). ``"quadratic"``: :func:`photutils.centroids.centroid_quadratic`
    around the brightest pixel within ``max_shift`` of the centre.

    Returns
    -------
    shifts : numpy.ndarray
        float64 ``(N, 2)``; 0 where the centroid failed.
    flags : numpy.ndarray
        int32 ``(N,)``: :attr:`~PreprocessFlag.CENTROID_FAILED` where the centroid is undefined or further
        than ``max_shift`` pixels, :attr:`~PreprocessFlag.NO_CENTRAL_SOURCE` where ``"com"`` had no segment.
    """
    from photutils.centroids import centroid_com, centroid_quadratic

    one_of(method, CENTROID_METHODS[1:], "recentre")
    n, h, w = det.shape
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    shifts = np.zeros((n, 2))
    flags = np.zeros(n, dtype=np.int32)
    r = int(np.ceil(max_shift))
    for i in range(n):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if method == "com":
                if central is None or central[i] == 0:
                    flags[i] |= PreprocessFlag.NO_CENTRAL_SOURCE | PreprocessFlag.CENTROID_FAILED
                    continue
                xc, yc = centroid_com(np.where(segments[i] == central[i], det[i], 0.0))
            else:
                y0, x0 = max(int(centre[0]) - r, 0), max(int(centre[1]) - r, 0)
                box = det[i, y0 : int(centre[0]) + r + 2, x0 : int(centre[1]) + r + 2]
                py, px = np.unravel_index(np.argmax(box), box.shape)
                xc, yc = centroid_quadratic(det[i], xpeak=px + x0, ypeak=py + y0, fit_boxsize=5)
        shift = np.array([yc, xc]) - centre
        if not np.all(np.isfinite(shift)) or np.hypot(*shift) > max_shift:
            flags[i] |= PreprocessFlag.CENTROID_FAILED
            continue
        shifts[i] = shift
    return shifts, flags
