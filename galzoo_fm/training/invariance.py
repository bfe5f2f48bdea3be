"""How well an encoder's embedding survives the changes it should ignore: the invariance benchmark.

The definition (issue 15, item 4): for each transform ``T`` (a 1-pixel shift, a 90° rotation, a left-right
flip, a second noise realisation), galaxy ``i`` is *invariant* under ``T`` when its embedding stays closer
to itself after ``T`` than to its nearest *other* galaxy,

.. math::

    \\cos(e_i, e_{T(i)}) > \\max_{j \\ne i} \\cos(e_i, e_j),

with ``e`` the embeddings of the ``N`` original images and ``e_{T(i)}`` that of galaxy ``i`` transformed.
The score of ``T`` is the fraction of invariant galaxies; the goal for a shipped encoder is at least 0.95
for each transform (``docs/invariance.rst`` has the measurements and ``benchmarks/invariance.py`` makes
them).

The transforms act on the raw flux images, before the encoder's recorded preprocessing, which then runs
exactly as :func:`~galzoo_fm.training.extract_features` (and :meth:`galzoo_fm.Encoder.embed` with
``preprocess=True``) runs it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galzoo_fm.training.data.arrays import ArrayDataset
from galzoo_fm.training.evaluate import extract_features

__all__ = ["TRANSFORMS", "InvarianceResult", "border_width", "invariance_scores", "invariant_fraction", "sky_noise",
           "transform_images"]

TRANSFORMS = ("shift", "rot90", "flip", "noise")
"""The transforms :func:`invariance_scores` knows, in their default order."""

_CHUNK = 1024  # rows of the similarity matrix held at once


def _check_images(images: Any) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array of shape (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got shape {images.shape}")
    if images.dtype.kind not in "iuf":
        raise TypeError(f"images must be an array of real numbers, got dtype {images.dtype}")
    if images.shape[0] < 2:
        raise ValueError(f"images must hold at least 2 galaxies (the score compares each with its nearest other "
                         f"galaxy), got N = {images.shape[0]}")
    if min(images.shape[1:]) < 1:
        raise ValueError(f"images must have at least one channel and one pixel, got shape {images.shape}")
    return images


def _check_transforms(transforms: Any) -> tuple[str, ...]:
    if isinstance(transforms, str):
        transforms = [t for t in transforms.replace(",", " ").split() if t]
    names = tuple(transforms)
    if not names:
        raise ValueError(f"transforms must name at least one of {', '.join(TRANSFORMS)}")
    unknown = [t for t in names if t not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transform(s) {', '.join(map(repr, unknown))}; choose from {', '.join(TRANSFORMS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"transforms are listed more than once: {list(names)}")
    return names


def border_width(shape: tuple[int, ...]) -> int:
    """Width in pixels of the frame whose pixels measure the sky noise: ``max(1, min(H, W) // 16)``."""
    return max(1, min(int(shape[-2]), int(shape[-1])) // 16)


def sky_noise(images: np.ndarray) -> np.ndarray:
    """Sky noise of each band of each image: ``1.4826 * MAD`` of the pixels of a frame along the border.

    The frame is :func:`border_width` pixels wide (4 for 64-pixel cutouts). A galaxy cutout's border is
    mostly sky, so its median absolute deviation measures the sky noise; an estimate over the whole image
    (:func:`galzoo_fm.training.augment.estimate_noise`, or the preprocessing's sigma-clipped standard deviation) is
    pulled up by the galaxy's light and its shot noise where the galaxy fills the cutout: on the package's
    simulation at 64 px they give about twice the true sky noise, the border MAD 1.04-1.07 times it
    (median over galaxies).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)``; non-finite pixels are ignored.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, C)``; 0 for a band without a finite border pixel.
    """
    x = np.asarray(_check_images(images), dtype=np.float32)
    b = border_width(x.shape)
    n, c = x.shape[:2]
    frame = np.ones(x.shape[-2:], dtype=bool)
    frame[b:-b, b:-b] = False
    pixels = x[:, :, frame]  # (N, C, pixels of the frame)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN bands: handled below
        pixels = np.where(np.isfinite(pixels), pixels, np.nan)
        med = np.nanmedian(pixels, axis=2, keepdims=True)
        sigma = 1.4826 * np.nanmedian(np.abs(pixels - med), axis=2)
    return np.nan_to_num(sigma, nan=0.0).astype(np.float32).reshape(n, c)


def transform_images(images: np.ndarray, transform: str, *, seed: int = 0, noise_scale: float = 1.0) -> np.ndarray:
    """One transform of the invariance benchmark applied to raw flux images.

    Parameters
    ----------
    images : numpy.ndarray
        Raw fluxes, shape ``(N, C, H, W)``.
    transform : {"shift", "rot90", "flip", "noise"}
        ``"shift"``: move every image by one pixel along x (to larger column index). The column that enters
        on the left repeats the image's first column (edge padding, not :func:`numpy.roll`'s wrap-around,
        which would bring the right-hand edge in on the left); the last column leaves.
        ``"rot90"``: rotate by 90° (counter-clockwise in array coordinates; needs ``H == W``).
        ``"flip"``: left-right mirror (reverse the x axis).
        ``"noise"``: a second noise realisation: add white Gaussian noise of the sky noise of each band of
        each image (:func:`~galzoo_fm.training.invariance.sky_noise`, the MAD of a frame along the border)
        times ``noise_scale``. The added field has the image's sky-noise level; the result has
        ``sqrt(1 + noise_scale**2)`` times it (the noise already in the image cannot be taken out), and it
        differs from the original by ``noise_scale`` sigma per pixel, where two independent realisations
        differ by ``sqrt(2)`` sigma: pass ``noise_scale=sqrt(2)`` for that (harder) test. Only the sky
        noise is resampled, not the
        galaxy's shot noise (no gain is known).
    seed : int
        Seed of the added noise (``"noise"`` only).
    noise_scale : float
        Multiplies the added noise (``"noise"`` only).

    Returns
    -------
    numpy.ndarray
        float32 ``(N, C, H, W)`` (``(N, C, W, H)`` for ``"rot90"``, equal for square images); a new array.

    Raises
    ------
    ValueError
        Bad shape, an unknown transform, ``"rot90"`` of non-square images, a negative ``noise_scale``.
    TypeError
        ``images`` is not a numeric numpy array.
    """
    x = np.asarray(_check_images(images), dtype=np.float32)
    (transform,) = _check_transforms([transform])
    if transform == "shift":
        return np.concatenate([x[..., :1], x[..., :-1]], axis=-1)
    if transform == "rot90":
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"rot90 needs square images, got H x W = {x.shape[-2]} x {x.shape[-1]}")
        return np.ascontiguousarray(np.rot90(x, 1, axes=(-2, -1)))
    if transform == "flip":
        return np.ascontiguousarray(x[..., ::-1])
    if not (np.isfinite(noise_scale) and noise_scale >= 0):
        raise ValueError(f"noise_scale must be a non-negative number, got {noise_scale!r}")
    rng = np.random.default_rng(seed)
    sigma = sky_noise(x)[:, :, None, None] * np.float32(noise_scale)
    return (x + sigma * rng.standard_normal(x.shape, dtype=np.float32)).astype(np.float32)


def _unit(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, dtype=np.float64)
    norm = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(norm, np.finfo(np.float64).tiny)  # a zero vector has cosine 0 with everything


def _check_embeddings(original: Any, transformed: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(original), np.asarray(transformed)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"original embeddings must have shape (N, D) with N >= 2, got shape {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"transformed embeddings must have the shape of the originals {a.shape}, got {b.shape}")
    for name, e in (("original", a), ("transformed", b)):
        if e.dtype.kind not in "iuf" or not np.isfinite(e).all():
            raise ValueError(f"{name} embeddings must be finite real numbers")
    return a, b


def _nearest_other(unit: np.ndarray) -> np.ndarray:
    """``max_{j != i} cos(e_i, e_j)`` for every row of unit vectors ``(N, D)``; in row chunks."""
    n = len(unit)
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        sim = unit[start:stop] @ unit.T
        sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        out[start:stop] = sim.max(axis=1)
    return out


def invariant_fraction(original: np.ndarray, transformed: np.ndarray) -> tuple[float, np.ndarray]:
    """The fraction of galaxies whose transformed embedding is closer to themselves than any other galaxy.

    Parameters
    ----------
    original : numpy.ndarray
        Embeddings ``(N, D)`` of the ``N >= 2`` original images.
    transformed : numpy.ndarray
        Embeddings ``(N, D)`` of the same galaxies, transformed, in the same order.

    Returns
    -------
    fraction : float
        Mean of ``invariant``.
    invariant : numpy.ndarray
        bool ``(N,)``: ``cos(original[i], transformed[i]) > max_{j != i} cos(original[i], original[j])``
        (cosines in float64; a zero vector has cosine 0 with every vector).
    """
    a, b = _check_embeddings(original, transformed)
    ua, ub = _unit(a), _unit(b)
    invariant = np.einsum("nd,nd->n", ua, ub) > _nearest_other(ua)
    return float(invariant.mean()), invariant


@dataclass
class InvarianceResult:
    """The scores of :func:`invariance_scores`.

    Attributes
    ----------
    fraction : dict of str to float
        Per transform: the fraction of invariant galaxies (the score; goal >= 0.95).
    invariant : dict of str to numpy.ndarray
        Per transform: bool ``(N,)``, which galaxies are invariant.
    self_cosine : dict of str to numpy.ndarray
        Per transform: float64 ``(N,)``, ``cos(e_i, e_T(i))``.
    nearest_cosine : numpy.ndarray
        float64 ``(N,)``: ``max_{j != i} cos(e_i, e_j)`` among the originals (the bar each galaxy must pass).
    n : int
        Number of galaxies.
    """

    fraction: dict[str, float]
    invariant: dict[str, np.ndarray] = field(repr=False)
    self_cosine: dict[str, np.ndarray] = field(repr=False)
    nearest_cosine: np.ndarray = field(repr=False)
    n: int = 0

    @property
    def median_self_cosine(self) -> dict[str, float]:
        """Per transform: the median of :attr:`self_cosine`."""
        return {t: float(np.median(c)) for t, c in self.self_cosine.items()}

    @property
    def median_nearest_cosine(self) -> float:
        """The median of :attr:`nearest_cosine`."""
        return float(np.median(self.nearest_cosine))

    def as_dict(self) -> dict[str, float]:
        """Flat summary: ``{T: fraction, "median_self_cosine_<T>": ..., "median_nearest_cosine": ...}``."""
        out: dict[str, float] = dict(self.fraction)
        out.update({f"median_self_cosine_{t}": c for t, c in self.median_self_cosine.items()})
        out["median_nearest_cosine"] = self.median_nearest_cosine
        return out


def invariance_scores(
    encoder: Any,
    images: np.ndarray,
    *,
    transforms: Sequence[str] | str = TRANSFORMS,
    bands: Sequence[str] | str | None = None,
    pixel_scale: float | None = None,
    batch_size: int = 256,
    device: str | None = None,
    seed: int = 0,
    noise_scale: float = 1.0,
) -> InvarianceResult:
    """Score an encoder's invariance to a 1-px shift, a 90° rotation, a flip and noise resampling.

    Galaxy ``i`` is invariant under transform ``T`` when ``cos(e_i, e_T(i)) > max_{j != i} cos(e_i, e_j)``:
    its embedding after ``T`` stays closer to its own than to that of its nearest *other* galaxy among the
    ``N`` originals (the definition of issue 15). The score of ``T`` is the fraction of invariant galaxies.
    It depends on the population and on ``N`` (more galaxies, closer nearest neighbours): compare encoders
    on the same images.

    Parameters
    ----------
    encoder : galzoo_fm.Encoder or torch.nn.Module
        Maps ``(n, in_chans, S, S)`` to ``(n, D)``. An :class:`~galzoo_fm.Encoder` with a recorded
        preprocessing gets raw images, preprocessed by it on ``device`` exactly as
        :func:`~galzoo_fm.training.extract_features` and ``Encoder.embed(..., preprocess=True)`` do; any
        other module gets the images as they are.
    images : numpy.ndarray
        Raw flux images ``(N, C, H, W)``, ``N >= 2``, one channel per name of ``bands``; square for
        ``"rot90"``.
    transforms : sequence of str or str
        Any of ``"shift"``, ``"rot90"``, ``"flip"``, ``"noise"`` (see :func:`transform_images`; a string:
        comma- or space-separated). They act on the raw fluxes, before the preprocessing.
    bands : sequence of str or str, optional
        Names of the ``C`` channels (default as in :func:`~galzoo_fm.training.extract_features`: the
        preprocessing's input bands when ``C`` matches them, else the model's bands).
    pixel_scale : float, optional
        Input arcsec/pixel (default: the preprocessing's ``input_pixel_scale``).
    batch_size : int
        Images per forward pass.
    device : str, optional
        Default: CUDA when available.
    seed : int
        Seed of the ``"noise"`` transform.
    noise_scale : float
        Added noise in units of the estimated sky noise (``"noise"`` only; see :func:`transform_images`).

    Returns
    -------
    InvarianceResult
        Fractions, per-galaxy booleans and cosines; :meth:`InvarianceResult.as_dict` flattens them (with the
        median self-cosine per transform and the median nearest-other cosine).

    Raises
    ------
    ValueError
        ``images`` not ``(N, C, H, W)`` with ``N >= 2``, an unknown or repeated transform, ``"rot90"`` of
        non-square images, band names or pixel scale the preprocessing cannot use, embeddings that are not
        finite.
    TypeError
        ``images`` is not a numeric numpy array.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from galzoo_fm.training import invariance_scores
    >>> class Total(torch.nn.Module):  # per-band total flux: exactly invariant to rotations and flips
    ...     def forward(self, x):
    ...         return x.sum(dim=(2, 3))
    >>> images = np.random.default_rng(0).normal(size=(20, 3, 8, 8)).astype("float32")
    >>> result = invariance_scores(Total(), images, transforms=["rot90", "flip"], device="cpu")
    >>> result.fraction
    {'rot90': 1.0, 'flip': 1.0}
    """

    images = _check_images(images)
    names = _check_transforms(transforms)
    if names.count("rot90") and images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rot90 needs square images, got H x W = {images.shape[-2]} x {images.shape[-1]}")
    if "noise" in names and not (np.isfinite(noise_scale) and noise_scale >= 0):
        raise ValueError(f"noise_scale must be a non-negative number, got {noise_scale!r}")

    def embed(x: np.ndarray) -> np.ndarray:
        data = ArrayDataset(np.ascontiguousarray(x, dtype=np.float32))
        return extract_features(encoder, data, batch_size=batch_size, device=device, bands=bands,
                                pixel_scale=pixel_scale)

    original = embed(images)
    _check_embeddings(original, original)
    unit = _unit(original)
    nearest = _nearest_other(unit)
    fraction, invariant, self_cos = {}, {}, {}
    for name in names:
        moved = embed(transform_images(images, name, seed=seed, noise_scale=noise_scale))
        _check_embeddings(original, moved)
        self_cos[name] = np.einsum("nd,nd->n", unit, _unit(moved))
        invariant[name] = self_cos[name] > nearest
        fraction[name] = float(invariant[name].mean())
    return InvarianceResult(fraction=fraction, invariant=invariant, self_cosine=self_cos, nearest_cosine=nearest,
                            n=len(images))
