"""View generators for the trainer: ``views_fn(images, n_views, generator) -> list of tensors``.

With a ``[preprocess]`` table, training runs the same :class:`~galzoo_fm.preprocess.Preprocessor` as
embedding does (:class:`PreprocessViews`): a view is ``stretch(augment(flux(raw)))``, and with augmentation
switched off it is exactly ``pre(raw).images``, the tensor the model gets at inference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from galzoo_fm.training.augment import Augment, MultiViewAugment

__all__ = ["AugmentViews", "PreprocessViews"]


class AugmentViews:
    """Independently augmented views with :class:`galzoo_fm.training.augment.MultiViewAugment`, on the batch's device.

    Each call draws one seed from the trainer's generator and restarts the augmentations from it, so the
    views depend only on that generator: a resumed run, which restores the generator, draws the same
    views as an uninterrupted one.

    Parameters
    ----------
    settings : dict, optional
        :class:`~galzoo_fm.training.augment.Augment` settings shared by every view (the ``[augment]`` table).
    post : callable, optional
        Applied to each view after augmenting (e.g. a stretch).
    """

    def __init__(self, settings: dict[str, Any] | None = None, post: Callable[[Tensor], Tensor] | None = None):

        self.settings = dict(settings or {})
        try:
            self._prototype = Augment(seed=0, **self.settings)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"[augment]: {exc}") from None
        self.post = post
        self._multi = None

    @property
    def output_size(self) -> int | None:
        """Side of the views in pixels (``None``: the input's)."""
        return self._prototype.settings["size"]

    def __call__(self, images: Tensor, n_views: int, generator: torch.Generator, *,
                 noise_level: Tensor | None = None) -> list[Tensor]:
        """``n_views`` augmented views of ``images`` ``(N, C, H, W)``.

        ``noise_level`` ``(N, C)``: each image's noise per band, the unit of the added noise (default: estimated
        from the images, :func:`~galzoo_fm.training.augment.estimate_noise`).
        """

        if self._multi is None or len(self._multi) != n_views:
            self._multi = MultiViewAugment(self._prototype, n_views=n_views, seed=0, post=self.post)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self._multi.reset(seed)
        return self._multi(images, noise_level=noise_level)


class PreprocessViews:
    """Training views through the inference preprocessing: ``finish(augment(flux(raw)))``, on the batch's device.

    For a raw batch ``x`` (survey flux units, the dataset's bands and pixel scale), ``r = pre.flux(x)`` gives
    the model-sized, background-subtracted fluxes; each view is ``pre.finish(r, images=augment(r.images)).images``
    (stretch, clip). The augmentation's noise unit is the robust noise of those fluxes
    (:func:`~galzoo_fm.training.augment.estimate_noise`, per *output* pixel: the sky noise ``r.noise`` is per
    input pixel and, for a galaxy filling the cutout, inflated by its light).
    Without augmentation every view is ``pre(x).images``, exactly what
    :func:`~galzoo_fm.embedding.embed_catalog` gives the model.

    Parameters
    ----------
    pre : galzoo_fm.preprocess.Preprocessor
        The pipeline (saved with the encoder).
    augment : AugmentViews, optional
        Augmentation of the fluxes; ``None``: no augmentation.
    bands : list of str, optional
        Band names of the raw channels (default: ``pre``'s ``input_bands``).
    pixel_scale : float, optional
        Arcsec per raw pixel (default: ``pre``'s ``input_pixel_scale``).

    Raises
    ------
    ValueError
        ``pre`` appends a mask channel and ``augment`` is given (the mask would not follow the geometric
        augmentations), or ``augment`` makes views of another size than ``pre.image_size``.
    """

    def __init__(self, pre: Any, augment: AugmentViews | None = None, *, bands: list[str] | None = None,
                 pixel_scale: float | None = None):
        settings = pre.settings
        if augment is not None and settings["mask_channel"]:
            raise ValueError("[preprocess] mask_channel = true cannot be combined with augmentation: the mask "
                             "channel is not transformed with the augmented fluxes. Set [augment] enabled = false "
                             "or mask_channel = false")
        if augment is not None and augment.output_size not in (None, pre.image_size):
            raise ValueError(f"[augment] size = {augment.output_size} differs from [preprocess] image_size = "
                             f"{pre.image_size}: the model would be trained and used at different sizes; remove "
                             "[augment] size (the views are image_size pixels)")
        self.pre = pre
        self.augment = augment
        self.bands = None if bands is None else list(bands)
        self.pixel_scale = pixel_scale

    @property
    def output_size(self) -> int:
        """Side of the views in pixels (the preprocessing's ``image_size``)."""
        return self.pre.image_size

    def flux(self, images: Tensor) -> Any:
        """:meth:`~galzoo_fm.preprocess.Preprocessor.flux` of a raw batch ``(N, C_raw, H, W)`` (on its device)."""
        return self.pre.flux(images, bands=self.bands, pixel_scale=self.pixel_scale)

    def __call__(self, images: Tensor, n_views: int, generator: torch.Generator) -> list[Tensor]:
        """``n_views`` tensors ``(N, C_out, S, S)`` from a raw batch ``images`` ``(N, C_raw, H, W)``."""
        r = self.flux(images)
        if self.augment is None:
            return [self.pre.finish(r).images] * n_views
        fluxes = self.augment(r.images, n_views, generator)
        return [self.pre.finish(r, images=f).images for f in fluxes]
