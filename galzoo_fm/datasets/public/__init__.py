"""Public Galaxy Zoo data releases as ready-to-train datasets.

* :mod:`~galzoo_fm.datasets.public.base`: :class:`Release`, :class:`RemoteFile`, :class:`ReleaseFormatError`.
"""

from __future__ import annotations

from .base import ImageSource, Release, ReleaseFormatError, RemoteFile, require_columns

__all__ = [
    "ImageSource",
    "Release",
    "ReleaseFormatError",
    "RemoteFile",
    "require_columns",
]
