"""Embedding a file of image cutouts: the job behind ``galzoo-fm embed-images``.

An image set is a 4-D array ``(N, C, H, W)``: a NumPy ``.npy`` file (memory-mapped) or a FITS file whose
first 4-D image HDU holds the cube, optionally with a binary table HDU ``OBJECTS`` (one row per image, e.g.
``id``, ``ra``, ``dec``). With no file, the bundled demo set is used: 24 simulated Sérsic galaxies in
g, r, z at 64 x 64 pixels (see ``examples/make_demo_cutouts.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from galzoo_fm._utils.checks import OutputExistsError
from galzoo_fm._utils.tableio import describe_columns, fits_date, table_format
from galzoo_fm._utils.version import __version__
from galzoo_fm._utils.writers import write_table
from galzoo_fm.models.encoder import Encoder
from galzoo_fm.training.data import ArrayDataset
from galzoo_fm.training.evaluate import input_preprocessing

__all__ = ["DEMO_IMAGES", "EmbedResult", "ImageSet", "embed_images", "read_image_set"]

#: The bundled demo image set.
DEMO_IMAGES = "demo_cutouts.fits"
_KEEP_COLS = ("id", "ra", "dec")


@dataclass
class ImageSet:
    """Images ``(N, C, H, W)`` with one table row per image and the band names when known."""

    images: np.ndarray
    objects: Table
    bands: list[str] | None
    source: str
    pixel_scale: float | None = None


def _demo_path() -> Path:
    return Path(str(resources.files("galzoo_fm") / "data" / DEMO_IMAGES))


def _read_fits(path: Path) -> ImageSet:
    with fits.open(path, memmap=True) as hdul:
        cube_hdu = next((h for h in hdul if h.is_image and h.data is not None and h.data.ndim == 4), None)
        if cube_hdu is None:
            shapes = [(h.name, None if h.data is None else h.data.shape) for h in hdul]
            raise ValueError(
                f"{path} has no 4-D image HDU of shape (N, C, H, W); found HDUs {shapes}. "
                "Stack single images into a cube first"
            )
        images = np.array(cube_hdu.data)  # read now: the file closes below
        header = cube_hdu.header
        c = images.shape[1]
        bands = [str(header[f"BAND{i}"]) for i in range(c)] if all(f"BAND{i}" in header for i in range(c)) else None
        objects = Table(hdul["OBJECTS"].data) if "OBJECTS" in hdul else Table()
        scale = header.get("PIXSCALE")
        scale = float(scale) if isinstance(scale, int | float) and not isinstance(scale, bool) and scale > 0 else None
    return ImageSet(images, objects, bands, str(path), scale)


def read_image_set(path: str | Path | None = None) -> ImageSet:
    """Read an image set from ``.npy`` or FITS; the bundled demo set if ``path`` is ``None``.

    Raises
    ------
    ValueError
        If the file does not exist, has an unknown extension, holds no 4-D cube, or its ``OBJECTS`` table
        has a different number of rows than there are images.
    """
    path = _demo_path() if path is None else Path(path)
    if not path.is_file():
        raise ValueError(f"image file {path} does not exist")
    name = path.name.lower()
    if name.endswith(".npy"):
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        if images.ndim != 4:
            raise ValueError(f"{path} holds an array of shape {images.shape}; expected (N, C, H, W)")
        iset = ImageSet(images, Table(), None, str(path))
    elif name.endswith((".fits", ".fit", ".fits.gz", ".fts")):
        iset = _read_fits(path)
    else:
        raise ValueError(f"unsupported image file {path}: expected .npy or .fits")
    n = len(iset.images)
    if len(iset.objects) == 0 and len(iset.objects.colnames) == 0:
        iset.objects = Table({"id": np.arange(n)})
    elif len(iset.objects) != n:
        raise ValueError(f"{path}: OBJECTS table has {len(iset.objects)} rows but there are {n} images")
    return iset


@dataclass
class EmbedResult:
    """What :func:`embed_images` produced."""

    table: Table
    path: Path | None
    seconds: float
    model_description: str


def embed_images(
    images: str | Path | None = None,
    *,
    model: str | Path | None = None,
    backbone: str = "resnet18",
    out: str | Path | None = None,
    batch_size: int = 256,
    device: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    preprocess: bool | None = None,
    bands: list[str] | str | None = None,
    pixel_scale: float | None = None,
) -> EmbedResult:
    """Embed every image of an image set and (optionally) write the table.

    Parameters
    ----------
    images : path, optional
        ``.npy`` or FITS image set; the bundled demo set if ``None``.
    model : path or str, optional
        Encoder checkpoint folder or ``hf_hub:`` id for ``Encoder.from_pretrained``. If ``None``, a
        randomly initialised ``backbone`` (seeded with ``seed``) sized to the images is used: its
        embeddings reflect image statistics only, not learnt morphology.
    backbone : str
        Backbone for the random encoder when ``model`` is ``None``.
    out : path, optional
        Output table (``.fits``, ``.ecsv``, ``.parquet``, ``.h5``), written atomically.
    batch_size, device, progress
        As in ``Encoder.embed``.
    seed : int
        Seed of the random encoder.
    overwrite : bool
        Replace an existing output file.
    preprocess : bool, optional
        Run the encoder's recorded preprocessing on the images (raw survey fluxes), on the model's device:
        ``None`` (default) when the encoder records one, ``True`` (it must), ``False`` (the images are
        model-ready). The same pipeline, with the same settings, as training and ``galzoo-fm embed``.
    bands : list of str or str, optional
        Names of the image channels; default the FITS cube's ``BAND0``, ``BAND1``, ... keywords, else the
        rule of ``galzoo_fm.training.evaluate.input_preprocessing``.
    pixel_scale : float, optional
        Arcsec per pixel of the images; default the cube's ``PIXSCALE`` keyword, else the recorded
        ``input_pixel_scale``.

    Returns
    -------
    EmbedResult
        The table: the image set's ``id``/``ra``/``dec`` columns (those present), an ``(N, D)`` float32
        ``embedding`` column, ``flags`` (:class:`~galzoo_fm.preprocess.PreprocessFlag` bits, as ``embed``
        writes them; :data:`~galzoo_fm.preprocess.BAD_FLAGS` mark images without usable signal) when
        preprocessed, and provenance in ``meta``.
    """

    if out is not None:
        table_format(out)  # fail before any work on a bad extension
        if Path(out).exists() and not overwrite:
            raise OutputExistsError(out)
    iset = read_image_set(images)
    _, c, h, _ = iset.images.shape
    if model is None:
        encoder = Encoder(backbone, in_chans=c, image_size=h, bands=iset.bands, seed=seed)
        description = f"random-init {backbone} (seed {seed})"
    else:
        encoder = Encoder.from_pretrained(model)
        description = str(model)

    plan = input_preprocessing(encoder, ArrayDataset(iset.images), preprocess=preprocess,
                               bands=bands if bands is not None else iset.bands,
                               pixel_scale=pixel_scale if pixel_scale is not None else iset.pixel_scale)
    t0 = time.perf_counter()
    flags = None
    if plan is None:
        vectors = encoder.embed(iset.images, batch_size=batch_size, device=device, progress=progress)
    else:
        vectors, flags = encoder.embed(iset.images, batch_size=batch_size, device=device, progress=progress,
                                       preprocess=True, bands=plan[1], pixel_scale=plan[2], return_flags=True)
    seconds = time.perf_counter() - t0
    keep = [col for col in _KEEP_COLS if col in iset.objects.colnames]
    table = Table({col: iset.objects[col] for col in keep})
    table["embedding"] = vectors
    if flags is not None:
        table["flags"] = flags.astype(np.int32)
    meta: dict[str, Any] = {
        "GZFMVER": __version__,
        "MODEL": description,
        "MODELSHA": encoder.weights_sha256 or "none",
        "BACKBONE": encoder.backbone_name,
        "NFEAT": encoder.num_features,
        "IMAGES": Path(iset.source).name,
        "BANDS": ",".join(encoder.bands or iset.bands or []),
        "PREPROC": "checkpoint" if plan is not None else "none",
        "DATE": fits_date(),
    }
    table.meta.update(meta)
    describe_columns(table)
    path = write_table(table, out, overwrite=overwrite) if out is not None else None
    return EmbedResult(table, path, seconds, description)
