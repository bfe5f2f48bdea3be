"""Galaxy image preprocessing: cleaning, background, neighbours, centring, stretch, bands and resampling.

The main entry point is :class:`Preprocessor`, a configurable pipeline whose settings serialise to JSON
(:meth:`Preprocessor.to_dict`) and are saved in every :class:`~galzoo_fm.Encoder` checkpoint. The steps are
also available as functions operating on batches ``(N, C, H, W)``.
"""

from galzoo_fm.preprocess.bands import (
    BAND_WAVELENGTHS,
    FILTER_WAVELENGTHS,
    MISSING_BAND_RULES,
    SURVEY_DEFAULTS,
    band_mapping,
    band_wavelength,
    survey_defaults,
)
from galzoo_fm.preprocess.flags import BAD_FLAGS, PreprocessFlag, describe_flags
from galzoo_fm.preprocess.geometry import resample_images
from galzoo_fm.preprocess.pipeline import Preprocessor, PreprocessResult
from galzoo_fm.preprocess.rgb import make_rgb, rgb_band_order
from galzoo_fm.preprocess.settings import PREPROCESS_PRESETS, PREPROCESS_SETTINGS, survey_preprocessing
from galzoo_fm.preprocess.sources import detection_images, find_central_sources, measure_centroids, replace_neighbours
from galzoo_fm.preprocess.steps import asinh_stretch, clean_images, clipped_stats, estimate_background, subsample_step

__all__ = [
    "BAD_FLAGS",
    "BAND_WAVELENGTHS",
    "FILTER_WAVELENGTHS",
    "MISSING_BAND_RULES",
    "PREPROCESS_PRESETS",
    "PREPROCESS_SETTINGS",
    "SURVEY_DEFAULTS",
    "PreprocessFlag",
    "PreprocessResult",
    "Preprocessor",
    "asinh_stretch",
    "band_mapping",
    "band_wavelength",
    "clean_images",
    "clipped_stats",
    "describe_flags",
    "detection_images",
    "estimate_background",
    "find_central_sources",
    "make_rgb",
    "measure_centroids",
    "replace_neighbours",
    "resample_images",
    "rgb_band_order",
    "subsample_step",
    "survey_defaults",
    "survey_preprocessing",
]
