"""Decoding one image file — JPEG, PNG (8 or 16 bit) or FITS — into a ``(C, H, W)`` array.

JPEG and PNG are decoded with :func:`torchvision.io.decode_image` (libjpeg-turbo and libpng: 1.15 ms for a
424 x 424 Galaxy Zoo JPEG on one core of the development machine, against 2.1 ms with Pillow, with
bit-identical pixels). torchvision 0.29 marks its image decoders deprecated in favour of TorchCodec and says
so with a ``DeprecationWarning`` on every call; this module silences exactly that message (a targeted
filter on torchvision's module), and falls back to Pillow when a torchvision without ``decode_image`` is
installed or torchvision cannot read a file. 16-bit PNGs keep their 16 bits (``uint16``). FITS files are
read with astropy: the first HDU (primary or extension) holding a 2-D or 3-D image, or the one named.

Every problem is an :class:`ImageFileError` whose message names the file and what is wrong (missing,
empty, truncated, not an image, no image HDU, wrong number of dimensions), so the caller can record it as
the row's status.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

__all__ = ["FITS_SUFFIXES", "IMAGE_SUFFIXES", "ImageFileError", "decode_image_bytes", "decode_image_file", "is_fits"]

#: File-name endings read as FITS.
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz", ".fz")
#: File-name endings a folder source picks up.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", *FITS_SUFFIXES)

warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning, module=r"torchvision\.io\.image")


class ImageFileError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""


def is_fits(name: str, data: bytes | None) -> bool:
    """Whether an image is FITS: by its name's ending, or by its first card (``SIMPLE  =``)."""
    return name.lower().endswith(FITS_SUFFIXES) or (data or b"")[:9] == b"SIMPLE  ="


def _decode_raster(data: bytes, name: str) -> np.ndarray:
    """JPEG / PNG bytes -> ``(C, H, W)`` uint8 or uint16."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[25] == 3:
        return _decode_pillow(data, name)  # a palette PNG: torchvision returns the palette indices, Pillow colours
    try:
        import torch
        from torchvision.io import ImageReadMode, decode_image
    except ImportError:  # a torchvision without the deprecated decoders: Pillow reads the same files
        return _decode_pillow(data, name)
    try:
        tensor = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
    except RuntimeError:
        return _decode_pillow(data, name)  # formats libjpeg/libpng refuse but Pillow reads, or a clear message
    return tensor.numpy()


def _decode_pillow(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint16 if im.mode.startswith("I;16") else np.int32)
            elif im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                arr = np.asarray(im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB"))
            else:
                arr = np.asarray(im)
    except UnidentifiedImageError:
        raise ImageFileError(f"{name}: not an image file JPEG, PNG or FITS can be read from "
                             f"(first bytes {data[:8]!r})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc)
        if "truncated" in text.lower() or "broken data stream" in text.lower():
            raise ImageFileError(f"{name}: the image is truncated (an interrupted download or copy?)") from None
        raise ImageFileError(f"{name}: cannot decode the image: {text}") from None
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def _decode_fits(data: bytes, name: str, hdu: str | int | None) -> np.ndarray:
    from astropy.io import fits

    try:
        with fits.open(io.BytesIO(data), memmap=False) as hdul:
            if hdu is not None:
                try:
                    chosen = hdul[hdu]
                except (KeyError, IndexError):
                    names = [h.name or str(i) for i, h in enumerate(hdul)]
                    raise ImageFileError(f"{name}: has no HDU {hdu!r}; its HDUs are {', '.join(names)}") from None
                if not chosen.is_image or chosen.data is None:
                    raise ImageFileError(f"{name}: HDU {hdu!r} holds no image")
            else:
                chosen = next((h for h in hdul if h.is_image and h.data is not None and h.data.ndim in (2, 3)), None)
                if chosen is None:
                    found = ", ".join(f"{h.name or i} ({type(h).__name__}"
                                      + (f" {h.data.shape}" if h.is_image and h.data is not None else "") + ")"
                                      for i, h in enumerate(hdul))
                    raise ImageFileError(f"{name}: no HDU holds a 2-D or 3-D image; found {found}")
            arr = np.asarray(chosen.data)
    except ImageFileError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        text = str(exc)
        what = "truncated" if "truncated" in text.lower() or "padding" in text.lower() else "unreadable"
        raise ImageFileError(f"{name}: FITS file is {what}: {text}") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ImageFileError(f"{name}: the FITS image has shape {arr.shape}; expected (H, W) or (C, H, W)")
    return arr.astype(arr.dtype.newbyteorder("=")) if arr.dtype.byteorder not in ("=", "|") else arr


def decode_image_bytes(data: bytes, name: str = "<bytes>", *, hdu: str | int | None = None) -> np.ndarray:
    """Decode the bytes of one JPEG, PNG or FITS image.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        What to call it in messages (a path, or ``"row 17 of shard.parquet"``).
    hdu : str or int, optional
        FITS only: the HDU to read (name or index); default the first holding a 2-D or 3-D image.

    Returns
    -------
    numpy.ndarray
        ``(C, H, W)``: ``uint8`` for 8-bit JPEG/PNG, ``uint16`` for 16-bit PNG, the FITS data type for FITS.
        Grey images have ``C = 1``, RGB 3, RGBA / grey+alpha 4 / 2 (the alpha plane last).

    Raises
    ------
    ImageFileError
        Empty, truncated, corrupt or unrecognised data, or a FITS file without an image HDU; the message
        names ``name``.
    """
    if not data:
        raise ImageFileError(f"{name}: the file is empty (0 bytes)")
    if is_fits(name, data):
        return _decode_fits(data, name, hdu)
    return _decode_raster(bytes(data), name)


def decode_image_file(path: str | Path, *, hdu: str | int | None = None) -> np.ndarray:
    """Read and decode one image file; see :func:`decode_image_bytes`.

    Raises
    ------
    ImageFileError
        The file does not exist or cannot be read, or :func:`decode_image_bytes` refuses it.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageFileError(f"{path}: is a folder, not an image file") from None
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot be read: {exc.strerror}") from None
    return decode_image_bytes(data, str(path), hdu=hdu)
