"""The :class:`Preprocessor`: survey cutouts in, model-ready arrays out, with settings saved as JSON."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from galzoo_fm._utils.settings import document
from galzoo_fm.preprocess.bands import band_mapping, check_band_names
from galzoo_fm.preprocess.flags import BAD_FLAGS, PreprocessFlag, describe_flags
from galzoo_fm.preprocess.geometry import resample_images
from galzoo_fm.preprocess.settings import PREPROCESS_SETTINGS, pixel_scale_value, preset_settings, resolve_settings
from galzoo_fm.preprocess.sources import detection_images, find_central_sources, measure_centroids, replace_neighbours
from galzoo_fm.preprocess.steps import _background2d, asinh_stretch, subsample_step
from galzoo_fm.preprocess.torch_steps import any_band, clean_batch, resample_shared, sky_batch

__all__ = ["FORMAT", "PreprocessResult", "Preprocessor", "check_for_encoder"]

#: The ``format`` key of :meth:`Preprocessor.to_dict`.
FORMAT = "galzoo_fm.preprocess"
FORMAT_VERSION = 1
_DEFAULTS: dict[str, Any] = {k: spec.default for k, spec in PREPROCESS_SETTINGS.items()}
#: settings added after version 1 was first written: written only when they differ from their declared
#: default, so that a pipeline without them saves exactly as before (and older galzoo_fm versions read it)
_WRITTEN_WHEN_SET = {k: _DEFAULTS[k] for k in ("input_scale", "crop_fraction")}


@dataclass
class PreprocessResult:
    """What :class:`Preprocessor` returns for a batch of ``N`` cutouts.

    NumPy arrays for a NumPy input; torch tensors on the input's device for a tensor input (``shifts`` stays
    on the CPU). :meth:`numpy` converts.

    Attributes
    ----------
    images : numpy.ndarray or torch.Tensor
        float32 ``(N, C_out, S, S)``: model-ready images (``C_out`` = model bands, plus one if
        ``mask_channel``); background-subtracted fluxes ``(N, C_model, S, S)`` from :meth:`Preprocessor.flux`.
    flags : numpy.ndarray or torch.Tensor
        int32 ``(N,)``: :class:`PreprocessFlag` bits.
    mask : numpy.ndarray or torch.Tensor
        float32 ``(N, 1, S, S)``: fraction of each output pixel that came from filled (non-finite, masked or
        neighbour) input pixels.
    background : numpy.ndarray or torch.Tensor
        float32 ``(N, C_model)``: the mean sky level subtracted from each model band (input units).
    noise : numpy.ndarray or torch.Tensor
        float32 ``(N, C_model)``: sky noise per band, per input pixel, after background subtraction.
    shifts : numpy.ndarray or torch.Tensor
        float64 ``(N, 2)``: ``(dy, dx)`` recentring offset in input pixels (0 when not recentred).
    """

    images: np.ndarray | torch.Tensor
    flags: np.ndarray | torch.Tensor
    mask: np.ndarray | torch.Tensor
    background: np.ndarray | torch.Tensor
    noise: np.ndarray | torch.Tensor
    shifts: np.ndarray | torch.Tensor

    @property
    def ok(self) -> np.ndarray | torch.Tensor:
        """bool ``(N,)``: no bit of :data:`~galzoo_fm.preprocess.BAD_FLAGS` is set."""
        return (self.flags & int(BAD_FLAGS)) == 0

    def flag_names(self) -> list[list[str]]:
        """The names of each galaxy's flags."""
        flags = self.flags.cpu().numpy() if isinstance(self.flags, torch.Tensor) else self.flags
        return describe_flags(np.asarray(flags))  # type: ignore[return-value]

    def numpy(self) -> PreprocessResult:
        """The same result as NumPy arrays (copied from the device when needed)."""
        def conv(v, dtype):
            v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
            return np.ascontiguousarray(v, dtype=dtype)

        return PreprocessResult(conv(self.images, np.float32), conv(self.flags, np.int32),
                                conv(self.mask, np.float32), conv(self.background, np.float32),
                                conv(self.noise, np.float32), conv(self.shifts, np.float64))


