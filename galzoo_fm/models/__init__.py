"""The model stage: the :class:`Encoder` (a backbone, its preprocessing and its checkpoint folder),
batched inference, and the image backbones (:mod:`galzoo_fm.models.backbones`).

* :mod:`~galzoo_fm.models.encoder` — :class:`Encoder` (load/save, ``embed`` arrays, D4 averaging);
* :mod:`~galzoo_fm.models.checkpoint` — the checkpoint folder (``config.json`` + ``model.safetensors``);
* :mod:`~galzoo_fm.models.inference` — batched forward passes (device, autocast, channels-last).
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

# imported on first use: the encoder imports torch and timm
_WHERE = {"Encoder": "encoder"}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
