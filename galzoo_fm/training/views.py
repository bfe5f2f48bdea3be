"""View generators for the trainer: ``views_fn(images, n_views, generator) -> list of tensors``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["AugmentViews"]


class AugmentViews:
    """Independently augmented views with :class:`galzoo_fm.augment.MultiViewAugment`, on the batch's device.

    Each call draws one seed from the trainer's generator and restarts the augmentations from it, so the
    views depend only on that generator: a resumed run, which restores the generator, draws the same
    views as an uninterrupted one.

    Parameters
    ----------
    settings : dict, optional
        :class:`~galzoo_fm.augment.Augment` settings shared by every view (the ``[augment]`` table).
    post : callable, optional
        Applied to each view after augmenting (e.g. a stretch).
    """

    def __init__(self, settings: dict[str, Any] | None = None, post: Callable[[Tensor], Tensor] | None = None):
        from ..augment import Augment

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

    def __call__(self, images: Tensor, n_views: int, generator: torch.Generator) -> list[Tensor]:
        from ..augment import MultiViewAugment

        if self._multi is None or len(self._multi) != n_views:
            self._multi = MultiViewAugment(self._prototype, n_views=n_views, seed=0, post=self.post)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self._multi.reset(seed)
        return self._multi(images)
