"""Per-object quality flags set by the preprocessing pipeline (bit flags, one integer per galaxy)."""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["BAD_FLAGS", "PreprocessFlag", "describe_flags"]


class PreprocessFlag(enum.IntFlag):
    """Bits of the ``flags`` array returned by :class:`~galzoo_fm.preprocess.Preprocessor`.

    A flagged galaxy is still processed (the rest of the batch is never held up by one bad cutout); the
    bits in :data:`BAD_FLAGS` mark images that carry no usable signal.
    """

    #: Some pixels were NaN, infinite or masked; they were filled with the background level (0).
    NONFINITE = 1
    #: No usable pixel in any band: all non-finite or all exactly zero (e.g. off the survey footprint).
    EMPTY = 2
    #: At least one band is constant (no variation at all), e.g. a band missing from the coadd.
    CONSTANT = 4
    #: A pixel reaches the ``saturation`` level, or ``plateau_pixels`` pixels share a band's maximum value.
    SATURATED = 8
    #: A model band absent from the input was filled by the ``missing_band`` rule.
    MISSING_BAND = 16
    #: More than ``max_masked_fraction`` of the pixels were non-finite or masked.
    MOSTLY_MASKED = 32
    #: Neighbour masking / recentring found no source at the centre of the cutout.
    NO_CENTRAL_SOURCE = 64
    #: The centroid was undefined or further than ``max_shift`` pixels; the image was not recentred.
    CENTROID_FAILED = 128
    #: The requested field of view extends beyond the cutout; the outside was filled with zeros.
    TRUNCATED = 256


#: Flags that mean "no usable image": drop these galaxies or treat their embeddings as missing.
BAD_FLAGS = PreprocessFlag.EMPTY | PreprocessFlag.CONSTANT


def describe_flags(flags: int | np.integer | np.ndarray) -> list[str] | list[list[str]]:
    """Names of the bits set in ``flags``.

    Parameters
    ----------
    flags : int or numpy.ndarray
        One flag value, or an array of shape ``(N,)``.

    Returns
    -------
    list of str, or list of list of str
        For one value, the names of its set bits (``[]`` when clean); for an array, one such list per value.

    Examples
    --------
    >>> from galzoo_fm.preprocess import PreprocessFlag, describe_flags
    >>> describe_flags(PreprocessFlag.NONFINITE | PreprocessFlag.TRUNCATED)
    ['NONFINITE', 'TRUNCATED']
    """
    if isinstance(flags, np.ndarray):
        return [describe_flags(int(f)) for f in flags.ravel()]  # type: ignore[misc]
    value = int(flags)
    return [flag.name for flag in PreprocessFlag if value & flag and flag.name]
