"""What a public Galaxy Zoo data release is: its files (URL, checksum, size), its catalogue and its images.

* :class:`RemoteFile` — one file of a release, with the checksum the release publishes;
* :class:`Release` — a release: metadata (citation, licence, schema, bands), its files, and two methods a
  subclass implements: :meth:`Release.catalog` (the vote table mapped into a schema's
  ``{question}_{answer}`` columns) and :meth:`Release.open_images` (an :class:`ImageSource`);
* :class:`ReleaseFormatError` — the release's files do not have the columns / layout the loader expects;
* :func:`require_columns` — check a table's column names and raise :class:`ReleaseFormatError` naming every
  missing one.

The generic machinery (:mod:`~galzoo_fm.datasets.public.download`, :mod:`~galzoo_fm.datasets.public.prepare`)
works with any :class:`Release`, built in or registered by a plugin through the ``register_datasets`` hook.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import numpy as np

from galzoo_fm.plugins import get_registry

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = [
    "MIRROR_ENV",
    "ImageSource",
    "Release",
    "ReleaseFormatError",
    "RemoteFile",
    "open_release",
    "require_columns",
]

#: Environment variable naming a mirror host that replaces every release URL's scheme and host.
MIRROR_ENV = "GALZOO_FM_DATASETS_MIRROR"
_CHECKSUM = re.compile(r"^(md5|sha1|sha256):([0-9a-f]+)$")
_HEX_LEN = {"md5": 32, "sha1": 40, "sha256": 64}
FILE_KINDS = ("catalog", "images", "other")


class ReleaseFormatError(ValueError):
    """A release file lacks columns (or structure) the loader needs: the release's format changed?"""


def require_columns(columns: Iterable[str], required: Sequence[str], *, file: str | Path) -> None:
    """Raise :class:`ReleaseFormatError` naming ``file`` and every name of ``required`` not in ``columns``.

    Parameters
    ----------
    columns : iterable of str
        Column names present (e.g. ``table.colnames``).
    required : sequence of str
        Column names the loader reads.
    file : str or path
        The file the columns came from, for the message.
    """
    present = set(columns)
    missing = [c for c in required if c not in present]
    if missing:
        raise ReleaseFormatError(
            f"{file} lacks {len(missing)} column(s) the loader needs: {', '.join(missing)} "
            f"(the release's columns changed?); it has {len(present)} columns"
        )


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file of a release.

    Attributes
    ----------
    name : str
        File name inside the release's data folder, exactly as the release names it.
    url : str
        Public ``http(s)`` URL.
    checksum : str or None
        ``"md5:<hex>"``, ``"sha1:<hex>"`` or ``"sha256:<hex>"`` (the algorithm the release publishes).
        ``None`` only for a host that publishes none: the file is still downloaded, resumed and checked
        for completeness (``size`` / ``Content-Length``), but its bytes cannot be verified.
    size : int or None
        Size in bytes when published; checked before hashing and used to report progress.
    kind : str
        ``"catalog"``, ``"images"`` or ``"other"``.
    description : str
        One line for ``galzoo-fm datasets info``.
    required : bool
        ``False`` for optional extras; ``download`` fetches them too
        but a loader must work without them.
    """

    name: str
    url: str
    checksum: str | None
    size: int | None = None
    kind: str = "catalog"
    description: str = ""
    required: bool = True

    def __post_init__(self):
        if not self.name or "/" in self.name or "\\" in self.name or self.name in {".", ".."}:
            raise ValueError(f"RemoteFile name {self.name!r} must be a plain file name")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"RemoteFile {self.name}: url {self.url!r} must start with http:// or https://")
        m = None if self.checksum is None else _CHECKSUM.match(self.checksum.lower())
        if self.checksum is not None and (m is None or len(m.group(2)) != _HEX_LEN[m.group(1)]):
            raise ValueError(
                f"RemoteFile {self.name}: checksum {self.checksum!r} must be 'md5:<32 hex>', 'sha1:<40 hex>' "
                "or 'sha256:<64 hex>'"
            )
        if self.size is not None and (not isinstance(self.size, int) or self.size < 0):
            raise ValueError(f"RemoteFile {self.name}: size {self.size!r} must be a non-negative int or None")
        if self.kind not in FILE_KINDS:
            raise ValueError(f"RemoteFile {self.name}: kind {self.kind!r} must be one of {FILE_KINDS}")

    @property
    def algorithm(self) -> str | None:
        """Hash algorithm name for :func:`hashlib.new` (``"md5"``, ``"sha1"``, ``"sha256"``; ``None``: none)."""
        return None if self.checksum is None else self.checksum.split(":", 1)[0].lower()

    @property
    def digest(self) -> str | None:
        """Expected hex digest (lower case), ``None`` when the release publishes no checksum."""
        return None if self.checksum is None else self.checksum.split(":", 1)[1].lower()

    def on_mirror(self, mirror: str) -> RemoteFile:
        """This file with its URL's scheme and host replaced by ``mirror`` (path and query kept)."""
        parts = urlsplit(self.url)
        url = mirror.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        return replace(self, url=url)


@runtime_checkable
class ImageSource(Protocol):
    """Images of a release by key: ``source(key)`` → ``(H, W, C)`` uint8; ``close()`` frees files.

    ``__call__`` raises :class:`KeyError` for an unknown key and :class:`ValueError` naming the key (and file)
    for an unreadable image. Implementations read lazily: never every image at once.
    """

    def __call__(self, key: str) -> np.ndarray: ...

    def close(self) -> None: ...