class Preprocessor:
    """A configurable, serialisable preprocessing pipeline for batches of multi-band cutouts.

    Steps, in order (each vectorised over the batch unless noted):

    1. **Bands**: select and reorder the input bands into the model's ``bands``
       (:func:`~galzoo_fm.preprocess.band_mapping`, rule ``missing_band``).
    2. **Clean**: NaN/inf/masked pixels set to the sky level and recorded in ``mask``; empty, constant and
       saturated cutouts flagged (:func:`~galzoo_fm.preprocess.clean_images`).
    3. **Background**: subtract the sigma-clipped level, or a ``Background2D`` map
       (:func:`~galzoo_fm.preprocess.estimate_background`).
    4. **Neighbours** (optional, photutils, per image): segment + deblend, keep the central source, replace the
       others (:func:`~galzoo_fm.preprocess.replace_neighbours`).
    5. **Recentre** (optional, photutils, per image): shift to the central source's centroid.
    6. **Geometry**: resample to ``image_size`` pixels of ``pixel_scale`` arcsec, whatever the input's pixel
       scale (:func:`~galzoo_fm.preprocess.resample_images`).
    7. **Stretch**: per-band arcsinh with softening ``softening`` and ``dynamic_range``, then ``clip``
       (:func:`~galzoo_fm.preprocess.asinh_stretch`).

    Parameters
    ----------
    bands : list of str
        The model's channels, in order (e.g. ``["g", "r", "z"]``).
    {settings}

    Examples
    --------
    >>> from galzoo_fm.embedding.images import read_image_set
    >>> from galzoo_fm.preprocess import Preprocessor
    >>> demo = read_image_set()
    >>> pre = Preprocessor(["g", "r", "z"], survey="legacy", input_bands=demo.bands, image_size=48,
    ...                    pixel_scale=0.262)
    >>> result = pre(demo.images)
    >>> result.images.shape, result.flags.tolist()[:3]
    ((24, 3, 48, 48), [0, 0, 0])
    >>> Preprocessor.from_dict(pre.to_dict()) == pre
    True
    """

    def __init__(self, bands: list[str], **settings: Any):
        self._settings = resolve_settings(bands, settings)
        self._consts: dict[Any, Any] = {}  # small constant tensors per device (softening, band mapping)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Preprocessor:
        """The pipeline of a named convention (:data:`~galzoo_fm.preprocess.PREPROCESS_PRESETS`).

        Parameters
        ----------
        name : str
            A preset name, e.g. ``"zoobot"``: RGB ``(N, 3, H, W)`` images of values 0-255 (uint8, or float in
            that range) to [0, 1], the central ``1/1.2`` resized to 224 pixels, no normalisation.
        **overrides
            Settings that replace the preset's (``bands`` included), e.g. ``image_size=300``.

        Returns
        -------
        Preprocessor
            An ordinary pipeline: :meth:`to_dict` records every setting, so an encoder saved with it
            records the convention.

        Raises
        ------
        ValueError
            An unknown preset name.

        Examples
        --------
        >>> pre = Preprocessor.preset("zoobot")
        >>> pre.bands, pre.image_size, pre.settings["crop_fraction"] == 1 / 1.2
        (['R', 'G', 'B'], 224, True)
        """
        settings = preset_settings(name, **overrides)
        return cls(settings.pop("bands"), **settings)

    @property
    def settings(self) -> dict[str, Any]:
        """A copy of the resolved settings (every value explicit, survey defaults filled in)."""
        return self.to_dict()

    @property
    def bands(self) -> list[str]:
        """The model's bands, in channel order."""
        return list(self._settings["bands"])

    @property
    def n_channels(self) -> int:
        """Channels of the output images (bands, plus the mask channel if enabled)."""
        return len(self._settings["bands"]) + int(self._settings["mask_channel"])

    @property
    def image_size(self) -> int:
        """Output side in pixels."""
        return self._settings["image_size"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings, with ``format`` and ``version`` keys; inverse of :meth:`from_dict`."""
        out = {"format": FORMAT, "version": FORMAT_VERSION}
        for key, value in self._settings.items():
            if key in _WRITTEN_WHEN_SET and value == _WRITTEN_WHEN_SET[key]:
                continue  # a setting newer than version 1, at its default: left out, as version 1 wrote it
            out[key] = list(value) if isinstance(value, list) else value
        return out

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> Preprocessor:
        """Rebuild a pipeline from :meth:`to_dict` output (e.g. an encoder checkpoint's ``preprocessing``)."""
        if not isinstance(config, dict):
            raise TypeError(f"preprocessing settings must be a dict, got {type(config).__name__}")
        if config.get("format") != FORMAT:
            raise ValueError(f"not galzoo_fm preprocessing settings (format {config.get('format')!r}, "
                             f"expected {FORMAT!r}): {config!r}")
        if config.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported preprocessing settings version {config.get('version')!r} "
                             f"(this galzoo_fm reads version {FORMAT_VERSION})")
        kwargs = {k: v for k, v in config.items() if k not in ("format", "version", "bands")}
        if "bands" not in config:
            raise ValueError("preprocessing settings lack 'bands'")
        return cls(config["bands"], **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preprocessor) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        s = self._settings
        changed = ", ".join(f"{k}={s[k]!r}" for k in _DEFAULTS if s[k] != _DEFAULTS[k])
        return f"Preprocessor({s['bands']!r}{', ' + changed if changed else ''})"

    # ------------------------------------------------------------ running
    def _inputs(self, images: Any, bands: Any, pixel_scale: Any) -> tuple[torch.Tensor, bool, list[str], float | None]:
        is_numpy = not isinstance(images, torch.Tensor)
        if is_numpy:
            if not isinstance(images, np.ndarray):
                raise TypeError(
                    f"images must be a numpy.ndarray or torch.Tensor (N, C, H, W), got {type(images).__name__}")
            if images.dtype.kind not in "fiu":
                raise TypeError(f"images must have a real numeric dtype, got {images.dtype}")
        elif images.is_complex() or images.dtype == torch.bool:
            raise TypeError(f"images must have a real numeric dtype, got {images.dtype}")
        if images.ndim != 4:
            hint = "; for one cutout use images[None]" if images.ndim == 3 else ""
            raise ValueError(
                f"images must have shape (N, C, H, W), got rank {images.ndim} shape {tuple(images.shape)}{hint}")
        bands = self._settings["input_bands"] if bands is None else check_band_names(bands, "bands")
        if bands is None:
            raise ValueError("the input's band names are unknown: pass bands=[...] or set input_bands/survey")
        if len(bands) != images.shape[1]:
            raise ValueError(f"images have {images.shape[1]} channels but {len(bands)} band names were given: {bands}")
        scale = (self._settings["input_pixel_scale"] if pixel_scale is None
                 else pixel_scale_value(pixel_scale, "pixel_scale"))
        if self._settings["pixel_scale"] is not None and scale is None:
            raise ValueError("the input pixel scale is unknown: pass pixel_scale= (arcsec/pixel) or set "
                             "input_pixel_scale/survey")
        if is_numpy:
            arr = images if images.dtype == np.float32 else images.astype(np.float32)
            with warnings.catch_warnings():  # read-only memory maps: only read (every step makes new tensors)
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                x = torch.from_numpy(np.ascontiguousarray(arr))
        else:
            x = images.detach()
            x = x if x.dtype == torch.float32 else x.float()
        return x, is_numpy, bands, scale

    def __call__(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        bands: list[str] | None = None,
        pixel_scale: float | None = None,
        mask: np.ndarray | torch.Tensor | None = None,
    ) -> PreprocessResult:
        """Run the whole pipeline on a batch: :meth:`flux`, then :meth:`finish`.

        One implementation in torch serves every path (training views, evaluation, embedding): a NumPy
        batch runs on CPU tensors and comes back as NumPy arrays; a tensor batch runs on its own device
        (CUDA included) and comes back as tensors there.

        Parameters
        ----------
        images : numpy.ndarray or torch.Tensor
            ``(N, C, H, W)`` cutouts in the survey's flux units (nanomaggies for the survey defaults).
        bands : list of str, optional
            The ``C`` input band names (default ``input_bands``).
        pixel_scale : float, optional
            Input arcsec/pixel (default ``input_pixel_scale``).
        mask : numpy.ndarray or torch.Tensor, optional
            bool, broadcastable to ``images``: extra pixels to ignore.

        Returns
        -------
        PreprocessResult

        Raises
        ------
        TypeError
            ``images`` is not an array of real numbers.
        ValueError
            Wrong rank, a band count that does not match the band names, unknown bands, a missing band with
            ``missing_band="error"``, or a pixel scale that is not positive.
        """
        return self.finish(self.flux(images, bands=bands, pixel_scale=pixel_scale, mask=mask))

    def flux(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        bands: list[str] | None = None,
        pixel_scale: float | None = None,
        mask: np.ndarray | torch.Tensor | None = None,
    ) -> PreprocessResult:
        """Steps 1-6 (bands, clean, background, neighbours, recentre, geometry): model-sized,
        background-subtracted fluxes, before the stretch.

        Training augments these fluxes (geometry, blur, flux factors, noise) and then calls :meth:`finish`;
        with augmentation off the tensor a model trains on is exactly the one :meth:`__call__` gives at
        inference. Parameters as :meth:`__call__`; ``images`` of the result holds
        ``(N, C_model, S, S)`` fluxes.
        """
        s = self._settings
        x, is_numpy, in_bands, scale = self._inputs(images, bands, pixel_scale)
        if s["input_scale"] != 1.0:
            x = x * s["input_scale"]  # a new tensor: the input is never written
        dev = x.device
        index = band_mapping(s["bands"], in_bands, s["missing_band"])
        used = sorted(set(index[index >= 0].tolist()))
        take = None if used == list(range(x.shape[1])) else self._device_index(dev, used)
        if take is not None:
            x = x[:, take]
        if mask is not None:
            mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask, device=dev)
            mask = mask.to(torch.bool).expand(images.shape)
            mask = mask if take is None else mask[:, take]
        x, bad, flags = clean_batch(x, mask, saturation=s["saturation"], plateau_pixels=s["plateau_pixels"],
                                    max_masked_fraction=s["max_masked_fraction"])
        n, _, h, w = x.shape
        level, noise = sky_batch(x, bad, step=subsample_step((h, w), s["background_pixels"]),
                                 sigma=s["background_sigma"], maxiters=s["background_maxiters"])
        if s["background"] == "background2d":  # photutils, on the host (see docs/preprocessing.rst)
            level_map, noise = self._background2d(x, bad, level, noise)
            x = x - level_map
            level = level_map.mean(dim=(2, 3))
        elif s["background"] == "sigma_clip":
            x = x - level[:, :, None, None]  # a new tensor: the input is never written
        else:
            level = torch.zeros_like(level)
            x = x.clone()
        if bad is not None:
            x.masked_fill_(bad, 0.0)
        bad_any = None if bad is None else any_band(bad)
        shifts = None
        if n and (s["neighbours"] != "none" or s["recentre"] != "none"):
            x, bad_any, shifts, more = self._sources_torch(x, noise, bad_any)
            flags |= more
        x, noise, level = self._model_channels(x, noise, level, index, used)
        if any(b not in in_bands for b in s["bands"]):  # filled by the missing_band rule
            flags |= int(PreprocessFlag.MISSING_BAND)
        out, mask_out, truncated = self._geometry(x, bad_any, shifts, scale)
        if isinstance(truncated, bool):  # the same for the whole batch (no per-image shift): no copy to the device
            if truncated:
                flags |= int(PreprocessFlag.TRUNCATED)
        else:  # per-image shifts come from the photutils steps, on the host anyway
            flags |= truncated.to(dev).int() * int(PreprocessFlag.TRUNCATED)
        shifts = torch.zeros((n, 2), dtype=torch.float64) if shifts is None else shifts
        result = PreprocessResult(out, flags, mask_out, level, noise, shifts)
        return result.numpy() if is_numpy else result

    def finish(self, result: PreprocessResult, images: np.ndarray | torch.Tensor | None = None) -> PreprocessResult:
        """Step 7 (stretch and clip) and the optional mask channel, on a :meth:`flux` result.

        Parameters
        ----------
        result : PreprocessResult
            From :meth:`flux`.
        images : numpy.ndarray or torch.Tensor, optional
            Fluxes to finish instead of ``result.images`` (e.g. an augmented view of them), same shape.

        Returns
        -------
        PreprocessResult
            ``result`` with model-ready ``images``.
        """
        s = self._settings
        x = result.images if images is None else images
        if s["stretch"] == "asinh":
            x = self.apply_stretch(x, noise=result.noise)
        if s["mask_channel"]:
            cat = torch.cat if isinstance(x, torch.Tensor) else np.concatenate
            x = cat([x, result.mask], 1)
        return dataclasses.replace(result, images=x)

    def _background2d(self, x, bad, level, noise):
        s = self._settings
        xn, bn = x.cpu().numpy(), None if bad is None else bad.cpu().numpy()
        level_map, noise_np = _background2d(xn, bn, level.cpu().numpy(), noise.cpu().numpy().copy(),
                                            sigma=s["background_sigma"], maxiters=s["background_maxiters"],
                                            box_size=s["background_box"])
        return torch.from_numpy(np.ascontiguousarray(level_map)).to(x.device), torch.from_numpy(noise_np).to(x.device)

    def _sources_torch(self, x, noise, bad_any):
        dev = x.device
        n, _, h, w = x.shape
        bad_np = np.zeros((n, h, w), bool) if bad_any is None else bad_any.cpu().numpy()
        xn, bad_np, shifts, more = self._sources(x.cpu().numpy(), noise.cpu().numpy(), bad_np)
        return (torch.from_numpy(np.ascontiguousarray(xn, np.float32)).to(dev), torch.from_numpy(bad_np).to(dev),
                torch.from_numpy(shifts), torch.from_numpy(more).to(dev))

    def _device_index(self, device: torch.device, positions: list[int]) -> torch.Tensor:
        """A channel index tensor on ``device``, built once: indexing a CUDA tensor with a Python list would
        copy the list to the device on every batch."""
        key = (str(device), "index", tuple(positions))
        if key not in self._consts:
            self._consts[key] = torch.tensor(positions, device=device)
        return self._consts[key]

    def _model_channels(self, x, noise, level, index, used):
        """The model's channels from the used input channels (zero for a band filled with zeros)."""
        pos = {c: k for k, c in enumerate(used)}
        src = [pos.get(int(c), -1) for c in index]
        if src == list(range(x.shape[1])):  # model bands = the used inputs, in order
            return x, noise, level
        take = self._device_index(x.device, [max(j, 0) for j in src])
        key = (str(x.device), "keep", tuple(src))
        if key not in self._consts:
            self._consts[key] = torch.tensor([j >= 0 for j in src], device=x.device, dtype=x.dtype)
        keep = self._consts[key]
        return (x[:, take] * keep[None, :, None, None], noise[:, take] * keep, level[:, take] * keep)

    def _sources(self, x, noise, bad_any):
        s = self._settings
        det = detection_images(x, noise)
        need_seg = s["neighbours"] != "none" or s["recentre"] == "com"
        segments = central = None
        flags = np.zeros(len(x), dtype=np.int32)
        if need_seg:
            segments, central = find_central_sources(
                det, threshold=s["detect_threshold"], n_pixels=s["detect_npixels"], deblend=s["deblend"],
                contrast=s["deblend_contrast"], central_radius=s["central_radius"])
            flags[central == 0] |= PreprocessFlag.NO_CENTRAL_SOURCE
        if s["neighbours"] != "none":
            x, replaced = replace_neighbours(x, segments, central, noise, mode=s["neighbours"],
                                             dilate=s["neighbour_dilate"], rng=np.random.default_rng(s["seed"]))
            bad_any = bad_any | replaced
        shifts = np.zeros((len(x), 2))
        if s["recentre"] != "none":
            shifts, more = measure_centroids(det, segments, central, method=s["recentre"], max_shift=s["max_shift"])
            flags |= more
        return x, bad_any, shifts, flags

    def _step(self, h: int, w: int, scale: float | None) -> float:
        s = self._settings
        return min(h, w) / s["image_size"] if s["pixel_scale"] is None else s["pixel_scale"] / scale

    def _geometry(self, model, bad_any, shifts, scale):
        s = self._settings
        if s["crop_fraction"] != 1.0:  # the centre crop first, placed as torchvision's center_crop places it
            model, bad_any = self._centre_crop(model, bad_any)
        n, c, h, w = model.shape
        size = s["image_size"]
        dev = model.device
        step = self._step(h, w, scale)
        no_trunc = False
        if n == 0:
            return (torch.zeros((0, c, size, size), device=dev), torch.zeros((0, 1, size, size), device=dev),
                    no_trunc)
        if shifts is None or not bool(shifts.any()):
            if step == 1.0 and h == w == size:  # identity
                mask = (torch.zeros((n, 1, size, size), device=dev) if bad_any is None
                        else bad_any[:, None].float())
                return model, mask, no_trunc
            out, truncated = resample_shared(model, size, step, s["interpolation"])
            mask = (torch.zeros((n, 1, size, size), device=dev) if bad_any is None
                    else resample_shared(bad_any[:, None].float(), size, step, s["interpolation"])[0])
            return out, mask, bool(truncated)
        bad_f = torch.zeros((n, 1, h, w), device=dev) if bad_any is None else bad_any[:, None].float()
        out, truncated = resample_images(torch.cat([model, bad_f], 1), size, step, shifts.numpy(),
                                         s["interpolation"])
        return out[:, :-1], out[:, -1:], torch.from_numpy(truncated)

    def _centre_crop(self, model, bad_any):
        """The central ``int(crop_fraction * min(H, W))`` square: top/left offsets ``round((H - side) / 2)``,
        as ``torchvision.transforms.functional.center_crop``."""
        h, w = model.shape[-2:]
        side = max(1, int(self._settings["crop_fraction"] * min(h, w)))
        top, left = round((h - side) / 2.0), round((w - side) / 2.0)
        crop = (slice(top, top + side), slice(left, left + side))
        return model[..., crop[0], crop[1]], None if bad_any is None else bad_any[..., crop[0], crop[1]]

    def apply_stretch(
        self, images: np.ndarray | torch.Tensor, noise: np.ndarray | torch.Tensor | None = None
    ) -> np.ndarray | torch.Tensor:
        """The pipeline's stretch and clip alone, on background-subtracted fluxes (NumPy, or a tensor on any
        device).

        Parameters
        ----------
        images : numpy.ndarray or torch.Tensor
            ``(N, C, H, W)`` with ``C`` = the model bands.
        noise : numpy.ndarray or torch.Tensor, optional
            ``(N, C)`` per-image noise, needed when ``softening="noise"``.
        """
        s = self._settings
        if s["stretch"] == "none":
            return images
        soft = s["softening"]
        if soft == "noise":
            if noise is None:
                raise ValueError("softening='noise' needs the per-image noise (PreprocessResult.noise)")
            soft = noise
        elif isinstance(images, torch.Tensor):  # the per-band softening once per device: no copy per batch
            key = str(images.device)
            if key not in self._consts:
                self._consts[key] = torch.tensor(soft, dtype=torch.float32, device=images.device)
            soft = self._consts[key]
        return asinh_stretch(images, soft, s["dynamic_range"], None if s["clip"] is None else tuple(s["clip"]))


document(Preprocessor, PREPROCESS_SETTINGS)


def check_for_encoder(pre: Preprocessor, in_chans: int, image_size: int, bands: Any = None) -> None:
    """``ValueError`` unless ``pre`` makes an encoder's input: ``in_chans`` channels (named ``bands`` when
    given) of ``image_size`` pixels."""
    if bands is not None and [str(b) for b in bands] != pre.bands:
        raise ValueError(f"the preprocessing makes bands {pre.bands} but the encoder's bands are {list(bands)}")
    if pre.n_channels != in_chans:
        raise ValueError(
            f"the preprocessing makes {pre.n_channels} channels ({pre.bands}"
            f"{' + mask' if pre.n_channels > len(pre.bands) else ''}) but the encoder has in_chans={in_chans}"
        )
    if pre.image_size != image_size:
        raise ValueError(f"the preprocessing makes {pre.image_size}-pixel images but the encoder's image_size is "
                         f"{image_size}")
