"""Putting images on a common pixel grid: celestial WCSs of survey headers, tangent-plane grids, and the
alignment of frames and bands onto one grid with ``reproject``.

:func:`reproject_onto` is bilinear interpolation (``reproject_interp``) when the pixel scale stays the same
(sub-pixel shifts and small rotations between the bands of one survey) and exact spherical-polygon overlap
(``reproject_exact``, flux-conserving) when it changes; :func:`coadd` combines the frames a cutout straddles.
Pixel values keep their units: each output pixel is the (area-weighted) mean of the input pixels under it,
so a source's flux is the sum of its pixels times the ratio of output to input pixel area.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

__all__ = ["SCALE_TOLERANCE", "coadd", "header_wcs", "linear_tan", "reproject_onto", "same_grid", "tan_grid"]

#: Relative change of pixel scale above which :func:`reproject_onto` conserves flux (``reproject_exact``).
SCALE_TOLERANCE = 1e-3


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


def linear_tan(crval: Sequence[float], crpix: Sequence[float], cd: np.ndarray) -> WCS:
    """A TAN :class:`~astropy.wcs.WCS` from its reference values: ``crval`` (degrees), ``crpix`` (1-based),
    ``cd`` ``(2, 2)`` degrees per pixel (building one is about 3x quicker than a deep copy of another)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = crval
    wcs.wcs.crpix = crpix
    wcs.wcs.cd = cd
    return wcs


def tan_grid(ra: float, dec: float, size: int, pixscale: float) -> WCS:
    """A north-up, east-left TAN WCS of ``size`` × ``size`` pixels of ``pixscale`` arcsec centred on a position.

    The position lies at 0-based pixel ``((size - 1) / 2, (size - 1) / 2)``, the middle of the array for
    odd and even sizes alike.
    """
    wcs = linear_tan([ra, dec], [(size + 1) / 2, (size + 1) / 2],
                     np.array([[-pixscale / 3600.0, 0.0], [0.0, pixscale / 3600.0]]))
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


def _crop(image: np.ndarray, wcs: WCS, grid: WCS, shape: tuple[int, int], margin: int = 2
          ) -> tuple[np.ndarray, WCS] | None:
    """The part of ``image`` under the ``shape`` grid of ``grid`` (plus ``margin`` pixels), with its WCS; ``None``
    when they do not overlap. ``reproject_exact`` works over every input pixel, so a whole SDSS frame
    (2048 × 1489) would cost seconds per band."""
    h, w = shape
    ex, ey = np.linspace(-0.5, w - 0.5, 5), np.linspace(-0.5, h - 0.5, 5)  # the outer pixel edges, 5 points a side
    xs = np.r_[ex, ex, np.full(5, -0.5), np.full(5, w - 0.5)]
    ys = np.r_[np.full(5, -0.5), np.full(5, h - 0.5), ey, ey]
    ra, dec = grid.all_pix2world(xs, ys, 0)
    x, y = wcs.all_world2pix(ra, dec, 0)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return image, wcs
    ih, iw = image.shape
    x0, x1 = max(int(np.floor(x.min())) - margin, 0), min(int(np.ceil(x.max())) + margin + 1, iw)
    y0, y1 = max(int(np.floor(y.min())) - margin, 0), min(int(np.ceil(y.max())) + margin + 1, ih)
    if x0 >= x1 or y0 >= y1:
        return None
    return image[y0:y1, x0:x1], wcs[y0:y1, x0:x1]


def _scale(wcs: WCS) -> float:
    return float(np.mean(proj_plane_pixel_scales(wcs)))


def reproject_onto(image: np.ndarray, wcs: WCS, grid: WCS, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (on ``wcs``) reprojected onto the ``shape`` grid of ``grid``, with its coverage.

    Bilinear interpolation (``reproject_interp``) when both grids have the same pixel scale (within
    :data:`SCALE_TOLERANCE`), else exact overlap (``reproject_exact``), which conserves flux. Either way an
    output pixel is a mean of input values, in the input's units. When the grids coincide the image is
    returned unchanged.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H_in, W_in)``.
    wcs, grid : astropy.wcs.WCS
        Celestial WCSs of the input and of the output grid.
    shape : tuple of int
        ``(H, W)`` of the output.

    Returns
    -------
    data : numpy.ndarray
        ``(H, W)`` float32; 0 where the image does not reach.
    footprint : numpy.ndarray
        ``(H, W)`` float32 in ``[0, 1]``: the fraction of each output pixel the image covers (0 or 1 for
        interpolation).
    """
    shape = (int(shape[0]), int(shape[1]))
    if image.shape == shape and same_grid(grid, wcs, shape):
        return np.asarray(image, np.float32), np.ones(shape, np.float32)
    part = _crop(image, wcs, grid, shape)
    if part is None:
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    # imported here: reproject brings dask and takes seconds to import, and the other surveys need only header_wcs
    from reproject import reproject_exact, reproject_interp

    exact = abs(_scale(wcs) / _scale(grid) - 1) > SCALE_TOLERANCE
    data = np.asarray(part[0], np.float64)
    if exact:
        out, footprint = reproject_exact((data, part[1]), grid, shape_out=shape)
    else:
        out, footprint = reproject_interp((data, part[1]), grid, shape_out=shape, order="bilinear")
    footprint = np.clip(np.nan_to_num(footprint, nan=0.0), 0.0, 1.0)  # exact overlap: 1 within ~1e-3
    out = np.where((footprint > 0) & np.isfinite(out), out, 0.0)
    return out.astype(np.float32), footprint.astype(np.float32)


def coadd(frames: Sequence[tuple[np.ndarray, WCS]], grid: WCS, shape: tuple[int, int]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Frames that a cutout straddles, each reprojected with :func:`reproject_onto` and averaged by coverage.

    Parameters
    ----------
    frames : sequence of (numpy.ndarray, astropy.wcs.WCS)
        ``(H_i, W_i)`` images and their celestial WCSs, in the same units.
    grid : astropy.wcs.WCS
        The output grid.
    shape : tuple of int
        ``(H, W)``.

    Returns
    -------
    data : numpy.ndarray
        ``(H, W)`` float32: the footprint-weighted mean of the frames; 0 where none reaches.
    footprint : numpy.ndarray
        ``(H, W)`` float32: the summed coverage, clipped to 1.
    """
    total = np.zeros(shape, np.float64)
    weight = np.zeros(shape, np.float64)
    for image, wcs in frames:
        data, footprint = reproject_onto(image, wcs, grid, shape)
        total += data.astype(np.float64) * footprint
        weight += footprint
    out = np.divide(total, weight, out=np.zeros(shape, np.float64), where=weight > 0)
    return out.astype(np.float32), np.minimum(weight, 1.0).astype(np.float32)
