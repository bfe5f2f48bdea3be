"""Reading released images (JPEG / PNG bytes, zip archives, folders) and turning them into store pixels.

* :func:`decode_image` — image file bytes → ``(H, W, C)`` uint8 (Pillow), errors naming the image;
* :class:`ZipImages` — an :class:`~galzoo_fm.datasets.public.base.ImageSource` over the members of zip
  archives, keyed by member name (or by a key function), reading one member at a time;
* :class:`FolderImages` — the same over a folder of image files (e.g. an archive the user extracted);
* :func:`to_store_pixels` — ``(H, W, C)`` uint8 → ``(C, size, size)`` float32 in ``[0, 1]``, resized with
  area averaging when shrinking (antialiased).

Decoding stays with Pillow, not ``torchvision.io.decode_image``: torchvision's gives the same pixels for
8-bit PNG and JPEG in ``RGB`` or unchanged mode (and is about 1.5-2x faster), but its greyscale conversion
of colour images differs (by 1 level for PNG, up to ~11 for JPEG, which keeps libjpeg's luma), it returns
16-bit PNGs as uint16, it reads neither BMP nor TIFF, and torchvision 0.29 deprecates its image decoders in
favour of TorchCodec (a ``DeprecationWarning`` on every call).
"""

from __future__ import annotations

import io
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

__all__ = ["FolderImages", "ZipImages", "decode_image", "to_store_pixels"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def decode_image(data: bytes, *, what: str = "image", mode: str | None = "RGB") -> np.ndarray:
    """Decode image file bytes to a ``(H, W, C)`` uint8 array.

    Parameters
    ----------
    data : bytes
        The encoded file (JPEG, PNG, ...).
    what : str
        Name used in the error message (e.g. ``"J000000.80+004200.0.png in images.zip"``).
    mode : str or None
        Pillow mode to convert to (``"RGB"``: three channels, greyscale replicated, alpha dropped;
        ``"L"``: one channel); ``None`` keeps the file's own.

    Raises
    ------
    ValueError
        The bytes are not a complete image (truncated, garbage).
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if mode is not None and img.mode != mode:
                img = img.convert(mode)
            arr = np.asarray(img, dtype=np.uint8)
    except Exception as exc:
        detail = re.sub(r" <[^<>]* at 0x[0-9a-fA-F]+>", "", str(exc))  # no object addresses in the message
        raise ValueError(f"{what}: not a readable image ({len(data)} bytes; {type(exc).__name__}: {detail})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _default_key(member: str) -> str:
    return Path(member).stem


class _KeyedImages:
    """The key lookup shared by the image sources: ``len``, ``in``, :meth:`keys` and a context manager."""

    _index: dict

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def keys(self) -> list[str]:
        """Every image key."""
        return list(self._index)

    def close(self) -> None:
        """Free what the source holds open."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ZipImages(_KeyedImages):
    """Images inside one or more zip archives, read lazily by key.

    Parameters
    ----------
    paths : path or iterable of paths
        Zip archives.
    key : callable, optional
        Member name → key; by default the file name without folders and suffix
        (``"dr5/J000/J000000.80+004200.0.png"`` → ``"J000000.80+004200.0"``). Members that are not images
        (by suffix) are ignored; two members with one key raise ``ValueError`` naming both.
    mode : str or None
        Passed to :func:`decode_image`.

    Notes
    -----
    Only the archives' central directories are read when opening; each call reads and decodes one member.
    Safe to call from several threads.
    """

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                 key: Callable[[str], str] | None = None, mode: str | None = "RGB"):
        paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        self.mode = mode
        self._lock = threading.Lock()
        self._zips: list[zipfile.ZipFile] = []
        self._index: dict[str, tuple[int, str]] = {}
        key = key or _default_key
        try:
            for zi, path in enumerate(paths):
                try:
                    zf = zipfile.ZipFile(path)
                except (OSError, zipfile.BadZipFile) as exc:
                    raise ValueError(f"{path}: not a readable zip archive ({exc})") from None
                self._zips.append(zf)
                for info in zf.infolist():
                    if info.is_dir() or not info.filename.lower().endswith(IMAGE_SUFFIXES):
                        continue
                    k = key(info.filename)
                    if k in self._index:
                        other = self._index[k]
                        raise ValueError(f"image key {k!r} names two members: {other[1]} in "
                                         f"{self._zips[other[0]].filename} and {info.filename} in {path}")
                    self._index[k] = (zi, info.filename)
        except BaseException:
            self.close()
            raise

    def __call__(self, key: str) -> np.ndarray:
        try:
            zi, member = self._index[key]
        except KeyError:
            raise KeyError(f"no image {key!r} in {', '.join(z.filename or '?' for z in self._zips)}") from None
        zf = self._zips[zi]
        try:
            with self._lock:
                data = zf.read(member)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{member} in {zf.filename}: cannot be read ({exc})") from None
        return decode_image(data, what=f"{member} in {zf.filename}", mode=self.mode)

    def close(self) -> None:
        """Close the archives."""
        for zf in self._zips:
            zf.close()


class FolderImages(_KeyedImages):
    """Image files under a folder (searched recursively), read by key (file name without suffix).

    Parameters
    ----------
    root : path
        The folder.
    key : callable, optional
        Path relative to ``root`` (POSIX string) → key; default: file name without suffix.
    mode : str or None
        Passed to :func:`decode_image`.
    """

    def __init__(self, root: str | os.PathLike, *, key: Callable[[str], str] | None = None,
                 mode: str | None = "RGB"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"image folder {self.root} does not exist")
        self.mode = mode
        key = key or _default_key
        self._index: dict[str, Path] = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                k = key(path.relative_to(self.root).as_posix())
                if k in self._index:
                    raise ValueError(f"image key {k!r} names two files: {self._index[k]} and {path}")
                self._index[k] = path

    def __call__(self, key: str) -> np.ndarray:
        try:
            path = self._index[key]
        except KeyError:
            raise KeyError(f"no image {key!r} under {self.root}") from None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
        return decode_image(data, what=str(path), mode=self.mode)


def to_store_pixels(image: np.ndarray, channels: int, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """``(H, W, C)`` uint8 → ``(channels, H', W')`` float32 = value / 255, resized when ``size`` is given.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` uint8.
    channels : int
        Channels wanted: a single-channel image is replicated, an extra alpha channel (``C == channels + 1``)
        dropped; any other mismatch raises ``ValueError``.
    size : int or (int, int), optional
        Output ``H' = W' = size`` (or ``(H', W')``). Shrinking averages the input pixels each output pixel
        covers (Pillow's ``BOX`` filter: antialiased, flux-preserving, no ringing); enlarging is bicubic.

    Returns
    -------
    numpy.ndarray
        ``(channels, H', W')`` float32 in ``[0, 1]``.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {arr.shape}")
    c = arr.shape[2]
    if c == 1 and channels > 1:
        arr = np.repeat(arr, channels, axis=2)
    elif c == channels + 1:
        arr = arr[:, :, :channels]
    elif c != channels:
        raise ValueError(f"image has {c} channels, expected {channels}")
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else size
        if (arr.shape[0], arr.shape[1]) != (h, w):
            shrink = h <= arr.shape[0] and w <= arr.shape[1]
            method = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
            planes = [np.asarray(Image.fromarray(arr[:, :, i].astype(np.float32), mode="F").resize((w, h), method))
                      for i in range(arr.shape[2])]
            out = np.stack(planes).astype(np.float32) / np.float32(255)
            return np.clip(out, 0.0, 1.0)
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)
