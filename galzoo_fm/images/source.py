"""The user's own images as a row-keyed cutout source: a catalogue column of file paths, a folder of image
files, or Parquet / Arrow files holding the image bytes.

:class:`ImageFiles` is a :class:`~galzoo_fm.surveys.Survey` whose cutouts are found by *catalogue row*
(:meth:`ImageFiles.fetch_rows`) instead of by position, so the fetch engine puts them into the same cutout
store, with the same per-row status, resume and sharding, as a survey's cutouts; from there embedding,
pretraining, fine-tuning and evaluation read them as they read any store. :func:`open_images` builds one.

The store's geometry comes from the first readable image (or the options): its channel count, bit depth
(``uint8`` for 8-bit JPEG/PNG — a quarter of float32's disk —, ``uint16`` for 16-bit PNG, ``float32`` for
FITS) and side. Every other image is brought to that geometry, and the row's ``reason`` says how (its status
stays ``ok``):

* another size: resized to the store's side (antialiased bilinear, as torchvision's ``Resize``); a
  non-square image is stretched to the square;
* another channel count of an 8/16-bit image: grey replicated to RGB, an alpha plane dropped, RGB to grey
  with the ITU-R 601 luma weights (Pillow's ``convert("L")``);
* another bit depth: 16-bit scaled to 8-bit (``round(v / 257)``) or 8-bit to 16-bit (``v * 257``).

A FITS image with another number of planes than the store has bands, float FITS pixels for an 8/16-bit
store, and every unreadable, missing, empty, truncated or corrupt file is a ``failed`` row whose reason names
the file (a later run retries it, after the file is fixed); an empty path, or one outside ``root``, is an
``invalid`` row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from galzoo_fm.catalog import Catalog
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.images.decode import ImageFileError, decode_image_bytes, is_fits
from galzoo_fm.images.items import ImageItems, items_for
from galzoo_fm.surveys.base import Survey, classify_coverage, parse_bands

__all__ = ["ImageFiles", "StoreGeometry", "conform", "open_images"]

_PROBE_ROWS = 64  # rows tried for the first readable image before giving up
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class StoreGeometry:
    """What every stored image is brought to: ``channels`` x ``size`` x ``size`` of ``dtype``."""

    channels: int
    size: int
    dtype: str


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    import torch
    from torch.nn.functional import interpolate

    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]
    return interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].numpy()


def _channels(arr: np.ndarray, channels: int, name: str) -> tuple[np.ndarray, str]:
    c = arr.shape[0]
    if c == channels:
        return arr, ""
    colour = arr[:3] if c >= 3 else arr[:1]  # alpha (plane 2 of grey+alpha, 4 of RGBA) dropped
    if channels == colour.shape[0]:
        return colour, f"alpha plane dropped ({c} -> {channels} channels)"
    if channels == 3 and colour.shape[0] == 1:
        return np.repeat(colour, 3, axis=0), f"grey replicated to RGB ({c} -> 3 channels)"
    if channels == 1 and colour.shape[0] == 3:
        luma = np.tensordot(_LUMA, colour.astype(np.float64), axes=1)[None]
        return np.round(luma).astype(arr.dtype), f"RGB converted to grey ({c} -> 1 channel)"
    raise ImageFileError(f"{name}: has {c} channels; the store has {channels} and it cannot be converted")


def conform(arr: np.ndarray, geometry: StoreGeometry, name: str, *, fits_file: bool = False
            ) -> tuple[np.ndarray, str]:
    """Bring one decoded image to the store's geometry.

    Parameters
    ----------
    arr : numpy.ndarray
        ``(C, H, W)`` as :func:`~galzoo_fm.images.decode_image_bytes` returns it.
    geometry : StoreGeometry
        The store's channels, side and dtype.
    name : str
        The file, for messages.
    fits_file : bool
        The image came from FITS: its planes are bands, which are never converted.

    Returns
    -------
    pixels, note : numpy.ndarray, str
        ``(channels, size, size)`` of ``geometry.dtype``; what was changed (empty when nothing was).

    Raises
    ------
    ImageFileError
        A FITS image with another number of planes, or float pixels for an integer store.
    """
    notes = []
    target = np.dtype(geometry.dtype)
    if fits_file and arr.shape[0] != geometry.channels:
        raise ImageFileError(f"{name}: has {arr.shape[0]} image planes; the store has {geometry.channels} bands")
    if not fits_file:
        arr, note = _channels(arr, geometry.channels, name)
        notes.append(note)
    if target.kind in "iu" and arr.dtype.kind == "f":
        raise ImageFileError(f"{name}: holds floating-point pixels; the store holds {target} (8/16-bit images); "
                             "put FITS and JPEG/PNG images in separate stores")
    if target.kind in "iu" and arr.dtype != target:
        if arr.dtype == np.uint16 and target == np.uint8:
            arr = np.round(arr / 257.0)
            notes.append("16-bit scaled to 8-bit")
        elif arr.dtype == np.uint8 and target == np.uint16:
            arr = arr.astype(np.uint16) * 257
            notes.append("8-bit scaled to 16-bit")
    h, w = arr.shape[1:]
    if (h, w) != (geometry.size, geometry.size):
        arr = _resize(arr, geometry.size)
        notes.append(f"resized from {w}x{h} to {geometry.size}x{geometry.size}")
    if target.kind in "iu":
        info = np.iinfo(target)
        arr = np.clip(np.round(arr), info.min, info.max) if arr.dtype.kind == "f" else arr
    return np.ascontiguousarray(arr, dtype=target), "; ".join(n for n in notes if n)


class ImageFiles(Survey):
    """Cutouts that are the user's own image files, found by catalogue row.

    Build one with :func:`open_images`. Its ``catalog`` is the catalogue the rows belong to, with the
    positions when it has RA/Dec columns (else NaN: the images need none).

    Parameters
    ----------
    items : ImageItems
        Where each row's bytes are (paths, or Parquet cells).
    catalog : Catalog
        The rows.
    geometry : StoreGeometry
        Channels, side and dtype of the stored images.
    bands : sequence of str
        Names of the channels.
    pixscale : float, optional
        Arcsec per pixel of the images, when known (recorded with the store; lets a model that records a
        pixel scale resample).
    hdu : str or int, optional
        FITS HDU to read (default: the first with a 2-D or 3-D image).
    """

    name: ClassVar[str] = "images"
    description: ClassVar[str] = "the user's own image files (catalogue column of paths, folder, Parquet bytes)"
    batch_size: ClassVar[int] = 16
    row_keyed: ClassVar[bool] = True

    def __init__(self, items: ImageItems, catalog: Catalog, geometry: StoreGeometry, bands: Sequence[str], *,
                 pixscale: float | None = None, hdu: str | int | None = None):
        if len(bands) != geometry.channels:
            raise ValueError(f"{len(bands)} band names ({', '.join(bands)}) for {geometry.channels} image channels")
        self.items, self.catalog, self.geometry, self.hdu = items, catalog, geometry, hdu
        self.bands = tuple(bands)
        self.pixscale = pixscale
        self.dtype = geometry.dtype
        self.native_size = geometry.size

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        raise TypeError("image files are found by catalogue row, not by position: use fetch_rows")

    def _cutout(self, data: bytes | None, name: str, problem: tuple[Status, str] | None, size: int) -> Cutout:
        if problem is not None:
            return Cutout(problem[0], reason=problem[1])
        geometry = replace(self.geometry, size=size)
        try:
            arr, note = conform(decode_image_bytes(data, name, hdu=self.hdu), geometry, name,
                                fits_file=is_fits(name, data))
        except ImageFileError as exc:
            return Cutout.failed(str(exc))
        if arr.dtype.kind == "f":
            status, reason = classify_coverage(arr, self.bands)  # NaN / blank areas of FITS cutouts: partial
            return Cutout(status, arr if status.has_pixels else None,
                          reason="; ".join(r for r in (note, reason) if r))
        return Cutout(Status.OK, arr, reason=note)

    def fetch_rows(self, rows: np.ndarray, size: int) -> list[Cutout]:
        """The cutouts of catalogue ``rows`` ``(n,)``, each ``(C, size, size)`` of the store's dtype.

        Thread-safe; a row whose file cannot be used gets a ``failed`` or ``invalid`` cutout whose reason
        names the file.
        """
        return [self._cutout(data, name, problem, size) for data, name, problem in self.items.load(rows)]

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "images": self.items.describe(), "dtype": self.dtype,
                **({"hdu": self.hdu} if self.hdu is not None else {})}

    def close(self) -> None:
        self.items.close()


def _default_bands(channels: int, fits_header_bands: list[str] | None) -> list[str]:
    if fits_header_bands is not None and len(fits_header_bands) == channels:
        return fits_header_bands
    if channels == 3:
        return ["R", "G", "B"]
    if channels == 1:
        return ["L"]
    return [f"band{i}" for i in range(channels)]


def _fits_bands(data: bytes, hdu: str | int | None) -> list[str] | None:
    import io

    from astropy.io import fits

    from galzoo_fm.surveys.tiles import band_names

    try:
        with fits.open(io.BytesIO(data), memmap=False) as hdul:
            h = hdul[hdu] if hdu is not None else next(x for x in hdul if x.is_image and x.data is not None
                                                       and x.data.ndim in (2, 3))
            n = 1 if h.data.ndim == 2 else h.data.shape[0]
            names = band_names(h.header, n, "band")
    except Exception:
        return None
    generic = [f"band{i}" for i in range(n)] if n > 1 else ["band"]
    return None if names == generic else names


def _probe(items: ImageItems, n_rows: int, hdu: str | int | None) -> tuple[np.ndarray, bytes, str]:
    problems = []
    for row in range(min(n_rows, _PROBE_ROWS)):
        ((data, name, problem),) = items.load(np.array([row]))
        if problem is not None:
            problems.append(problem[1])
            continue
        try:
            return decode_image_bytes(data, name, hdu=hdu), data, name
        except ImageFileError as exc:
            problems.append(str(exc))
    shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
    raise ValueError(f"none of the first {min(n_rows, _PROBE_ROWS)} images of {items.describe()['source']} "
                     f"can be read, so the store's shape cannot be chosen: {shown}")


def open_images(source: str | os.PathLike, *, column: str | None = None, root: str | os.PathLike | None = None,
                id_col: str | None = None, size: int | None = None, channels: int | None = None,
                bands: str | Sequence[str] | None = None, pixscale: float | None = None,
                hdu: str | int | None = None) -> ImageFiles:
    """The image source of a catalogue column, a folder, or Parquet files with image bytes.

    Parameters
    ----------
    source : path
        A catalogue (any table file astropy reads) whose ``column`` holds image paths; a Parquet / Arrow file
        (or a folder of them, with ``column``) whose ``column`` holds image bytes (a Hugging Face ``Image``
        feature, ``{bytes, path}``, works too); or a folder of image files (``.jpg``, ``.jpeg``, ``.png``,
        FITS), searched recursively in sorted order, each file's name without its suffix its ``id``.
    column : str, optional
        The catalogue / Parquet column of paths or bytes (e.g. ``file_loc``, ``image_crop``); required unless
        ``source`` is a folder of images.
    root : path, optional
        Relative paths are relative to this folder, and a path outside it is an ``invalid`` row. Default:
        the catalogue's folder, with paths allowed anywhere.
    id_col : str, optional
        The id column (default: the usual names, e.g. ``id_str``, ``objid``, ``id``; else the row number).
    size : int, optional
        Side of the stored images (default: the first readable image's; others are resized to it).
    channels : int, optional
        Channels of the stored images (default: the first readable image's; 8/16-bit images are converted).
    bands : str or sequence of str, optional
        Channel names (default ``R, G, B`` for 3-channel images, ``L`` for grey, a FITS file's ``BAND0...``
        keywords).
    pixscale : float, optional
        Arcsec per image pixel, when known.
    hdu : str or int, optional
        FITS HDU to read.

    Returns
    -------
    ImageFiles

    Raises
    ------
    ValueError
        ``source`` does not exist; ``column`` is missing or absent from the table (the message lists the
        columns); the table has no rows; a folder holds no image files; none of the first images can be read.
    """
    items, catalog = items_for(Path(source), column=column, root=root, id_col=id_col)
    try:
        arr, data, name = _probe(items, len(catalog), hdu)
        fits_file = is_fits(name, data)
        c = int(channels) if channels is not None else arr.shape[0]
        if not fits_file and channels is None and c in (2, 4):
            c -= 1  # grey+alpha, RGBA: the alpha plane is not stored
        side = int(size) if size is not None else int(max(arr.shape[1:]))
        dtype = "float32" if fits_file or arr.dtype.kind == "f" else str(arr.dtype) if arr.dtype in (
            np.uint8, np.uint16) else "float32"
        names = list(parse_bands(bands) or ()) if bands is not None else _default_bands(
            c, _fits_bands(data, hdu) if fits_file else None)
        if pixscale is not None and not (isinstance(pixscale, int | float) and math.isfinite(pixscale)
                                         and pixscale > 0):
            raise ValueError(f"pixscale must be a positive number of arcsec per pixel, got {pixscale!r}")
        return ImageFiles(items, catalog, StoreGeometry(c, side, dtype), names,
                          pixscale=float(pixscale) if pixscale is not None else None, hdu=hdu)
    except BaseException:
        items.close()
        raise
