"""AstroPT's pretraining set as published on the Hugging Face hub: ``Smith42/galaxies`` (Parquet, images inside).

About 8.6 million galaxies of the DESI Legacy Imaging Surveys DR8 as JPG cutouts (``grz`` colour composites,
512×512 pixels centred on the galaxy), the set AstroPT was trained on (Smith M. J. et al. 2024, "AstroPT:
Scaling Large Observation Models for Astronomy", arXiv:2405.14930). Unlabelled: no volunteer votes, so the
release has no schema (``schema = ""``) and its catalogue no vote columns. On the hub
(https://huggingface.co/datasets/Smith42/galaxies, licence CC BY-SA 4.0) it has two configurations:

* ``default`` — ``data/{train,test,validation}-*.parquet`` (the train split in 192 shards,
  ``train-000NN-of-00192.parquet``), columns ``image`` and ``dr8_id``; 8,474,566 train, 86,471 test and
  86,499 validation rows, about 982 GB;
* ``with_crops`` — ``with_crops/train-000NN-of-00237.parquet`` (237 shards) and test / validation shards,
  columns ``image`` (the 512×512 cutout), ``image_crop`` (a crop around the galaxy), ``dr8_id`` and
  ``galaxy_size`` (int64); the test and validation splits about 12 GB each.

This release is the ``with_crops`` train split: its 237 shards hold both image columns, and it reads
``image_crop`` by default (``Smith42Galaxies(image_column="image")`` reads the full cutouts from the same
files). Both are Hugging Face ``Image`` features (a struct of ``bytes`` and ``path``).

What could not be confirmed from here, and is therefore left out or marked:

* the shards' sizes and SHA-256 (the hub's Git LFS ``oid``): every file has ``size=None`` and
  ``checksum=None`` (downloaded, resumed and checked for completeness, not verified);
* the shard counts of the ``with_crops`` test and validation splits: not listed (only the train split's
  ``-of-00237`` is known from its file names);
* the ``with_crops`` train split's row count (the card's figures above are of the ``default`` configuration
  and of the ``with_crops`` test / validation splits);
* the columns of the root ``metadata.parquet`` (2.16 GB; joined to the images by ``dr8_id``, per the card):
  not read, so the catalogue's ``ra`` / ``dec`` are NaN;
* the crops' pixel scale (a crop sized by ``galaxy_size``, per galaxy): ``pixscale = None``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from galzoo_fm.datasets.public._gz_common import require_files
from galzoo_fm.datasets.public.base import Release, RemoteFile, require_columns
from galzoo_fm.datasets.public.gz_evo import ParquetImages

__all__ = ["HUB", "IMAGE_COLUMNS", "Smith42Galaxies"]

HUB = "https://huggingface.co/datasets/Smith42/galaxies/resolve/main"
#: The image columns of the ``with_crops`` shards, the default first.
IMAGE_COLUMNS = ("image_crop", "image")
_TRAIN_SHARDS = 237


def _shards(n: int = _TRAIN_SHARDS) -> tuple[RemoteFile, ...]:
    # neither sizes nor the hub's SHA-256 (Git LFS oid) could be read: size and checksum None
    return tuple(
        RemoteFile(f"train-{i:05d}-of-{n:05d}.parquet", f"{HUB}/with_crops/train-{i:05d}-of-{n:05d}.parquet",
                   None, None, "images", f"Smith42/galaxies with_crops train shard {i + 1} of {n} (images)")
        for i in range(n)
    )


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading the Smith42/galaxies Parquet shards needs pyarrow: pip install pyarrow") from None
    return pq


class Smith42Galaxies(Release):
    """``Smith42/galaxies`` (``with_crops`` train split): 8.5M DESI Legacy Surveys galaxies, unlabelled.

    :meth:`catalog` reads each shard's ``dr8_id`` (and ``galaxy_size``) one row group at a time, never an
    image column, and returns one row per shard row: ``id`` (``dr8_id``), ``ra`` / ``dec`` (NaN: the
    shards carry no positions), ``image`` (``"<shard>#<row>"``), ``galaxy_size`` (int64, -1 where absent or
    null) and ``split`` (``"train"``); no vote columns. :meth:`open_images` reads the ``image_column``
    (``"image_crop"`` by default, or ``"image"``) of one row group at a time
    (:class:`~galzoo_fm.datasets.public.gz_evo.ParquetImages`), so ``prepare`` holds at most two row groups
    of image bytes, whatever the number of shards.

    Parameters
    ----------
    image_column : {"image_crop", "image"}
        The image column to read (default ``image_crop``; ``image`` is the full 512×512 cutout).
    **attrs
        Other :class:`~galzoo_fm.datasets.public.Release` attributes.
    """

    name = "smith42_galaxies"
    title = "Smith42/galaxies (AstroPT's DESI Legacy Surveys DR8 galaxies, Hugging Face, with_crops train split)"
    description = ("About 8.5 million DESI Legacy Surveys DR8 galaxy cutouts (grz JPG colour composites), "
                   "unlabelled: AstroPT's pretraining set; reads the galaxy crops (image_crop) by default")
    citation = ("Smith M. J., Roberts R. J., Angeloudi E., Huertas-Company M. 2024, 'AstroPT: Scaling Large "
                "Observation Models for Astronomy', arXiv:2405.14930; and the DESI Legacy Imaging Surveys "
                "(Dey A. et al. 2019, AJ 157, 168, doi:10.3847/1538-3881/ab089d)")
    licence = "CC BY-SA 4.0 (hub dataset card)"
    homepage = "https://huggingface.co/datasets/Smith42/galaxies"
    size_on_disk = ("237 Parquet shards, size not published here (the default configuration, without the "
                    "crops, is ≈ 982 GB)")
    schema = ""  # unlabelled: no vote columns
    files = _shards()
    bands = ("R", "G", "B")  # JPG colour composites of g, r, z
    pixscale = None  # the crops are sized per galaxy (galaxy_size)
    image_column: str = IMAGE_COLUMNS[0]

    def __init__(self, **attrs):
        super().__init__(**attrs)
        if self.image_column not in IMAGE_COLUMNS:
            raise ValueError(f"release {self.name}: image_column {self.image_column!r} must be one of "
                             f"{', '.join(IMAGE_COLUMNS)}")

    def _shard_names(self) -> list[str]:
        return [f.name for f in self.files if f.name.endswith(".parquet")]

    def catalog(self, folder: Path) -> Table:
        """One row per galaxy, read shard by shard and row group by row group (see the class docstring).

        Raises
        ------
        FileNotFoundError
            Shards are missing (each is named with its URL).
        ReleaseFormatError
            A shard lacks ``dr8_id`` or the image column (the shard and the column are named).
        """
        pq = _pyarrow()
        folder = Path(folder)
        names = self._shard_names()
        require_files(folder, self.name, names, {f.name: f.url for f in self.files})
        ids: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        sizes: list[np.ndarray] = []
        splits: list[np.ndarray] = []
        for name in names:
            path = folder / name
            pf = pq.ParquetFile(path)
            present = pf.schema_arrow.names
            require_columns(present, ["dr8_id", self.image_column], file=path)
            columns = ["dr8_id", *(["galaxy_size"] if "galaxy_size" in present else [])]
            start = 0
            for group in range(pf.metadata.num_row_groups):
                batch = pf.read_row_group(group, columns=columns)
                n = batch.num_rows
                ids.append(np.array([str(v) for v in batch.column("dr8_id").to_pylist()], dtype=str))
                keys.append(np.array([f"{name}#{i}" for i in range(start, start + n)], dtype=str))
                size = (batch.column("galaxy_size").to_pylist() if "galaxy_size" in columns else [None] * n)
                sizes.append(np.array([-1 if v is None else int(v) for v in size], dtype=np.int64))
                splits.append(np.full(n, name.split("-", 1)[0]))
                start += n
        out = Table()
        out["id"] = np.concatenate(ids) if ids else np.array([], dtype=str)
        out["ra"] = np.full(len(out), np.nan)
        out["dec"] = np.full(len(out), np.nan)
        out["image"] = np.concatenate(keys) if keys else np.array([], dtype=str)
        out["galaxy_size"] = np.concatenate(sizes) if sizes else np.array([], dtype=np.int64)
        out["split"] = np.concatenate(splits) if splits else np.array([], dtype=str)
        out.meta.update({"release": self.name, "schema": self.schema, "imagecol": self.image_column,
                         "shards": names})
        return out

    def open_images(self, folder: Path) -> ParquetImages:
        """The shards' ``image_column`` by key ``"<shard>#<row>"``, one row group at a time."""
        _pyarrow()
        return ParquetImages(Path(folder), self._shard_names(), column=self.image_column)
