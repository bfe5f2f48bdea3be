"""Putting images on a common pixel grid: bilinear resampling between celestial WCSs, tangent-plane grids.

Enough for aligning the bands of one survey (sub-pixel shifts, small rotations between frames); no flux
conservation, so not a substitute for ``reproject`` when pixel scales differ a lot.
"""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

__all__ = ["bilinear", "header_wcs", "resample_to", "same_grid", "tan_grid"]


def header_wcs(header) -> WCS:
    """The celestial WCS of a survey image's FITS header, read without astropy's ``FITSFixedWarning`` notices.

    ``WCS(header)`` repairs what wcslib can (``cdfix``, ``datfix``, ``unitfix``, ``celfix``, ...) and warns of
    every repair; for the headers a survey service sends these notices repeat with every cutout (the Legacy
    Surveys' band cube has a CD matrix for its two sky axes only, which ``cdfix`` completes each time). Here
    only the celestial axes are read, the deprecated ``RADECSYS`` is read as ``RADESYS``, and wcslib's repairs
    are made without notices: the same WCS as ``WCS(header).celestial``. No warning filter is changed, so
    the fetch engine's worker threads may call it. A header that cannot be read this way (one needing a
    repair before its sky axes can be set up, or SIP with SCAMP ``PV`` terms) goes through
    ``WCS(header).celestial``, notices included.
    """
    if "RADECSYS" in header and "RADESYS" not in header:
        header = header.copy()
        header.rename_keyword("RADECSYS", "RADESYS")
    sip_and_pv = "-SIP" in str(header.get("CTYPE1", "")) and any(k.startswith("PV1_") for k in header)
    if not sip_and_pv:
        try:
            wcs = WCS(header, fix=False, naxis=["celestial"])
        except Exception:  # astropy.wcs raises many types here; the usual path below says what is wrong
            pass
        else:
            wcs.pixel_shape = _celestial_shape(header, wcs)
            wcs.wcs.fix()
            wcs.wcs.set()
            return wcs
    return WCS(header).celestial


def _celestial_shape(header, wcs: WCS) -> tuple[int, int] | None:
    """The header's ``NAXISn`` of the axes ``wcs`` kept (it holds all of them when a cube's band axis was
    dropped), as ``WCS(header).celestial`` gives; before wcslib's fixes, which may rename a CTYPE."""
    if wcs.pixel_shape is None or len(wcs.pixel_shape) == wcs.naxis:
        return wcs.pixel_shape
    ctypes = [str(header.get(f"CTYPE{i}", "")).strip() for i in range(1, len(wcs.pixel_shape) + 1)]
    try:
        return tuple(wcs.pixel_shape[ctypes.index(c.strip())] for c in wcs.wcs.ctype)
    except ValueError:
        return None


def tan_grid(ra: float, dec: float, size: int, pixscale: float) -> WCS:
    """A north-up, east-left TAN WCS of ``size`` × ``size`` pixels of ``pixscale`` arcsec centred on a position.

    The position lies at 0-based pixel ``((size - 1) / 2, (size - 1) / 2)``, the middle of the array for
    odd and even sizes alike.
    """
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    wcs.wcs.cd = np.array([[-pixscale / 3600.0, 0.0], [0.0, pixscale / 3600.0]])
    wcs.pixel_shape = (size, size)
    return wcs


def same_grid(a: WCS, b: WCS, shape: tuple[int, int], tol: float = 1e-3) -> bool:
    """Whether two WCSs put the corners of a ``shape`` image on the same pixels within ``tol`` pixels."""
    h, w = shape
    xs = np.array([0.0, w - 1, 0.0, w - 1])
    ys = np.array([0.0, 0.0, h - 1, h - 1])
    ra, dec = a.all_pix2world(xs, ys, 0)
    x2, y2 = b.all_world2pix(ra, dec, 0)
    return bool(np.all(np.abs(x2 - xs) < tol) and np.all(np.abs(y2 - ys) < tol))


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2-D ``image`` at 0-based pixel positions; 0 outside the image.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)``.
    x, y : numpy.ndarray
        Positions of any (equal) shape.
    """
    h, w = image.shape
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    out = np.zeros(np.shape(x), np.float32)
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
    if not inside.any():
        return out
    x0c, y0c = np.clip(x0, 0, w - 1), np.clip(y0, 0, h - 1)
    x1c, y1c = np.clip(x0 + 1, 0, w - 1), np.clip(y0 + 1, 0, h - 1)
    img = np.asarray(image, np.float32)
    val = (img[y0c, x0c] * (1 - fx) * (1 - fy) + img[y0c, x1c] * fx * (1 - fy)
           + img[y1c, x0c] * (1 - fx) * fy + img[y1c, x1c] * fx * fy)
    out[inside] = val[inside]
    return out


def resample_to(image: np.ndarray, src: WCS, dst: WCS, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (on grid ``src``) resampled onto the ``shape`` grid of ``dst``; pixels off ``image`` are 0.

    When the grids coincide (and shapes agree) the image is returned unchanged.
    """
    if image.shape == tuple(shape) and same_grid(dst, src, shape):
        return np.asarray(image, np.float32)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    ra, dec = dst.all_pix2world(xx.ravel().astype(float), yy.ravel().astype(float), 0)
    x, y = src.all_world2pix(ra, dec, 0)
    return bilinear(image, x.reshape(shape), y.reshape(shape))
