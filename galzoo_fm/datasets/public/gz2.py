"""Galaxy Zoo 2: Hart et al. (2016) vote table with the SDSS images of Zenodo record 3565489.

* Votes: "GZ2 - Table 1 - Normal-depth sample with new debiasing method" of Hart et al. 2016 (MNRAS 461,
  3663), served by data.galaxyzoo.org as ``https://gz2hart.s3.amazonaws.com/gz2_hart16.csv.gz``. Columns
  ``dr7objid, ra, dec, rastring, decstring, sample, gz2_class, total_classifications, total_votes`` and, per
  answer, ``t{NN}_{task}_a{NN}_{answer}_{count,weight,fraction,weighted_fraction,debiased,flag}`` (Willett
  et al. 2013 Table; SDSS SkyServer schema ``GalaxyZoo2Tables.sql``). No checksum is published for it.
* Images: Zenodo record 3565489 "Galaxy Zoo 2: Images from Original Sample" (doi:10.5281/zenodo.3565489):
  ``images_gz2.zip`` (243,434 JPEGs ``images_gz2/images/<asset_id>.jpg``) and ``gz2_filename_mapping.csv``
  (columns ``objid, sample, asset_id``; 355,990 rows) — from the record's README. MD5s: ``images_gz2.zip``
  ``bc647032d31e50c798770cf4430525c7`` (galaxy-datasets, ``pytorch_galaxy_datasets/prepared_datasets/gz2.py``,
  for the Zenodo URL), ``gz2_filename_mapping.csv`` ``7e28465e6dfbf96c0d828c595a5bbd80`` (a public
  downloader of the same Zenodo URL). The Zenodo page itself was not readable from here.
  ``gz2_hart16.csv.gz`` has ``checksum=None``: downloaded and size-checked, not verified.

The raw vote counts (``_count``) map onto the ``gz2`` schema as zoobot's GZ2 catalogue preparation renames
them (``zoobot/science_logic/prepare_catalogs.py``); task 08 ("odd feature", several answers at once) is
left out, as there.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table

from galzoo_fm.datasets.public._gz_common import archive_images, read_csv_columns, release_catalog, require_files
from galzoo_fm.datasets.public.base import Release, ReleaseFormatError, RemoteFile

__all__ = ["GZ2", "HART16", "HART16_COLUMNS", "IMAGES_ZIP", "MAPPING"]

ZENODO_RECORD = "https://zenodo.org/records/3565489"
HART16 = "gz2_hart16.csv.gz"
MAPPING = "gz2_filename_mapping.csv"
IMAGES_ZIP = "images_gz2.zip"

#: ``gz2`` schema column → Hart et al. (2016) Table 1 column (raw counts).
HART16_COLUMNS: dict[str, str] = {
    "smooth-or-featured-gz2_smooth": "t01_smooth_or_features_a01_smooth_count",
    "smooth-or-featured-gz2_featured-or-disk": "t01_smooth_or_features_a02_features_or_disk_count",
    "smooth-or-featured-gz2_artifact": "t01_smooth_or_features_a03_star_or_artifact_count",
    "disk-edge-on-gz2_yes": "t02_edgeon_a04_yes_count",
    "disk-edge-on-gz2_no": "t02_edgeon_a05_no_count",
    "bar-gz2_yes": "t03_bar_a06_bar_count",
    "bar-gz2_no": "t03_bar_a07_no_bar_count",
    "has-spiral-arms-gz2_yes": "t04_spiral_a08_spiral_count",
    "has-spiral-arms-gz2_no": "t04_spiral_a09_no_spiral_count",
    "bulge-size-gz2_no": "t05_bulge_prominence_a10_no_bulge_count",
    "bulge-size-gz2_just-noticeable": "t05_bulge_prominence_a11_just_noticeable_count",
    "bulge-size-gz2_obvious": "t05_bulge_prominence_a12_obvious_count",
    "bulge-size-gz2_dominant": "t05_bulge_prominence_a13_dominant_count",
    "something-odd-gz2_yes": "t06_odd_a14_yes_count",
    "something-odd-gz2_no": "t06_odd_a15_no_count",
    "how-rounded-gz2_round": "t07_rounded_a16_completely_round_count",
    "how-rounded-gz2_in-between": "t07_rounded_a17_in_between_count",
    "how-rounded-gz2_cigar": "t07_rounded_a18_cigar_shaped_count",
    "bulge-shape-gz2_round": "t09_bulge_shape_a25_rounded_count",
    "bulge-shape-gz2_boxy": "t09_bulge_shape_a26_boxy_count",
    "bulge-shape-gz2_no-bulge": "t09_bulge_shape_a27_no_bulge_count",
    "spiral-winding-gz2_tight": "t10_arms_winding_a28_tight_count",
    "spiral-winding-gz2_medium": "t10_arms_winding_a29_medium_count",
    "spiral-winding-gz2_loose": "t10_arms_winding_a30_loose_count",
    "spiral-arm-count-gz2_1": "t11_arms_number_a31_1_count",
    "spiral-arm-count-gz2_2": "t11_arms_number_a32_2_count",
    "spiral-arm-count-gz2_3": "t11_arms_number_a33_3_count",
    "spiral-arm-count-gz2_4": "t11_arms_number_a34_4_count",
    "spiral-arm-count-gz2_more-than-4": "t11_arms_number_a36_more_than_4_count",
    "spiral-arm-count-gz2_cant-tell": "t11_arms_number_a37_cant_tell_count",
}
_EXTRA = ("sample", "gz2_class", "total_classifications", "total_votes")


class GZ2(Release):
    """Galaxy Zoo 2 votes (Hart et al. 2016 Table 1) and the original-sample SDSS images (Zenodo 3565489).

    :meth:`catalog` returns one row per galaxy of ``gz2_hart16.csv.gz`` that has an image in
    ``gz2_filename_mapping.csv``: ``id`` (the DR7 ``objid`` as a string), ``ra``, ``dec``, ``image`` (the
    ``asset_id``), the 30 ``gz2`` vote counts (int64), ``campaign`` (``"gz2"``) and ``sample``,
    ``gz2_class``, ``total_classifications``, ``total_votes``. Galaxies without a mapped image are left out
    with a warning (the Zenodo README advises it); their number is in ``meta["n_without_image"]``.
    """

    name = "gz2"
    title = "Galaxy Zoo 2 (Hart et al. 2016 votes, SDSS original-sample images)"
    description = "GZ2 volunteer votes (Hart et al. 2016) on SDSS DR7 colour images (243,434 images)"
    citation = ("Willett K. W. et al. 2013, MNRAS 435, 2835, doi:10.1093/mnras/stt1458; Hart R. E. et al. 2016, "
                "MNRAS 461, 3663, doi:10.1093/mnras/stw1588; images: Galaxy Zoo team 2019, 'Galaxy Zoo 2: "
                "Images from Original Sample', Zenodo, doi:10.5281/zenodo.3565489")
    licence = ("images: the licence of Zenodo record 3565489 (not verified here; check the record); "
               "votes: Galaxy Zoo data release terms at data.galaxyzoo.org")
    homepage = "https://data.galaxyzoo.org"
    size_on_disk = "≈ 3.4 GB images + catalogue (sizes not published; see docs)"
    schema = "gz2"
    files = (
        RemoteFile(IMAGES_ZIP, f"{ZENODO_RECORD}/files/{IMAGES_ZIP}",
                   "md5:bc647032d31e50c798770cf4430525c7", None, "images",
                   "243,434 SDSS colour JPEGs named <asset_id>.jpg (MD5 as recorded by galaxy-datasets)"),
        RemoteFile(MAPPING, f"{ZENODO_RECORD}/files/{MAPPING}",
                   "md5:7e28465e6dfbf96c0d828c595a5bbd80", None, "other",
                   "objid, sample, asset_id for every image (355,990 rows)"),
        RemoteFile(HART16, "https://gz2hart.s3.amazonaws.com/gz2_hart16.csv.gz", None, None, "catalog",
                   "Hart et al. 2016 Table 1 (linked from data.galaxyzoo.org); no checksum published"),
    )
    bands = ("R", "G", "B")
    pixscale = None  # GZ2 cutouts are scaled per galaxy by its Petrosian radius (Willett et al. 2013): no fixed scale

    def catalog(self, folder: Path) -> Table:
        folder = Path(folder)
        urls = {f.name: f.url for f in self.files}
        require_files(folder, self.name, [HART16, MAPPING], urls)
        from galzoo_fm.plugins import get_registry

        schema = get_registry("schemas").create(self.schema)
        mapping = {c: HART16_COLUMNS[c] for c in schema.label_cols if c in HART16_COLUMNS}
        votes = read_csv_columns(folder / HART16, ["dr7objid", "ra", "dec", *mapping.values()], _EXTRA,
                                 string_cols=("dr7objid", "sample", "gz2_class"))
        assets = read_csv_columns(folder / MAPPING, ["objid", "asset_id"], ("sample",),
                                  string_cols=("objid", "asset_id", "sample"))
        asset_of: dict[str, str] = {}
        for objid, asset in zip(assets["objid"], assets["asset_id"], strict=True):
            asset_of.setdefault(str(objid).strip(), str(asset).strip())
        ids = np.array([str(v).strip() for v in votes["dr7objid"]], dtype=str)
        if len(set(ids)) != len(ids):
            raise ReleaseFormatError(f"{folder / HART16}: dr7objid is not unique")
        keep = np.array([i in asset_of for i in ids], dtype=bool)
        n_missing = int((~keep).sum())
        if n_missing:
            warnings.warn(f"{n_missing} of {len(ids)} galaxies of {HART16} have no image in {MAPPING}; "
                          "left out of the catalogue (meta['n_without_image'])", stacklevel=2)
        kept = ids[keep]
        return release_catalog(votes[keep], kept, np.array([asset_of[i] for i in kept], dtype=str), mapping,
                               schema.label_cols, "gz2", _EXTRA,
                               {"release": self.name, "source": str(folder / HART16), "schema": self.schema,
                                "n_without_image": n_missing})

    def open_images(self, folder: Path):
        """The JPEGs of ``images_gz2.zip`` (or of its extracted folder), keyed by ``asset_id``."""
        return archive_images(Path(folder), (IMAGES_ZIP,))