class Release:
    """A public data release: metadata, files and how to read them.

    Subclass it and set the class attributes and the two methods, or instantiate it with keyword arguments
    (any attribute below, plus ``catalog`` / ``open_images`` callables taking the data folder).

    Attributes
    ----------
    name : str
        Registry name (e.g. ``"gz_decals_dr5"``); the files live in ``data_dir()/<name>/``.
    title, description, citation, licence, homepage, size_on_disk : str
        For listings and ``galzoo-fm datasets info``; ``citation`` includes DOIs.
    schema : str
        Registered schema whose ``label_cols`` the catalogue carries as int64 vote counts.
    files : tuple of RemoteFile
        Every file of the release.
    bands : tuple of str
        Image channels as stored (e.g. ``("R", "G", "B")``).
    pixscale : float or None
        Arcsec per pixel of the released images when known.
    """

    name: str = ""
    title: str = ""
    description: str = ""
    citation: str = ""
    licence: str = ""
    homepage: str = ""
    size_on_disk: str = ""
    schema: str = ""
    files: tuple[RemoteFile, ...] = ()
    bands: tuple[str, ...] = ("R", "G", "B")
    pixscale: float | None = None

    def __init__(self, *, catalog: Callable[[Path], Table] | None = None,
                 open_images: Callable[[Path], ImageSource] | None = None, **attrs: Any):
        for key, value in attrs.items():
            if key.startswith("_") or not hasattr(type(self), key) or callable(getattr(type(self), key)):
                raise TypeError(f"Release got an unknown attribute {key!r}")
            setattr(self, key, value)
        if catalog is not None:
            self._catalog_fn = catalog
        if open_images is not None:
            self._images_fn = open_images
        self.files = tuple(self.files)
        self.bands = tuple(self.bands)
        if not self.name:
            raise ValueError(f"{type(self).__name__} needs a name")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"release {self.name}: duplicate file names in {names}")
        mirror = os.environ.get(MIRROR_ENV)
        if mirror:
            self.files = tuple(f.on_mirror(mirror) for f in self.files)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {len(self.files)} files, schema {self.schema!r}>"

    def file(self, name: str) -> RemoteFile:
        """The :class:`RemoteFile` called ``name`` (``KeyError`` listing the release's files otherwise)."""
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"release {self.name} has no file {name!r}; it has {[f.name for f in self.files]}")

    def with_files(self, files: Iterable[RemoteFile] | None = None, *, mirror: str | None = None) -> Release:
        """A copy with other ``files`` and/or every URL moved onto ``mirror`` (``scheme://host[:port]``).

        Tests use it to serve fixture files (with their own checksums) from a loopback server on the
        release's real URL paths.
        """
        new = copy.copy(self)
        new.files = tuple(self.files if files is None else files)
        if mirror is not None:
            new.files = tuple(f.on_mirror(mirror) for f in new.files)
        return new

    def catalog(self, folder: Path) -> Table:
        """One row per galaxy: ``id``, ``ra``, ``dec``, ``image`` and the schema's vote-count columns.

        Parameters
        ----------
        folder : path
            The folder holding the verified release files.

        Returns
        -------
        astropy.table.Table
            ``id`` (str), ``ra`` / ``dec`` (float64 degrees, NaN when unknown), ``image`` (a key for
            :meth:`open_images`), every ``label_cols`` entry of :attr:`schema` as int64 counts (0 where the
            campaign did not ask), plus release columns documented by the subclass.

        Raises
        ------
        ReleaseFormatError
            A file lacks columns the loader needs (all of them are named).
        """
        fn = getattr(self, "_catalog_fn", None)
        if fn is None:
            raise NotImplementedError(f"{type(self).__name__} does not implement catalog()")
        return fn(Path(folder))

    def open_images(self, folder: Path) -> ImageSource:
        """An :class:`ImageSource` reading this release's images from ``folder``."""
        fn = getattr(self, "_images_fn", None)
        if fn is None:
            raise NotImplementedError(f"{type(self).__name__} does not implement open_images()")
        return fn(Path(folder))


def open_release(name: str | Release, *, mirror: str | None = None) -> Release:
    """The registered release ``name`` (``galzoo_fm.get_dataset``), its URLs moved onto ``mirror`` if given.

    Parameters
    ----------
    name : str or Release
        A registered release name (``galzoo-fm datasets list``), or a :class:`Release` (any object that is
        not a string), returned as it is (moved onto ``mirror`` if given).
    mirror : str, optional
        ``http[s]://host[:port]`` serving the release's files on the same URL paths.

    Returns
    -------
    Release

    Raises
    ------
    galzoo_fm.registry.UnknownNameError
        An unknown name (a ``ValueError`` suggesting close names).
    TypeError
        The name is registered with something other than a :class:`Release`.
    ValueError
        ``mirror`` does not start with ``http://`` or ``https://``.
    """
    if not isinstance(name, str):
        release = name  # a release object already (any object with the Release attributes)
    else:
        release = get_registry("datasets").create(name)
        if not isinstance(release, Release):
            raise TypeError(f"dataset {name!r} is a {type(release).__name__}, not a galzoo_fm Release")
    if mirror:
        if not mirror.startswith(("http://", "https://")):
            raise ValueError(f"--mirror {mirror!r} must start with http:// or https://")
        release = release.with_files(mirror=mirror)
    return release
