"""Public Galaxy Zoo data releases as ready-to-train datasets.

* ``base`` — :class:`Release`, :class:`RemoteFile`, :class:`ReleaseFormatError`;
* :mod:`~galzoo_fm.datasets.public.download` — :func:`data_dir`, :func:`download` (resumable, checksummed),
  :func:`verify`, :func:`verify_release`, :func:`status` (each takes a :class:`Release` or a registered name);
* :mod:`~galzoo_fm.datasets.public.prepare` — :func:`prepare`: a release → ``catalog.fits`` + cutout store;
* ``join`` — :func:`join_campaigns`: several vote tables on one image set;
* ``images`` — image decoding, zip / folder image sources, resizing.

The releases themselves are plugins (the ``register_datasets`` hook): ``galzoo_fm.list_datasets()`` names
them and ``galzoo_fm.get_dataset(name)`` returns one.
"""

from __future__ import annotations

from galzoo_fm.datasets.public.base import (
    ImageSource,
    Release,
    ReleaseFormatError,
    RemoteFile,
    open_release,
    require_columns,
)
from galzoo_fm.datasets.public.download import (
    ChecksumError,
    DatasetUnavailableError,
    DiskFullError,
    FileState,
    Verification,
    data_dir,
    download,
    file_checksum,
    release_dir,
    status,
    verify,
    verify_release,
)
from galzoo_fm.datasets.public.images import FolderImages, ZipImages, decode_image, to_store_pixels
from galzoo_fm.datasets.public.join import JoinWarning, join_campaigns, join_files
from galzoo_fm.datasets.public.prepare import PrepareSummary, check_catalog, prepare

__all__ = [
    "ChecksumError",
    "DatasetUnavailableError",
    "DiskFullError",
    "FileState",
    "FolderImages",
    "ImageSource",
    "JoinWarning",
    "PrepareSummary",
    "Release",
    "ReleaseFormatError",
    "RemoteFile",
    "Verification",
    "ZipImages",
    "check_catalog",
    "data_dir",
    "decode_image",
    "download",
    "file_checksum",
    "join_campaigns",
    "join_files",
    "open_release",
    "prepare",
    "release_dir",
    "require_columns",
    "status",
    "to_store_pixels",
    "verify",
    "verify_release",
]
