"""The NumPy/astropy preprocessing, kept only as the reference the torch pipeline is tested against.

:func:`reference_preprocess` runs the steps of :class:`~galzoo_fm.preprocess.Preprocessor` with the NumPy
functions of :mod:`galzoo_fm.preprocess.steps` (astropy's ``SigmaClip`` for the sky, NumPy masking for the
flags, per-image weight matrices for the resampling). No path of the package uses it; the tests hold the
torch pipeline to it (sky level, flags, resampling, stretch).
"""

from __future__ import annotations

import numpy as np

from galzoo_fm.preprocess.bands import band_mapping
from galzoo_fm.preprocess.flags import PreprocessFlag
from galzoo_fm.preprocess.geometry import resample_images
from galzoo_fm.preprocess.pipeline import Preprocessor, PreprocessResult
from galzoo_fm.preprocess.steps import clean_images, estimate_background

__all__ = ["reference_preprocess"]


def reference_preprocess(pre: Preprocessor, images: np.ndarray, *, bands: list[str] | None = None,
                         pixel_scale: float | None = None, mask: np.ndarray | None = None) -> PreprocessResult:
    """``pre(images, ...)`` computed with NumPy and astropy (same settings, same outputs, NumPy arrays).

    Parameters
    ----------
    pre : Preprocessor
        The settings.
    images, bands, pixel_scale, mask
        As :meth:`Preprocessor.__call__` (``images`` a NumPy array).
    """
    s = pre.to_dict()
    x_t, _, in_bands, scale = pre._inputs(np.asarray(images), bands, pixel_scale)
    images = x_t.numpy()
    index = band_mapping(s["bands"], in_bands, s["missing_band"])
    used = sorted(set(index[index >= 0].tolist()))
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), images.shape)[:, used]
    x, bad, flags = clean_images(images[:, used], mask, saturation=s["saturation"],
                                 plateau_pixels=s["plateau_pixels"], max_masked_fraction=s["max_masked_fraction"])
    level, noise = estimate_background(x, bad, method=s["background"], sigma=s["background_sigma"],
                                       maxiters=s["background_maxiters"], box_size=s["background_box"],
                                       max_pixels=s["background_pixels"])
    x -= level
    x[bad] = 0.0
    bad_any = bad.any(axis=1)
    shifts = np.zeros((len(x), 2))
    if len(x) and (s["neighbours"] != "none" or s["recentre"] != "none"):
        x, bad_any, shifts, more = pre._sources(x, noise, bad_any)
        flags |= more
    pos = {c: k for k, c in enumerate(used)}
    n, _, h, w = x.shape
    mean_level = level.mean(axis=(2, 3))
    model = np.zeros((n, len(index), h, w), dtype=np.float32)
    model_noise = np.zeros((n, len(index)), dtype=np.float32)
    model_level = np.zeros((n, len(index)), dtype=np.float32)
    for k, c in enumerate(index):
        if c >= 0:
            j = pos[c]
            model[:, k], model_noise[:, k], model_level[:, k] = x[:, j], noise[:, j], mean_level[:, j]
    if any(b not in in_bands for b in s["bands"]):
        flags |= PreprocessFlag.MISSING_BAND
    size = s["image_size"]
    step = pre._step(h, w, scale)
    stacked = np.concatenate([model, bad_any[:, None].astype(np.float32)], axis=1)
    out, truncated = resample_images(stacked, size, step, shifts, s["interpolation"])
    out, mask_out = out[:, :-1], out[:, -1:]
    flags[truncated] |= PreprocessFlag.TRUNCATED
    result = PreprocessResult(out, flags.astype(np.int32), mask_out, model_level, model_noise, shifts)
    return pre.finish(result)
