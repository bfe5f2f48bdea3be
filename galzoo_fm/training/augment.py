"""Batched, on-device augmentations of galaxy images, and multi-view generation for self-supervised losses.

Everything runs on the device of the input tensor (the GPU during pretraining) in a handful of batched
kernels: one :func:`torch.nn.functional.affine_grid` + :func:`~torch.nn.functional.grid_sample` call applies
every galaxy's own rotation, flip, zoom and translation; one grouped convolution applies every galaxy's own
blur. Random parameters are drawn on the CPU from a seeded :class:`torch.Generator` (so they are the same on
every device) and moved to the device; the pixel noise is drawn on the device from a generator seeded by
the CPU one.

Astronomical images are not photographs: there is no hue, saturation or contrast jitter. The only colour
change is the optional small per-band flux scaling (``band_scale``), a stand-in for calibration errors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from galzoo_fm._utils.checks import nonnegative_int, number_in, number_pair, one_of, positive_int, probability
from galzoo_fm._utils.settings import Setting, did_you_mean, document, unknown_keys, validate_table

__all__ = ["AUGMENT_SETTINGS", "Augment", "MultiViewAugment", "affine", "estimate_noise", "gaussian_blur"]

FORMAT = "galzoo_fm.augment"
FORMAT_VERSION = 1
PADDINGS = ("reflection", "zeros", "border")

def _pair(low: float, high: float | None = None) -> Any:
    return lambda value, key: number_pair(value, key, low, high)


#: The settings of :class:`Augment`, each declared once (default, check, doc).
AUGMENT_SETTINGS: dict[str, Setting] = {
    "rotation": Setting(default=180.0, type_doc="float", doc="Maximum absolute angle in degrees, in [0, 180] (any "
                        "orientation).", check=lambda v, k: number_in(v, k, 0, 180, "a maximum angle", " degrees")),
    "hflip": Setting(default=0.5, type_doc="float", doc="Probability of a left-right flip.", check=probability),
    "vflip": Setting(default=0.0, type_doc="float", doc="Probability of an up-down flip (with full rotations one "
                     "flip covers all mirror images).", check=probability),
    "crop_scale": Setting(default=[0.7, 1.0], type_doc="(float, float)", check=_pair(1e-3, 4.0),
                          doc="Area fraction kept by a centred random resized crop, within (0, 4] (values above 1 "
                          "zoom out, padding the edges)."),
    "crop_ratio": Setting(default=[1.0, 1.0], type_doc="(float, float)", check=_pair(0.1, 10.0),
                          doc="Aspect ratio range, log-uniform ((1, 1): galaxy shapes are not distorted)."),
    "translate": Setting(default=0.05, type_doc="float", doc="Maximum shift per axis as a fraction of the image "
                         "side, in [0, 1].", check=lambda v, k: number_in(v, k, 0, 1, "a fraction of the image side")),
    "blur_prob": Setting(default=0.5, type_doc="float", doc="Probability of a Gaussian (PSF-like) blur.",
                         check=probability),
    "blur_sigma": Setting(default=[0.0, 1.0], type_doc="(float, float)", check=_pair(0.0, 20.0),
                          doc="Blur sigma range in pixels."),
    "noise": Setting(default=[0.0, 1.0], type_doc="(float, float)", check=_pair(0.0),
                     doc="Added noise in units of the image's own noise ((0, 1): up to doubling the variance)."),
    "flux_scale": Setting(default=[0.8, 1.25], type_doc="(float, float)", check=_pair(1e-6),
                          doc="Whole-image flux factor range, log-uniform."),
    "band_scale": Setting(default=[0.95, 1.05], type_doc="(float, float)", check=_pair(1e-6),
                          doc="Independent per-band factor range, log-uniform; (1, 1) keeps colours exactly."),
    "band_dropout": Setting(default=0.0, type_doc="float", doc="Probability of zeroing one random band.",
                            check=probability),
    "padding": Setting(default="reflection", choices=PADDINGS, doc="Fill outside the image after rotation or "
                       "zoom-out (:func:`torch.nn.functional.grid_sample` ``padding_mode``)."),
    "size": Setting(default=None, type_doc="int", doc="Output side in pixels (``None``: the input's).",
                    check=lambda v, k: positive_int(v, k, none=True)),
}
_DEFAULTS: dict[str, Any] = {k: spec.default for k, spec in AUGMENT_SETTINGS.items()}


def _check_tensor(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor, got {x.dtype}")
    return x


def affine(
    images: torch.Tensor,
    angle: torch.Tensor | float = 0.0,
    *,
    scale: torch.Tensor | float = 1.0,
    aspect: torch.Tensor | float = 1.0,
    translate: torch.Tensor | None = None,
    hflip: torch.Tensor | bool = False,
    vflip: torch.Tensor | bool = False,
    size: int | None = None,
    padding: str = "reflection",
    exact: bool = True,
) -> torch.Tensor:
    """Rotate, flip, zoom and translate each image with its own parameters, in one ``grid_sample`` call.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` with ``H == W``; the output stays on its device.
    angle : torch.Tensor or float
        Degrees, counter-clockwise as displayed with row 0 at the top (the torchvision convention:
        ``affine(x, 90)`` equals ``torch.rot90(x, 1, dims=(-2, -1))`` for square images); scalar or ``(N,)``.
    scale : torch.Tensor or float
        Side of the region sampled, as a fraction of the image side (< 1 zooms in); scalar or ``(N,)``.
    aspect : torch.Tensor or float
        Width/height ratio of the sampled region (area ``scale**2`` is kept); scalar or ``(N,)``.
    translate : torch.Tensor, optional
        ``(N, 2)`` shifts ``(dx, dy)`` of the sampled region's centre, as fractions of the image side.
    hflip, vflip : torch.Tensor or bool
        Mirror left-right / up-down; scalar or ``(N,)`` bool.
    size : int, optional
        Output side in pixels (default: ``H`` for square inputs).
    padding : {"reflection", "zeros", "border"}
        Values outside the input (:func:`torch.nn.functional.grid_sample` ``padding_mode``).
    exact : bool
        When every image's transform is a pure symmetry of the square (angles that are multiples of 90
        degrees, flips, no zoom or shift, same size) and the parameters are Python numbers or CPU tensors,
        apply it exactly with index operations instead of interpolating.

    Returns
    -------
    torch.Tensor
        ``(N, C, size, size)``, bilinear interpolation (``align_corners=False``).
    """
    x = _check_tensor(images)
    one_of(padding, PADDINGS, "padding")
    n, _, h, w = x.shape
    if h != w:
        raise ValueError(f"images must be square (H == W) to be rotated, got {h}x{w} pixels")
    size = h if size is None else int(size)
    if exact and h == w == size:
        quarter = _dihedral(n, angle, scale, aspect, translate)
        if quarter is not None:
            return _apply_dihedral(x, quarter, hflip, vflip)
    mat = _affine_matrix(n, angle, scale, aspect, translate, hflip, vflip, x.device)
    return _sample(x, mat, size, padding)


def _affine_matrix(n, angle, scale, aspect, translate, hflip, vflip, device) -> torch.Tensor:
    """``(N, 2, 3)`` matrices mapping output to input normalised coordinates (x right, y down)."""
    opts = {"dtype": torch.float32, "device": device}
    theta_rad = torch.as_tensor(angle, **opts).expand(n) * (math.pi / 180.0)
    s = torch.as_tensor(scale, **opts).expand(n)
    r = torch.as_tensor(aspect, **opts).expand(n).sqrt()
    sx = s * r * torch.where(torch.as_tensor(hflip, device=device).expand(n), -1.0, 1.0)
    sy = s / r * torch.where(torch.as_tensor(vflip, device=device).expand(n), -1.0, 1.0)
    cos, sin = torch.cos(theta_rad), torch.sin(theta_rad)
    # input coordinate = R(angle) @ diag(sx, sy) @ output coordinate + t
    mat = torch.zeros((n, 2, 3), **opts)
    mat[:, 0, 0], mat[:, 0, 1] = cos * sx, -sin * sy
    mat[:, 1, 0], mat[:, 1, 1] = sin * sx, cos * sy
    if translate is not None:
        mat[:, :, 2] = 2.0 * torch.as_tensor(translate, **opts).reshape(n, 2)
    return mat


def _sample(x: torch.Tensor, mat: torch.Tensor, size: int, padding: str) -> torch.Tensor:
    n, c = x.shape[:2]
    grid = F.affine_grid(mat, [n, c, size, size], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode=padding, align_corners=False).to(x.dtype)


def _cpu_values(value: Any, n: int) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach().double().expand(n) if value.device.type == "cpu" else None
    return torch.full((n,), float(value), dtype=torch.float64)


def _dihedral(n: int, angle: Any, scale: Any, aspect: Any, translate: Any) -> torch.Tensor | None:
    """Quarter turns ``(N,)`` if the transform is a symmetry of the square (known on the CPU), else None."""
    a, s, r = (_cpu_values(v, n) for v in (angle, scale, aspect))
    if a is None or s is None or r is None or not (s == 1).all() or not (r == 1).all():
        return None
    if translate is not None and not (isinstance(translate, torch.Tensor) and translate.device.type == "cpu"
                                      and not translate.any()):
        return None
    if not (torch.remainder(a, 90.0) == 0).all():
        return None
    return torch.remainder(torch.round(a / 90.0), 4).long()


def _apply_dihedral(x: torch.Tensor, quarter: torch.Tensor, hflip: Any, vflip: Any) -> torch.Tensor:
    n = x.shape[0]
    dev = x.device
    out = x
    for k in (1, 2, 3):
        sel = (quarter == k).to(dev)[:, None, None, None]
        if (quarter == k).any():
            out = torch.where(sel, torch.rot90(x, k, dims=(-2, -1)), out)
    for flag, dim in ((hflip, -1), (vflip, -2)):
        f = torch.as_tensor(flag, device=dev).expand(n)[:, None, None, None]
        out = torch.where(f, out.flip(dim), out)
    return out


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor | float, *, max_sigma: float | None = None) -> torch.Tensor:
    """Blur each image with its own circular Gaussian (a PSF-like blur), in one grouped convolution.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)``.
    sigma : torch.Tensor or float
        Standard deviation in pixels, scalar or ``(N,)``; 0 leaves an image unchanged.
    max_sigma : float, optional
        Largest sigma, fixing the kernel size (``2 * ceil(3 * max_sigma) + 1``); default ``sigma.max()``.

    Returns
    -------
    torch.Tensor
        Same shape; reflect padding at the edges; the total flux of each image is preserved.
    """
    x = _check_tensor(images)
    n, c, h, w = x.shape
    sig = torch.as_tensor(sigma, dtype=torch.float32, device=x.device).expand(n)
    top = float(sig.max()) if max_sigma is None else float(max_sigma)
    rad = max(1, math.ceil(3 * top))
    if rad >= min(h, w):
        raise ValueError(f"blur sigma {top} needs a kernel radius {rad} >= the image side {min(h, w)}")
    k = torch.arange(-rad, rad + 1, dtype=torch.float32, device=x.device)
    kern = torch.exp(-0.5 * (k[None] / sig[:, None].clamp(min=1e-6)) ** 2)
    kern = kern / kern.sum(1, keepdim=True)  # sigma -> 0 gives the identity kernel
    kern = kern.repeat_interleave(c, dim=0)  # (N*C, K)
    y = F.pad(x.float().reshape(1, n * c, h, w), (rad, rad, rad, rad), mode="reflect")
    y = F.conv2d(y, kern.view(n * c, 1, -1, 1), groups=n * c)
    y = F.conv2d(y, kern.view(n * c, 1, 1, -1), groups=n * c)
    return y.reshape(n, c, h, w).to(x.dtype)


def _lower_median(x: torch.Tensor) -> torch.Tensor:
    """Median over the last axis (the lower middle value for even counts, as :meth:`torch.Tensor.median`)."""
    if x.device.type != "cpu":
        return x.median(dim=-1).values
    k = (x.shape[-1] - 1) // 2  # on the CPU, NumPy's selection is ~10x faster than torch.median
    a = x.detach().contiguous().numpy()
    return torch.from_numpy(np.partition(a, k, axis=-1)[..., k].copy())


def estimate_noise(images: torch.Tensor) -> torch.Tensor:
    """Robust per-image, per-band noise: ``1.4826 * median(|x - median(x)|)`` over the pixels.

    For a cutout dominated by sky, the median absolute deviation (MAD) measures the sky noise, barely
    affected by the galaxy. Returns ``(N, C)`` float32 on the input's device.
    """
    x = _check_tensor(images).float().flatten(2)
    med = _lower_median(x)
    return 1.4826 * _lower_median((x - med[..., None]).abs())


def _check_level(noise_level: Any, x: torch.Tensor) -> torch.Tensor:
    """``noise_level`` as a float32 ``(N, C)`` tensor on ``x``'s device; errors name the problem."""
    if not isinstance(noise_level, torch.Tensor):
        raise TypeError(f"noise_level must be a torch.Tensor of shape (N, C), got {type(noise_level).__name__}")
    if tuple(noise_level.shape) != tuple(x.shape[:2]):
        raise ValueError(f"noise_level must have shape (N, C) = {tuple(x.shape[:2])} to match the images, got "
                         f"{tuple(noise_level.shape)}")
    return noise_level.to(x.device).float()


class Augment:
    """Random galaxy augmentations for a batch, on the batch's device.

    Per image, in this order: (1) one affine resampling combining a rotation uniform in
    ``[-rotation, rotation]`` degrees, a left-right flip with probability ``hflip``, an up-down flip with
    probability ``vflip``, a centred zoom keeping an area fraction uniform in ``crop_scale`` with aspect
    ratio log-uniform in ``crop_ratio`` (random resized crop), and a shift uniform in ``±translate`` of the
    image side per axis; (2) with probability ``blur_prob``, a Gaussian blur with sigma uniform in
    ``blur_sigma`` pixels; (3) a flux factor log-uniform in ``flux_scale`` times a per-band factor
    log-uniform in ``band_scale``; (4) Gaussian noise with standard deviation ``k`` times the image's own noise
    (per band, :func:`estimate_noise` of the input times the flux factors), ``k`` uniform in ``noise``;
    (5) with probability ``band_dropout``, one band set to 0.

    Parameters
    ----------
    {settings}
    seed : int, optional
        Seed of the parameter generator; ``None`` draws a random seed. Calls advance the generator, so a
        sequence of calls is reproducible; :meth:`reset` restarts it.

    Examples
    --------
    >>> import torch
    >>> from galzoo_fm.training.augment import Augment
    >>> aug = Augment(seed=0)
    >>> aug(torch.zeros(8, 3, 32, 32)).shape
    torch.Size([8, 3, 32, 32])
    >>> Augment.from_dict(aug.to_dict()).to_dict() == aug.to_dict()
    True
    """

    def __init__(self, seed: int | None = None, **settings: Any):
        unknown = unknown_keys(settings, AUGMENT_SETTINGS)
        if unknown:
            raise TypeError(f"unknown Augment setting(s) {', '.join(unknown)}; known: {', '.join(AUGMENT_SETTINGS)}"
                            + did_you_mean(unknown, AUGMENT_SETTINGS))
        self.settings = validate_table(settings, AUGMENT_SETTINGS)
        self.seed = int.from_bytes(os.urandom(8), "little") >> 2 if seed is None else nonnegative_int(seed, "seed",
                                                                                                      none=True)
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self, seed: int | None = None) -> None:
        """Restart the parameter generator (from ``seed``, or the construction seed)."""
        self.seed = self.seed if seed is None else int(seed)
        self.generator.manual_seed(self.seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings (without the seed); inverse of :meth:`from_dict`."""
        return {"format": FORMAT, "version": FORMAT_VERSION, **{k: (list(v) if isinstance(v, list) else v)
                                                                  for k, v in self.settings.items()}}

    @classmethod
    def from_dict(cls, config: dict[str, Any], seed: int | None = None) -> Augment:
        """Build from :meth:`to_dict` output."""
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError(f"not galzoo_fm augmentation settings (expected format {FORMAT!r}): {config!r}")
        if config.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported augmentation settings version {config.get('version')!r}")
        return cls(seed=seed, **{k: v for k, v in config.items() if k not in ("format", "version")})

    def __repr__(self) -> str:
        changed = ", ".join(f"{k}={v!r}" for k, v in self.settings.items() if v != _DEFAULTS[k])
        return f"Augment(seed={self.seed}{', ' + changed if changed else ''})"

    # ------------------------------------------------------------------ sampling
    def _uniform(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.generator)

    def _log_uniform(self, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
        u = torch.rand(shape, generator=self.generator)
        return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)

    def sample(self, n: int, c: int) -> dict[str, torch.Tensor]:
        """Draw the parameters for ``n`` images of ``c`` bands (CPU tensors; advances the generator)."""
        s = self.settings
        g = self.generator
        p: dict[str, torch.Tensor] = {
            "angle": self._uniform(n, -s["rotation"], s["rotation"]),
            "hflip": torch.rand(n, generator=g) < s["hflip"],
            "vflip": torch.rand(n, generator=g) < s["vflip"],
            "scale": self._uniform(n, *s["crop_scale"]).sqrt(),
            "aspect": self._log_uniform((n,), *s["crop_ratio"]),
            "translate": (torch.rand((n, 2), generator=g) * 2 - 1) * s["translate"],
        }
        blurred = torch.rand(n, generator=g) < s["blur_prob"]
        p["blur_sigma"] = torch.where(blurred, self._uniform(n, *s["blur_sigma"]), torch.zeros(n))
        p["flux"] = self._log_uniform((n, 1), *s["flux_scale"]) * self._log_uniform((n, c), *s["band_scale"])
        p["noise"] = self._uniform(n, *s["noise"])
        dropped = torch.randint(c, (n,), generator=g)
        p["dropout"] = torch.where(torch.rand(n, generator=g) < s["band_dropout"], dropped, torch.full((n,), -1))
        p["noise_seed"] = torch.randint(2**62, (1,), generator=g)
        return p

    # ------------------------------------------------------------------ applying
    def __call__(
        self, images: torch.Tensor, *, noise_level: torch.Tensor | None = None, return_params: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Augment a batch.

        Parameters
        ----------
        images : torch.Tensor
            ``(N, C, H, W)`` floating point, on any device (the output stays there).
        noise_level : torch.Tensor, optional
            ``(N, C)`` noise of each image and band; default :func:`estimate_noise` of ``images``.
        return_params : bool
            Also return the drawn parameters (CPU tensors).

        Returns
        -------
        torch.Tensor
            ``(N, C, size, size)``, or ``(tensor, params)`` with ``return_params``.
        """
        x = _check_tensor(images)
        n, c = x.shape[:2]
        p = self.sample(n, c)
        out = self.apply(x, p, noise_level=noise_level)
        return (out, p) if return_params else out

    def apply(
        self, images: torch.Tensor, params: dict[str, torch.Tensor], *, noise_level: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Apply parameters from :meth:`sample` (deterministic given ``params``, up to the device's noise)."""
        x = _check_tensor(images)
        s = self.settings
        dev = x.device
        n, c, h, w = x.shape
        if h != w:
            raise ValueError(f"images must be square (H == W) to be rotated, got {h}x{w} pixels")
        size = h if s["size"] is None else s["size"]
        quarter = _dihedral(n, params["angle"], params["scale"], params["aspect"], params["translate"])
        exact = quarter is not None and h == w == size
        mat = _affine_matrix(n, params["angle"], params["scale"], params["aspect"], params["translate"],
                             params["hflip"], params["vflip"], "cpu")
        # one host-to-device copy for every per-image parameter
        packed = torch.cat([mat.reshape(n, 6), params["blur_sigma"][:, None], params["noise"][:, None],
                            params["flux"], params["dropout"][:, None].float(), params["hflip"][:, None].float(),
                            params["vflip"][:, None].float()], dim=1).to(dev, non_blocking=True)
        mat_d, blur, k_noise, flux, rest = packed.split([6, 1, 1, c, 3], dim=1)
        sigma = estimate_noise(x) if noise_level is None else _check_level(noise_level, x)
        if exact:
            y = _apply_dihedral(x, quarter, rest[:, 1] > 0.5, rest[:, 2] > 0.5)
        else:
            y = _sample(x, mat_d.reshape(n, 2, 3), size, s["padding"])
        if s["blur_prob"] > 0 and s["blur_sigma"][1] > 0:
            y = gaussian_blur(y, blur[:, 0], max_sigma=s["blur_sigma"][1])
        y = y * flux[:, :, None, None]
        if s["noise"][1] > 0:
            gen = torch.Generator(device=dev).manual_seed(int(params["noise_seed"]))
            eps = torch.randn(y.shape, generator=gen, device=dev, dtype=y.dtype)
            y = y + eps * (k_noise * sigma * flux)[:, :, None, None]
        if s["band_dropout"] > 0:
            keep = torch.arange(c, device=dev)[None] != rest[:, :1].long()
            y = y * keep[:, :, None, None]
        return y


document(Augment, AUGMENT_SETTINGS)


class MultiViewAugment:
    """Two or more independently augmented views of each galaxy (BYOL, spectral contrastive, hybrid losses).

    Parameters
    ----------
    views : Augment, dict or sequence of them
        One augmentation used for every view, or one per view (e.g. BYOL's asymmetric blur); dicts are
        :meth:`Augment.to_dict` settings.
    n_views : int, optional
        Number of views when ``views`` is a single augmentation (default 2).
    seed : int, optional
        Seeds view ``i`` with ``seed + i`` (reproducible); ``None`` for random seeds.
    post : callable, optional
        Applied to every view after augmenting, e.g. :meth:`galzoo_fm.preprocess.Preprocessor.apply_stretch`
        when augmenting fluxes.

    Examples
    --------
    >>> import torch
    >>> from galzoo_fm.training.augment import MultiViewAugment
    >>> v1, v2 = MultiViewAugment(n_views=2, seed=0)(torch.randn(4, 3, 32, 32))
    >>> v1.shape, bool((v1 != v2).any())
    (torch.Size([4, 3, 32, 32]), True)
    """

    def __init__(
        self,
        views: Augment | dict[str, Any] | Sequence[Augment | dict[str, Any]] | None = None,
        *,
        n_views: int | None = None,
        seed: int | None = None,
        post: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        if views is None or isinstance(views, Augment | dict):
            views = [views] * positive_int(2 if n_views is None else n_views, "n_views")
        elif n_views is not None and n_views != len(views):
            raise ValueError(f"n_views={n_views} but {len(views)} view augmentations were given")
        self.views: list[Augment] = []
        for i, v in enumerate(views):
            cfg = Augment().to_dict() if v is None else v.to_dict() if isinstance(v, Augment) else v
            self.views.append(Augment.from_dict(cfg, seed=None if seed is None else seed + i))
        self.post = post

    def __len__(self) -> int:
        return len(self.views)

    def __call__(self, images: torch.Tensor, *, noise_level: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``len(self)`` views of a batch.

        Parameters
        ----------
        images : torch.Tensor
            ``(N, C, H, W)`` floating point, on any device (the views stay there).
        noise_level : torch.Tensor, optional
            ``(N, C)`` noise of each image and band (e.g. the sky noise
            :meth:`~galzoo_fm.preprocess.Preprocessor.flux` measured); default :func:`estimate_noise` of
            ``images``, computed once for every view.

        Returns
        -------
        list of torch.Tensor
            ``len(self)`` tensors ``(N, C, size, size)``, each passed through ``post`` if given.
        """
        x = _check_tensor(images)
        if noise_level is None:
            level = estimate_noise(x)
        else:
            level = _check_level(noise_level, x)
        out = [aug(x, noise_level=level) for aug in self.views]
        return [self.post(v) for v in out] if self.post is not None else out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings of every view."""
        return {"format": FORMAT + ".multiview", "version": FORMAT_VERSION, "views": [v.to_dict() for v in self.views]}

    @classmethod
    def from_dict(cls, config: dict[str, Any], seed: int | None = None) -> MultiViewAugment:
        """Build from :meth:`to_dict` output."""
        if not isinstance(config, dict) or config.get("format") != FORMAT + ".multiview":
            raise ValueError(f"not galzoo_fm multi-view settings (expected format {FORMAT + '.multiview'!r})")
        return cls(config["views"], seed=seed)

    def reset(self, seed: int) -> None:
        """Restart every view's generator (view ``i`` from ``seed + i``)."""
        for i, v in enumerate(self.views):
            v.reset(seed + i)
