"""The user's own images — a catalogue column of paths (Zoobot's ``file_loc``), a folder of image files, or
Parquet / Arrow files with image bytes — as a cutout source found by catalogue row.

:func:`open_images` builds an :class:`ImageFiles` source; :func:`galzoo_fm.fetch.fetch_images` (``galzoo-fm
fetch SOURCE --images COLUMN``) puts its images into a cutout store, and ``galzoo-fm embed SOURCE --images
COLUMN`` embeds them, with the same per-row status and resume as survey cutouts. See :doc:`/images`.
"""

from galzoo_fm.images.decode import FITS_SUFFIXES, IMAGE_SUFFIXES, ImageFileError, decode_image_bytes, decode_image_file
from galzoo_fm.images.source import ImageFiles, StoreGeometry, conform, open_images

__all__ = ["FITS_SUFFIXES", "IMAGE_SUFFIXES", "ImageFileError", "ImageFiles", "StoreGeometry", "conform",
           "decode_image_bytes", "decode_image_file", "open_images"]
