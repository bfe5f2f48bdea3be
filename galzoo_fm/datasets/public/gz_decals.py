"""Galaxy Zoo DECaLS, campaign GZD-5 (Walmsley et al. 2022, MNRAS 509, 3966), as released on Zenodo.

Zenodo record 4573248 (doi:10.5281/zenodo.4573248, CC BY 4.0) holds the volunteer vote catalogues
(``gz_decals_volunteers_1_and_2`` and ``gz_decals_volunteers_5``, each as ``.csv`` and ``.parquet``), the
automated posteriors, a ``schema.md`` describing the columns, and the DECaLS DR5 colour images as four zip
archives ``gz_decals_dr5_png_part{1,2,3,4}.zip``. This loader reads ``gz_decals_volunteers_5.csv`` (one row
per galaxy, identified by its NSA ``iauname``) and the PNG images ``<iauname>.png`` inside the zips.

Facts and where they come from:

* file names, MD5 checksums and approximate sizes of the catalogues: the Zenodo file listing of record
  4573248 as reproduced in a public verification note (the Zenodo page itself was not reachable from here;
  the MD5 of ``gz_decals_volunteers_5.csv`` is ``b12e3767b3968f9767d4f4115cc69d4d``, 145.8 MB);
* the column layout: Zenodo ``schema.md`` (``{question}_{answer}`` counts, ``_fraction``, ``_debiased``,
  ``{question}_total-votes``; ``iauname``, ``ra``, ``dec`` and NSA columns ``redshift``, ``petro_theta``,
  ``petro_th50``, ``petro_th90``, ``elpetro_absmag_r``, ``sersic_nmgy_r``, ``mag_r``, ``wrong_size_statistic``,
  ``wrong_size_warning``) and a third-party TensorFlow-Datasets builder, ``galaxy_zoo_decals`` of
  ``galaxies_datasets`` (GZD-5 answers);
* the images: four ``gz_decals_dr5_png_part*.zip`` archives of ``J???/<iauname>.png`` (that builder's
  manual-download instructions; about 104 GB together). Zenodo publishes MD5s for them but we could not read
  them, so their ``checksum`` is ``None``: downloaded and size-checked, not verified.

The GZD-5 answers map one to one onto the ``decals_dr5`` schema (``smooth-or-featured_smooth`` →
``smooth-or-featured-dr5_smooth``). Galaxies of GZD-1/2 only are not in this file (see
``gz_decals_volunteers_1_and_2``, not loaded here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from galzoo_fm.datasets.public._gz_common import archive_images, read_csv_columns, release_catalog, require_files
from galzoo_fm.datasets.public.base import Release, RemoteFile

__all__ = ["VOLUNTEERS_5", "ZENODO_RECORD", "GZDecalsDR5"]

ZENODO_RECORD = "https://zenodo.org/records/4573248"
VOLUNTEERS_5 = "gz_decals_volunteers_5.csv"
_IMAGE_ZIPS = tuple(f"gz_decals_dr5_png_part{i}.zip" for i in range(1, 5))
#: NSA columns copied into the catalogue when present (Zenodo schema.md).
_EXTRA = ("redshift", "petro_theta", "petro_th50", "petro_th90", "elpetro_absmag_r", "mag_r",
          "wrong_size_statistic", "wrong_size_warning")


class GZDecalsDR5(Release):
    """Galaxy Zoo DECaLS GZD-5 volunteer votes and DECaLS DR5 colour images (Zenodo 4573248).

    :meth:`catalog` returns one row per galaxy of ``gz_decals_volunteers_5.csv``: ``id`` (the NSA
    ``iauname``), ``ra``, ``dec``, ``image`` (the ``iauname``), the 34 ``decals_dr5`` vote counts
    (``{question}-dr5_{answer}``, int64), ``campaign`` (``"gzd5"``) and the NSA columns of the release that
    are present (``redshift``, ``petro_theta``, ``petro_th50``, ``petro_th90``, ``elpetro_absmag_r``,
    ``mag_r``, ``wrong_size_statistic``, ``wrong_size_warning``).
    """

    name = "gz_decals_dr5"
    title = "Galaxy Zoo DECaLS (GZD-5 volunteer votes, DECaLS DR5 images)"
    description = "Volunteer votes of the GZD-5 campaign on DECaLS DR5 colour images (Walmsley et al. 2022)"
    citation = ("Walmsley M. et al. 2022, MNRAS 509, 3966, 'Galaxy Zoo DECaLS: Detailed visual morphology "
                "measurements from volunteers and deep learning for 314 000 galaxies', "
                "doi:10.1093/mnras/stab2093; data: Walmsley M. et al. 2020, Zenodo, doi:10.5281/zenodo.4573248")
    licence = "CC BY 4.0 (Zenodo record 4573248)"
    homepage = ZENODO_RECORD
    size_on_disk = "≈ 146 MB catalogue + ≈ 104 GB images (four zips)"
    schema = "decals_dr5"
    files = (
        RemoteFile(
            VOLUNTEERS_5, f"{ZENODO_RECORD}/files/{VOLUNTEERS_5}",
            # MD5 as listed by Zenodo for record 4573248 (size 145.8 MB there, exact bytes not seen)
            "md5:b12e3767b3968f9767d4f4115cc69d4d", None, "catalog",
            "GZD-5 volunteer vote counts, fractions and NSA columns, one row per galaxy (iauname)"),
        # Zenodo publishes MD5s for the image zips too, but we could not read them: checksum None
        *(RemoteFile(z, f"{ZENODO_RECORD}/files/{z}", None, None, "images",
                     f"DECaLS DR5 PNG images, part {i} of 4 (MD5 on Zenodo, not recorded here)")
          for i, z in enumerate(_IMAGE_ZIPS, start=1)),
    )
    bands = ("R", "G", "B")
    pixscale = None  # the GZ DECaLS images are resized per galaxy from the Petrosian radius: no fixed scale

    def catalog(self, folder: Path) -> Table:
        folder = Path(folder)
        require_files(folder, self.name, [VOLUNTEERS_5], {f.name: f.url for f in self.files})
        from galzoo_fm.plugins import get_registry

        schema = get_registry("schemas").create(self.schema)
        mapping = {col: col.replace("-dr5_", "_", 1) for col in schema.label_cols}
        src = read_csv_columns(folder / VOLUNTEERS_5, ["iauname", "ra", "dec", *mapping.values()], _EXTRA,
                               string_cols=("iauname",))
        ids = np.asarray(src["iauname"], dtype=str)
        return release_catalog(src, ids, ids, mapping, schema.label_cols, "gzd5", _EXTRA,
                               {"release": self.name, "source": str(folder / VOLUNTEERS_5), "schema": self.schema})

    def open_images(self, folder: Path):
        """The PNGs of the four zips (or of the folders they were extracted into), keyed by ``iauname``."""
        return archive_images(Path(folder), _IMAGE_ZIPS)
